/**
 * `kpfleet apply` in CI and when stdout is not a terminal: one line per event that matters, each
 * prefixed by the wall-clock time (`HH:MM:SS`, local) and the host, then a summary. Append-only
 * (nothing is redrawn), so a log file reads in order. Deterministic given `now`.
 *
 * Not printed: host-start and the host phases other than the rollback (500 hosts × 6 phases is
 * noise), step-start (the step's line comes when it ends, with its result and duration).
 */
import type { ApplyEvent, HostResult, StepRecord } from '../apply/events.ts';
import {
  HOST_OUTCOMES,
  OUTCOMES,
  countOutcomes,
  isSuccess,
  needsALook,
} from '../apply/outcomes.ts';
import type { HostOutcome } from '../apply/outcomes.ts';
import { PROSE_KEYS, oneLine, safeData } from './safe-text.ts';
import type { Style } from './style.ts';
import { plural } from '../util/text.ts';

export interface PlainRenderer {
  onEvent(e: ApplyEvent): void;
  /** Nothing to wait for (every line is written when its event comes); as the listr renderer. */
  done(): Promise<void>;
}

export interface PlainRendererOptions {
  now?: () => Date;
}

/** Host names are padded to align the columns, up to this width. */
const HOST_WIDTH_MAX = 24;
/** At most this many lines of a failed step's output are shown (its tail). */
const OUTPUT_LINES_MAX = 10;
/** At most this many host names per outcome in the summary; above it, a count. */
const SUMMARY_NAMES_MAX = 20;

const two = (n: number) => String(n).padStart(2, '0');

