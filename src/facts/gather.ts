/**
 * Gathering facts: the probe in one exec per host, parsed. Uses only the Transport interface.
 * A probe whose output does not parse is a per-host error that shows the text.
 */
import { AppError, ExitCode } from '../errors.ts';
import type { Transport } from '../transport/transport.ts';
import type { HostFacts } from './model.ts';
import { parseFacts } from './parse/facts.ts';
import { probeScript } from './probe.ts';

export class FactsError extends AppError {
  readonly text: string;
  constructor(message: string, options: { host: string; text: string }) {
    super('E_FACTS', ExitCode.changeFailed, message, {
      host: options.host,
      step: 'facts',
      hint: 'the host answered with output kpfleet does not understand; it is shown above, and nothing was planned for this host',
    });
    this.text = options.text;
  }
}

export async function gatherFacts(transport: Transport, timeoutMs = 60_000): Promise<HostFacts> {
  const r = await transport.exec(probeScript(), { step: 'facts', timeoutMs });
  const parsed = parseFacts(r.stdout);
  if (!parsed.ok) {
    throw new FactsError(
      `${parsed.error}${r.stderr ? ` (stderr: ${r.stderr.trim().slice(0, 500)})` : ''}`,
      {
        host: transport.host,
        text: parsed.text,
      },
    );
  }
  return parsed.facts;
}
