import { ExitCode, UsageError } from '../../errors.ts';
import { gatherFleetFacts } from '../../facts/gather.ts';
import type { HostFactsResult } from '../../facts/gather.ts';
import { rebootDue, suspectNotes } from '../../plan/plan.ts';
import { factsJson, renderFacts } from '../../report/facts.ts';
import { oneLine } from '../../report/safe-text.ts';
import { styleFor } from '../../report/style.ts';
import { createSshConnector } from '../../transport/ssh/connect.ts';
import type { CliIo } from '../io.ts';
import { trackConnection } from '../signals.ts';
import { terminalPassphrase } from '../prompt.ts';
import type { SelectedHosts } from './project.ts';
import type { HostConnection } from '../../connection.ts';
import type { Transport } from '../../transport/transport.ts';
import { selectHostsForCli } from './project.ts';

export interface FactsOptions {
  /** `--login-user`: every host is logged in to as this user. */
  loginUser?: string;
  config?: string;
  trustSshConfig?: boolean;
  limit?: string;
  json?: boolean;
  forks?: string;
}

/** The exit code of a set of host results: unreachable (4) over failed (1) over ok (0). */
export function exitCodeOf(codes: readonly number[]): number {
  if (codes.includes(ExitCode.internal)) return ExitCode.internal;
  if (codes.includes(ExitCode.unreachable)) return ExitCode.unreachable;
  return codes.some((c) => c !== ExitCode.ok) ? ExitCode.changeFailed : ExitCode.ok;
}

/** `--forks`: a whole number from 1 to 1000; anything else is a usage error (exit 64). */
export function parseForks(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < 1 || n > 1000) {
    throw new UsageError(`--forks '${value}' is not a number of hosts from 1 to 1000`);
  }
  return n;
}

/**
 * How the CLI opens SSH connections: ssh -G settings, one key store with one passphrase prompt
 * on a terminal, one host-key policy, for the whole run (plan and apply share it).
 */
export function connectorForCli(io: CliIo): (host: HostConnection) => Promise<Transport> {
  const err = styleFor(io.stderr, io.env);
  const askPassphrase = terminalPassphrase();
  const open = createSshConnector({
    env: io.env,
    ...(askPassphrase ? { askPassphrase } : {}),
    onWarning: (w) => io.stderr.write(`${err.yellow('warning')}: ${oneLine(w)}\n`),
  });
  // an interrupt outside apply closes what is open (signals.ts)
  return async (host) => trackConnection(await open(host));
}

/** Facts of the selected hosts over SSH, `--forks` at a time. Shared by `facts` and `plan`. */
export async function readFleetFacts(
  selected: SelectedHosts,
  forksOption: string | undefined,
  io: CliIo,
  open: (host: HostConnection) => Promise<Transport> = connectorForCli(io),
): Promise<HostFactsResult[]> {
  const forks = parseForks(forksOption, selected.config.rollout.forks);
  return gatherFleetFacts(selected.hosts, open, { forks });
}

export async function factsCommand(opts: FactsOptions, io: CliIo): Promise<number> {
  const selected = selectHostsForCli(opts, io);
  const results = await readFleetFacts(selected, opts.forks, io);
  const now = Date.now();
  const { patches, rollout } = selected.config;
  const notes = new Map(
    results.flatMap((r) =>
      r.ok
        ? [
            [
              r.host,
              [...rebootDue(r.facts, patches, rollout, now), ...suspectNotes(r.facts, r.host)],
            ],
          ]
        : [],
    ),
  );
  if (opts.json === true) {
    io.stdout.write(JSON.stringify(factsJson(results, notes), null, 2) + '\n');
  } else io.stdout.write(renderFacts(results, styleFor(io.stdout, io.env), notes) + '\n');
  return exitCodeOf(results.map((r) => (r.ok ? ExitCode.ok : r.error.exitCode)));
}