/** `HH:MM:SS`, local time. */
export function clock(d: Date): string {
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** `0.4s`, `12.3s`, `2m05s`, `1h02m`. */
export function formatDuration(ms: number): string {
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
  if (r.steps.length > 0) text += ` (${formatDuration(r.durationMs)})`;
  return text;
}

export interface SummaryInput {
  results: readonly HostResult[];
  halted: boolean;
  interrupted: boolean;
  durationMs: number;
  check: boolean;
}

/**
 * The end of a run: counts per outcome (those with hosts), then the hosts of each outcome that
 * needs a look. Shared with the listr renderer, which prints it under its tree.
 */
export function summaryLines(s: SummaryInput, style: Style): string[] {
  const counts = countOutcomes(s.results);
  const parts = HOST_OUTCOMES.filter((o) => counts[o] > 0).map((o) =>
    outcomeColour(o, style)(`${String(counts[o])} ${OUTCOMES[o].word}`),
  );
  const notes = [...(s.halted ? ['halted'] : []), ...(s.interrupted ? ['interrupted'] : [])];
  const head =
    `${s.check ? 'check' : 'apply'} done in ${formatDuration(s.durationMs)}: ` +
    `${plural(s.results.length, 'host')}${parts.length > 0 ? ` — ${parts.join(', ')}` : ''}` +
    (notes.length > 0 ? ` ${style.red(`(${notes.join(', ')})`)}` : '');
  const out = [style.bold(head)];
  for (const o of HOST_OUTCOMES) {
    if (!needsALook(o) || counts[o] === 0) continue;
    const names = s.results.filter((r) => r.outcome === o).map((r) => r.host);
    const shown = names.slice(0, SUMMARY_NAMES_MAX).join(', ');
    const more =
      names.length > SUMMARY_NAMES_MAX
        ? ` and ${String(names.length - SUMMARY_NAMES_MAX)} more`
        : '';
    out.push(`  ${outcomeColour(o, style)(`${OUTCOMES[o].word}:`)} ${shown}${more}`);
  }
  return out;
}

export function createPlainRenderer(
  write: (line: string) => void,
  style: Style,
  opts: PlainRendererOptions = {},
): PlainRenderer {
  const now = opts.now ?? (() => new Date());
  let waveCount = 0;
  /** Wave number (as apply numbers them) → its place among the waves started: `2` of `wave 2/3`. */
  const waveOrdinal = new Map<number, number>();
  let hostWidth = 0;
  let check = false;

  let waveTotal = 0;
  const waveName = (wave: number) => {
    const n = waveOrdinal.get(wave) ?? wave;
    return waveTotal > 0 ? `wave ${String(n)}/${String(waveTotal)}` : `wave ${String(n)}`;
  };

  /** The time of the event being written: every line of one event carries the same. */
  let stamp = '';
  const line = (text: string) => {
    write(`${style.dim(stamp)} ${text}`);
  };
  const hostLine = (host: string, text: string) => {
    line(`${style.bold(host.padEnd(hostWidth))}  ${text}`);
  };

  const stepLine = (host: string, step: StepRecord) => {
    const label = step.rollback === true ? `rollback: ${step.label}` : step.label;
    const duration = formatDuration(step.durationMs);
    if (step.ok) {
      hostLine(host, `${label} ${style.green('✓')} ${style.dim(duration)}`);
      return;
    }
    const error = step.error !== undefined ? `: ${oneLine(step.error)}` : '';
    hostLine(host, style.red(`${label} ✖ ${duration}${error}`));
    const output = (step.output ?? '').trimEnd();
    if (output) {
      const lines = output.split(/\r\n|\r|\n/);
      const tail = lines.slice(-OUTPUT_LINES_MAX);
      if (lines.length > tail.length)
        hostLine(host, style.dim(`  │ … ${plural(lines.length - tail.length, 'line')} before`));
      for (const l of tail) hostLine(host, style.dim(`  │ ${l}`));
    }
  };

  const hostEnd = (r: HostResult) => {
    hostLine(r.host, outcomeColour(r.outcome, style)(describeHostEnd(r)));
    if (r.error?.hint !== undefined && !isSuccess(r.outcome))
      hostLine(r.host, `  ${style.cyan('hint')}: ${oneLine(r.error.hint)}`);
  };

  return {
    onEvent(raw: ApplyEvent): void {
      const e = displayEvent(raw);
      stamp = clock(now());
      switch (e.type) {
        case 'run-start': {
          check = e.check;
          waveTotal = e.waves.length;
          const waves =
            e.waves.length > 0
              ? ` in ${plural(e.waves.length, 'wave')} (${e.waves.join(', ')})`
              : ', nothing to change';
          line(
            `${e.check ? 'check (nothing is changed)' : 'apply'}: ${plural(e.hosts, 'host')}${waves}, forks ${String(e.forks)}`,
          );
          return;
        }
        case 'wave-start': {
          waveCount++;
          waveOrdinal.set(e.wave, waveCount);
          hostWidth = 0;
          for (const h of e.hosts)
            hostWidth = Math.min(HOST_WIDTH_MAX, Math.max(hostWidth, h.length));
          line(style.bold(`${waveName(e.wave)}: ${plural(e.hosts.length, 'host')}`));
          return;
        }
        case 'host-start':
        case 'step-start':
          return;
        case 'host-phase':
          if (e.phase === 'rollback') hostLine(e.host, style.yellow('rolling back'));
          return;
        case 'step-end':
          stepLine(e.host, e.step);
          return;
        case 'host-end':
          hostEnd(e.result);
          return;
        case 'wave-end': {
          const failed = e.failed > 0 ? style.red(`, ${String(e.failed)} failed`) : '';
          line(`${waveName(e.wave)} done: ${plural(e.attempted, 'host')}${failed}`);
          if (e.halted) {
            line(
              style.red(
                `halted after ${waveName(e.wave)}: more hosts failed than max_failures allows; no further wave starts`,
              ),
            );
          }
          return;
        }
        case 'run-end': {
          if (e.interrupted)
            line(style.yellow('interrupted: the steps in flight finished; no other started'));
          for (const l of summaryLines(
            {
              results: e.results,
              halted: e.halted,
              interrupted: e.interrupted,
              durationMs: e.durationMs,
              check,
            },
            style,
          ))
            line(l);
          return;
        }
      }
    },
    done: () => Promise.resolve(),
  };
}
