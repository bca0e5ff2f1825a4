/**
 * The words of an apply, shared by its renderers (`apply-plain.ts`, `apply-listr*.ts`): durations
 * and the clock, an event made safe to print, an outcome's colour, a host's last line, and the
 * summary printed when the run ends.
 */
import { MANAGER_NAMES } from '../config-model.ts';
import type { ApplyEvent, HostResult } from '../apply/events.ts';
import { HOST_OUTCOMES, OUTCOMES, countOutcomes, isSuccess } from '../apply/outcomes.ts';
import type { HostOutcome } from '../apply/outcomes.ts';
import type { UncoveredHost } from '../plan/coverage.ts';
import { hostsToName, nextLines } from './apply-next.ts';
import type { NextSteps } from './apply-next.ts';
import { uncoveredWords } from './plan.ts';
import { PROSE_KEYS, oneLine, safeData } from './safe-text.ts';
import type { Style } from './style.ts';
import { pushAll } from '../util/arrays.ts';
import { plural } from '../util/text.ts';

const two = (n: number) => String(n).padStart(2, '0');

/** `HH:MM:SS`, local time. */
export function clock(d: Date): string {
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** `0.4s`, `12.3s`, `2m05s`, `1h02m`. */
export function formatElapsed(ms: number): string {
  const t = Number.isFinite(ms) && ms > 0 ? ms : 0;
  const tenths = Math.round(t / 100);
  if (tenths < 600) return `${(tenths / 10).toFixed(1)}s`;
  const s = Math.round(t / 1000);
  if (s < 3600) return `${String(Math.floor(s / 60))}m${two(s % 60)}s`;
  const m = Math.round(s / 60);
  return `${String(Math.floor(m / 60))}h${two(m % 60)}m`;
}

/**
 * An event with every string safe to print (`safeData`): host names, labels, messages and the
 * output of a step come from hosts and files. Prose and output keep their line breaks: prose is
 * shown on one line with ` ⏎ `, a step's output line by line, each line marked as the host's.
 */
export function displayEvent(e: ApplyEvent): ApplyEvent {
  return safeData(e, PROSE_KEYS);
}

/** The colour of an outcome's tone (`apply/outcomes.ts`). */
export function outcomeColour(o: HostOutcome, style: Style): (s: string) => string {
  switch (OUTCOMES[o].tone) {
    case 'good':
      return style.green;
    case 'quiet':
      return style.dim;
    case 'warning':
      return style.yellow;
    case 'bad':
      return style.red;
    case 'severe':
      return (s) => style.bold(style.red(s));
  }
}

/**
 * A host's end as one line of text (no time, no host): `✖ rolled back: + load x: …`; without the
 * leading mark when `mark` is false (listr draws its own icons).
 */
export function describeHostEnd(r: HostResult, mark = true): string {
  const rolledBack = r.steps.some((s) => s.rollback === true);
  let word = OUTCOMES[r.outcome].word;
  let message = oneLine(r.message);
  if (r.outcome === 'failed' && rolledBack) {
    word = 'rolled back';
    message = message.replace(/;\s*rolled back\.?$/, '');
  }
  const head = mark ? `${OUTCOMES[r.outcome].mark} ${word}` : word;
  let text = message ? `${head}: ${message}` : head;
  if (r.error !== undefined && !isSuccess(r.outcome)) text += ` [${r.error.code}]`;
  if (r.steps.length > 0) text += ` (${formatElapsed(r.durationMs)})`;
  return text;
}

/** `kpatch on 7 hosts, klp on 1 host`: the hosts per manager their plan named; empty for none. */
export function managerCountWords(results: readonly HostResult[]): string {
  return MANAGER_NAMES.flatMap((m) => {
    const n = results.filter((r) => r.manager === m).length;
    return n > 0 ? [`${m} on ${plural(n, 'host')}`] : [];
  }).join(', ');
}

export interface SummaryInput {
  results: readonly HostResult[];
  halted: boolean;
  interrupted: boolean;
  durationMs: number;
  check: boolean;
  /** The plan's hosts no declared patch covers: named apart, however they ended. */
  uncovered?: readonly UncoveredHost[];
  /** The commands to suggest and where the records are (the CLI's); none: not said. */
  next?: NextSteps;
}

/**
 * The end of a run: counts per outcome (those with hosts), then each host that did not do what was
 * asked with its reason, what to run next and where the records are (`apply-next.ts`). Shared with
 * the listr renderer, which prints it under its tree.
 */
export function summaryLines(s: SummaryInput, style: Style): string[] {
  const counts = countOutcomes(s.results);
  const parts = HOST_OUTCOMES.filter((o) => counts[o] > 0).map((o) =>
    outcomeColour(o, style)(`${String(counts[o])} ${OUTCOMES[o].word}`),
  );
  const notes = [...(s.halted ? ['halted'] : []), ...(s.interrupted ? ['interrupted'] : [])];
  const head =
    `${s.check ? 'check' : 'apply'} done in ${formatElapsed(s.durationMs)}: ` +
    `${plural(s.results.length, 'host')}${parts.length > 0 ? ` — ${parts.join(', ')}` : ''}` +
    (notes.length > 0 ? ` ${style.red(`(${notes.join(', ')})`)}` : '');
  const out = [style.bold(head)];
  const managers = managerCountWords(s.results);
  if (managers) out.push(`  ${style.dim(`managers: ${managers}`)}`);
  pushAll(out, hostsToName(s.results, style));
  const uncovered = uncoveredWords(s.uncovered ?? []);
  if (uncovered) out.push(`  ${style.yellow(`⚠ ${uncovered}`)}`);
  if (s.next !== undefined)
    pushAll(out, nextLines(s.results, s.halted, s.interrupted, s.check, s.next, style));
  return out;
}
