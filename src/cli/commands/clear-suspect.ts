/**
 * `kpfleet clear-suspect`: after a human looked at why a host went down while kpfleet was loading
 * a patch (the crash guard, issue 15 point 4), removes that record so the planner loads the patch
 * there again. Reads the records as `facts` does (no root), shows what it will clear, asks (only
 * `yes` goes on, as for apply) on a terminal (`--yes` without one), then removes each record as root, only if it is still the
 * one shown (the same boot id), and checks it is gone.
 */
import { LOAD_RECORD_DIR } from '../../host-paths.ts';
import type { HostConnection } from '../../connection.ts';
import { AppError, ExitCode, UsageError } from '../../errors.ts';
import type { SuspectLoad } from '../../facts/model.ts';
import { suspectSentence } from '../../plan/plan.ts';
import { renderError } from '../../report/errors.ts';
import { oneLine } from '../../report/safe-text.ts';
import { styleFor } from '../../report/style.ts';
import { assertModuleName, sh } from '../../transport/shell.ts';
import type { Transport } from '../../transport/transport.ts';
import type { CliIo } from '../io.ts';
import { confirmed } from '../prompt.ts';
import { readFleetFacts } from '../../workflow/plan.ts';
import { parseForks } from '../options.ts';
import { connectorForCli, exitCodeOf } from './facts.ts';
import { selectHostsForCli } from './project.ts';

export interface ClearSuspectOptions {
  loginUser?: string;
  config?: string;
  trustSshConfig?: boolean;
  limit?: string;
  forks?: string;
  patch?: string;
  yes?: boolean;
}

const PATCH_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const BOOT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Removes one record if it still holds that boot id, then prints what is left of it. */
function clearRecordScript(s: SuspectLoad): string {
  assertModuleName(s.module);
  if (!BOOT_ID.test(s.bootId)) throw new Error(`invalid boot id ${JSON.stringify(s.bootId)}`);
  const file = `${LOAD_RECORD_DIR}/${s.module}`;
  return (
    sh`if grep -qsx ${`boot=${s.bootId}`} ${file}; then rm -f -- ${file} && sync; fi; ` +
    sh`if grep -qsx ${`boot=${s.bootId}`} ${file}; then echo still; else echo gone; fi`
  );
}

export async function clearSuspectCommand(opts: ClearSuspectOptions, io: CliIo): Promise<number> {
  if (opts.limit === undefined || opts.limit.trim() === '') {
    throw new UsageError('clear-suspect needs --limit: the hosts someone has looked at', {
      hint: 'kpfleet clear-suspect --limit web03 [--patch NAME]',
    });
  }
  if (opts.patch !== undefined && !PATCH_NAME.test(opts.patch)) {
    throw new UsageError(`--patch ${JSON.stringify(opts.patch)} is not a patch name`);
  }
  const selected = selectHostsForCli(opts, io);
  const open = connectorForCli(io);
  const out = styleFor(io.stdout, io.env);
  const err = styleFor(io.stderr, io.env);
  const forks = parseForks(opts.forks, selected.config.rollout.forks);
  const results = await readFleetFacts(selected, forks, open);
  const codes: number[] = [];
  const targets: { conn: HostConnection; suspects: SuspectLoad[] }[] = [];
  for (const r of results) {
    if (!r.ok) {
      io.stderr.write(renderError(r.error, err));
      codes.push(r.error.exitCode);
      continue;
    }
    const suspects = (r.facts.suspects ?? []).filter(
      (s) => opts.patch === undefined || s.patch === opts.patch,
    );
    const conn = selected.hosts.find((h) => h.host === r.host);
    if (suspects.length > 0 && conn) targets.push({ conn, suspects });
  }
  const count = targets.reduce((n, t) => n + t.suspects.length, 0);
  if (count === 0) {
    io.stdout.write(
      `No patch is suspected of crashing ${opts.patch !== undefined ? `(${oneLine(opts.patch)}) ` : ''}on the selected hosts; nothing to clear.\n`,
    );
    return exitCodeOf(codes);
  }
  io.stdout.write('kpfleet will clear these records, and then load these patches there again:\n');
  for (const t of targets)
    for (const s of t.suspects)
      io.stdout.write(`  ${out.bold(oneLine(t.conn.host))}: ${oneLine(suspectSentence(s))}\n`);
  if (
    !(await confirmed(
      opts.yes,
      `Clear ${String(count)} record(s)? Only 'yes' is accepted: `,
      'clear-suspect changes hosts',
      io,
    ))
  ) {
    io.stderr.write('Nothing was cleared.\n');
    return exitCodeOf(codes);
  }
  for (const t of targets) {
    let transport: Transport | undefined;
    try {
      transport = await open(t.conn);
      for (const s of t.suspects) {
        const r = await transport.exec(clearRecordScript(s), {
          become: true,
          step: 'clear-suspect',
          timeoutMs: 60_000,
        });
        if (r.stdout.trim() !== 'gone') {
          throw new AppError(
            'E_CLEAR_SUSPECT',
            `the record of ${s.patch} in ${LOAD_RECORD_DIR} is still there (exit ${String(r.code)}: ${r.stderr.trim() || r.stdout.trim() || 'no output'})`,
            { host: t.conn.host, step: 'clear-suspect' },
          );
        }
        io.stdout.write(`${oneLine(t.conn.host)}: cleared ${oneLine(s.patch)}\n`);
      }
      codes.push(ExitCode.ok);
    } catch (e) {
      if (!(e instanceof AppError)) throw e;
      io.stderr.write(renderError(e, err));
      codes.push(e.exitCode);
    } finally {
      await transport?.close();
    }
  }
  return exitCodeOf(codes);
}
