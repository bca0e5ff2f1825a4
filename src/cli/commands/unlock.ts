/**
 * `kpfleet unlock --limit PATTERN`: shows who holds the lock of each matched host and, once
 * confirmed, ends the holder (src/apply/lock.ts). A lock dies with its run, so this is for a run
 * that is still alive but should not be (a hung controller, a network cut the lease has not
 * timed out yet) and for the lock folder an older kpfleet left.
 */
import { LEGACY_LOCK_DIR, RUN_INFO } from '../../host-paths.ts';
import type { LockHolder, LockState } from '../../apply/lock.ts';
import { lockStateScript, parseLockState, unlockScript } from '../../apply/lock.ts';
import { AppError, errorInfo, ExitCode, UsageError } from '../../errors.ts';
import { oneLine } from '../../report/safe-text.ts';
import { styleFor } from '../../report/style.ts';
import type { Transport } from '../../transport/transport.ts';
import { mapLimit } from '../../util/pool.ts';
import type { CliIo } from '../io.ts';
import { confirmed } from '../prompt.ts';
import { plural } from '../../util/text.ts';
import { parseForks } from '../options.ts';
import { connectorForCli, exitCodeOf } from './facts.ts';
import { selectHostsForCli } from './project.ts';

export interface UnlockOptions {
  config?: string;
  trustSshConfig?: boolean;
  limit?: string;
  forks?: string;
  loginUser?: string;
  yes?: boolean;
}

type HostLock =
  { host: string; ok: true; state: LockState } | { host: string; ok: false; error: AppError };

const STEP = { become: true, timeoutMs: 30_000 } as const;

function holderText(h: LockHolder): string {
  return oneLine(
    `${h.owner} since ${h.since} (run ${h.run}${h.pid !== '?' ? `, pid ${h.pid}` : ''}${h.boot !== '?' ? `, boot ${h.boot}` : ''})`,
  );
}

export async function unlockCommand(opts: UnlockOptions, io: CliIo): Promise<number> {
  if (opts.limit === undefined || opts.limit.trim() === '') {
    throw new UsageError('unlock needs --limit PATTERN: the hosts whose locks to look at');
  }
  const selected = selectHostsForCli(opts, io);
  const forks = parseForks(opts.forks, selected.config.rollout.forks);
  const open = connectorForCli(io);
  const out = styleFor(io.stdout, io.env);
  const transports = new Map<string, Transport>();
  try {
    const states = await mapLimit(selected.hosts, forks, async (h): Promise<HostLock> => {
      try {
        const t = await open(h);
        transports.set(h.host, t);
        const r = await t.exec(lockStateScript(), { ...STEP, step: 'lock state' });
        if (r.code !== 0)
          throw new AppError('E_LOCK', `reading the lock failed (exit ${String(r.code)})`, {
            host: h.host,
            step: 'lock state',
          });
        return { host: h.host, ok: true, state: parseLockState(r.stdout) };
      } catch (err) {
        const e =
          err instanceof AppError
            ? err
            : new AppError('E_LOCK', errorInfo(err).message, {
                host: h.host,
              });
        return { host: h.host, ok: false, error: e };
      }
    });
    const locked = states.filter(
      (s): s is HostLock & { ok: true } =>
        s.ok && (s.state.held !== undefined || s.state.legacy !== undefined),
    );
    for (const s of states) {
      if (!s.ok) {
        io.stdout.write(`${s.host}  ${out.red('error')}: ${oneLine(s.error.message)}\n`);
        continue;
      }
      const { held, legacy } = s.state;
      if (!held && !legacy) io.stdout.write(`${s.host}  free\n`);
      if (held) io.stdout.write(`${s.host}  ${out.yellow('locked')} by ${holderText(held)}\n`);
      if (legacy)
        io.stdout.write(
          `${s.host}  ${out.yellow('lock folder')} of an older kpfleet (${LEGACY_LOCK_DIR}) by ${holderText(legacy)}\n`,
        );
    }
    const errors = states.flatMap((s) => (s.ok ? [] : [s.error.exitCode]));
    if (locked.length === 0) {
      io.stdout.write('\nNo lock to end.\n');
      return exitCodeOf(errors);
    }
    if (
      !(await confirmed(
        opts.yes,
        `\nEnd the lock of ${plural(locked.length, 'host')}? A run still working there stops before its next change. Only 'yes' is accepted: `,
        "unlock ends other runs' locks",
        io,
      ))
    ) {
      io.stderr.write('Unlock cancelled; nothing was changed.\n');
      return ExitCode.ok;
    }
    const codes = await mapLimit(locked, forks, async (s): Promise<number> => {
      const t = transports.get(s.host);
      try {
        if (!t) throw new Error('no connection');
        const r = await t.exec(
          unlockScript(s.state.held?.run ?? '', s.state.legacy !== undefined),
          {
            ...STEP,
            step: 'unlock',
          },
        );
        const freed = r.code === 0 && r.stdout.includes('FREED');
        io.stdout.write(
          `${s.host}  ${freed ? out.green('unlocked') : `${out.red('still locked')}: the holder did not end (it may be another program's; look at ${RUN_INFO})`}\n`,
        );
        return freed ? ExitCode.ok : ExitCode.changeFailed;
      } catch (err) {
        io.stdout.write(`${s.host}  ${out.red('error')}: ${oneLine(errorInfo(err).message)}\n`);
        return err instanceof AppError ? err.exitCode : ExitCode.changeFailed;
      }
    });
    return exitCodeOf([...errors, ...codes]);
  } finally {
    await Promise.all([...transports.values()].map((t) => t.close().catch(() => undefined)));
  }
}
