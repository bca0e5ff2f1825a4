import { ExitCode } from '../../errors.ts';
import { gatherFleetFacts } from '../../facts/gather.ts';
import { factsJson, renderFacts } from '../../report/facts.ts';
import { styleFor } from '../../report/style.ts';
import { createSshConnector } from '../../transport/ssh/connect.ts';
import type { CliIo } from '../io.ts';
import { terminalPassphrase } from '../prompt.ts';
import { selectHostsForCli } from './project.ts';

export interface FactsOptions {
  config?: string;
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

export async function factsCommand(opts: FactsOptions, io: CliIo): Promise<number> {
  const { config, hosts } = selectHostsForCli(opts, io);
  const err = styleFor(io.stderr, io.env);
  const askPassphrase = terminalPassphrase();
  const open = createSshConnector({
    env: io.env,
    ...(askPassphrase ? { askPassphrase } : {}),
    onWarning: (w) => io.stderr.write(`${err.yellow('warning')}: ${w}\n`),
  });
  const forks = opts.forks !== undefined ? Number(opts.forks) : config.rollout.forks;
  const results = await gatherFleetFacts(hosts, open, { forks });
  if (opts.json === true) io.stdout.write(JSON.stringify(factsJson(results), null, 2) + '\n');
  else io.stdout.write(renderFacts(results, styleFor(io.stdout, io.env)) + '\n');
  return exitCodeOf(results.map((r) => (r.ok ? ExitCode.ok : r.error.exitCode)));
}
