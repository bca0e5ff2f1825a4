/**
 * Gathering facts: the probe in one exec per host, parsed. Uses only the Transport interface.
 * A probe whose output does not parse is a per-host error that shows the text.
 */
import { AppError } from '../errors.ts';
import { mapLimit } from '../util/pool.ts';
import type { Transport } from '../transport/transport.ts';
import type { HostFacts } from './model.ts';
import { parseFacts } from './parse/facts.ts';
import { probeScript } from './probe.ts';

/**
 * A host's facts could not be used: `E_FACTS`, its output does not have the probe's shape;
 * `E_FACTS_FIELD`, a name or value in it is outside what kpfleet accepts (a kernel release over
 * 128 characters, a module name that is not one, more entries than a host has, …).
 */
export class FactsError extends AppError {
  /** The start of the output concerned (at most 2000 characters). */
  readonly text: string;
  constructor(message: string, options: { host: string; text: string; kind?: 'output' | 'field' }) {
    const field = options.kind === 'field';
    super(field ? 'E_FACTS_FIELD' : 'E_FACTS', message, {
      host: options.host,
      step: 'facts',
      hint: field
        ? 'the host reported a name or value kpfleet refuses to use (it never reaches a command); nothing was planned for this host. Look at it on the host'
        : 'the host answered with output kpfleet does not understand; nothing was planned for this host',
    });
    this.text = options.text.slice(0, 2000);
  }
}

/**
 * The probe in one exec. `prelude`: a command run first in the same exec, its output discarded
 * (apply removes its staging folder this way instead of in an exec of its own).
 */
export async function gatherFacts(
  transport: Transport,
  options: { timeoutMs?: number; prelude?: string | undefined } = {},
): Promise<HostFacts> {
  const { timeoutMs = 60_000, prelude } = options;
  const script =
    prelude === undefined ? probeScript() : `{ ${prelude}\n} >/dev/null 2>&1\n${probeScript()}`;
  const r = await transport.exec(script, { step: 'facts', timeoutMs });
  return factsFromOutput(transport.host, r.stdout, r.stderr);
}

/**
 * The facts in what the probe printed (alone in an exec, or after the lock's answer in its
 * session: apply/session.ts).
 * @throws FactsError when it does not have the probe's shape or holds what kpfleet refuses
 */
export function factsFromOutput(host: string, stdout: string, stderr: string): HostFacts {
  const parsed = parseFacts(stdout);
  if (!parsed.ok) {
    throw new FactsError(
      `${parsed.error}${stderr ? ` (stderr: ${stderr.trim().slice(0, 500)})` : ''}`,
      { host, text: parsed.text, kind: parsed.kind },
    );
  }
  return parsed.facts;
}

export type HostFactsResult =
  | { host: string; ok: true; facts: HostFacts; durationMs: number }
  | { host: string; ok: false; error: AppError; durationMs: number };

/**
 * Facts of many hosts, at most `forks` at once, each in its own connection, each handed to
 * `onResult` as it arrives with its index in `hosts`, and kept nowhere: a caller that plans each
 * host then and drops its facts never holds the whole fleet's. `onResult` also gets the host's
 * connection and returns true when it keeps it (it closes it then: apply goes on over the plan's
 * connection); otherwise it is closed. A failure on one host is that host's result; it never
 * stops the others.
 */
export async function forEachHostFacts<H extends { host: string }>(
  hosts: readonly H[],
  open: (host: H) => Promise<Transport>,
  options: { forks: number },
  onResult: (r: HostFactsResult, index: number, transport?: Transport) => boolean,
): Promise<void> {
  await mapLimit(hosts, options.forks, async (h, index): Promise<undefined> => {
    const started = performance.now();
    let transport: Transport | undefined;
    let result: HostFactsResult;
    try {
      transport = await open(h);
      result = { host: h.host, ok: true, facts: await gatherFacts(transport), durationMs: 0 };
    } catch (err) {
      const error =
        err instanceof AppError
          ? err
          : new AppError('E_INTERNAL', err instanceof Error ? err.message : String(err), {
              host: h.host,
              step: 'facts',
              cause: err,
            });
      result = { host: h.host, ok: false, error, durationMs: 0 };
    }
    result.durationMs = performance.now() - started;
    let kept = false;
    try {
      kept = onResult(result, index, result.ok ? transport : undefined);
    } finally {
      if (!kept) await transport?.close();
    }
    return undefined;
  });
}

/** Facts of many hosts as `forEachHostFacts` reads them, all kept, in the hosts' order. */
export async function gatherFleetFacts<H extends { host: string }>(
  hosts: readonly H[],
  open: (host: H) => Promise<Transport>,
  options: { forks: number },
): Promise<HostFactsResult[]> {
  const out = new Array<HostFactsResult>(hosts.length);
  await forEachHostFacts(hosts, open, options, (r, i) => {
    out[i] = r;
    return false;
  });
  return out;
}
