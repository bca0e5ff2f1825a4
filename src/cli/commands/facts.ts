import { resolveDesired } from '../../desired/resolve.ts';
import { ExitCode } from '../../errors.ts';
import { rebootDue, suspectNotes } from '../../plan/plan.ts';
import { factsJson, renderFacts } from '../../report/facts.ts';
import { jsonWithoutSecrets, oneLine } from '../../report/safe-text.ts';
import { styleFor } from '../../report/style.ts';
import type { CliIo } from '../io.ts';
import { trackConnection } from '../signals.ts';
import { terminalPassphrase } from '../prompt.ts';
import type { OpenTransport } from '../../transport/transport.ts';
import { readFleetFacts } from '../../workflow/plan.ts';
import { parseForks } from '../options.ts';
import { selectHostsForCli } from './project.ts';

export interface FactsOptions {
  /** `--shard I/N`: only that shard's hosts (`inventory/shard.ts`). */
  shard?: string;
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

/**
 * How the CLI opens SSH connections: ssh -G settings, one key store with one passphrase prompt
 * on a terminal, one host-key policy, for the whole run (plan and apply share it). The SSH
 * transport (and ssh2) is loaded when the first host is opened: a run that contacts no host
 * (a saved plan refused, `plan merge`) never loads it.
 */
export function connectorForCli(io: CliIo): OpenTransport {
  const err = styleFor(io.stderr, io.env);
  const askPassphrase = terminalPassphrase();
  let connector: Promise<OpenTransport> | undefined;
  const ssh = (): Promise<OpenTransport> =>
    (connector ??= import('../../transport/ssh/connect.ts').then(({ createSshConnector }) =>
      createSshConnector({
        env: io.env,
        ...(askPassphrase ? { askPassphrase } : {}),
        onWarning: (w) => io.stderr.write(`${err.yellow('warning')}: ${oneLine(w)}\n`),
      }),
    ));
  // an interrupt outside apply closes what is open (signals.ts)
  return async (host) => trackConnection(await (await ssh())(host));
}

export async function factsCommand(opts: FactsOptions, io: CliIo): Promise<number> {
  const selected = selectHostsForCli(opts, io);
  const forks = parseForks(opts.forks, selected.config.rollout.forks);
  const results = await readFleetFacts(selected, forks, connectorForCli(io));
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
  // each host's manager setting, so that facts say which manager it uses and why
  const settings = new Map(
    resolveDesired(
      selected.config,
      selected.inventory,
      results.map((r) => r.host),
    ).hosts.map((d) => [d.host, d.manager]),
  );
  if (opts.json === true) {
    io.stdout.write(jsonWithoutSecrets(factsJson(results, notes, settings), 2) + '\n');
  } else io.stdout.write(renderFacts(results, styleFor(io.stdout, io.env), notes, settings) + '\n');
  return exitCodeOf(results.map((r) => (r.ok ? ExitCode.ok : r.error.exitCode)));
}
