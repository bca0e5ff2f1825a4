/**
 * `kpfleet apply` in CI and when stdout is not a terminal: one line per event that matters, each
 * prefixed by the wall-clock time (`HH:MM:SS`, local) and the host, then a summary. Append-only
 * (nothing is redrawn), so a log file reads in order. Deterministic given `now`.
 *
 * A view of the progress state (`apply-progress.ts`), which gives it the wave's place (`wave
 * 2/3`), the width of its host names and whether the run is a check; each line's words come from
 * its event. The listr renderer falls back to this view, on its own state, when its display fails.
 *
 * Not printed: host-start and the host phases other than the rollback (500 hosts × 6 phases is
 * noise), step-start (the step's line comes when it ends, with its result and duration).
 */
import type { ApplyEvent, HostResult, StepRecord } from '../apply/events.ts';
import { isSuccess } from '../apply/outcomes.ts';
import { newProgress, progress, waveLabel } from './apply-progress.ts';
import type { ProgressState } from './apply-progress.ts';
import type { NextSteps } from './apply-next.ts';
import {
  clock,
  describeHostEnd,
  displayEvent,
  formatElapsed,
  outcomeColour,
  summaryLines,
} from './apply-text.ts';
import { oneLine } from './safe-text.ts';
import type { Style } from './style.ts';
import { plural } from '../util/text.ts';

export interface PlainRenderer {
  onEvent(e: ApplyEvent): void;
  /** Nothing to wait for (every line is written when its event comes); as the listr renderer. */
  done(): Promise<void>;
}

export interface PlainRendererOptions {
  now?: () => Date;
  /** What to run next and where the records are, said under the summary (`apply-next.ts`). */
  next?: NextSteps;
}

/** Host names are padded to align the columns, up to this width. */
const HOST_WIDTH_MAX = 24;
/** At most this many lines of a failed step's output are shown (its tail). */
const OUTPUT_LINES_MAX = 10;

export function createPlainRenderer(
  write: (line: string) => void,
  style: Style,
  opts: PlainRendererOptions = {},
): PlainRenderer {
  const state = newProgress();
  const print = plainView(state, write, style, opts.now ?? (() => new Date()), opts.next);
  return {
    onEvent(raw: ApplyEvent): void {
      const e = displayEvent(raw);
      progress(state, e);
      print(e);
    },
    done: () => Promise.resolve(),
  };
}

/**
 * Prints the lines of an event (made safe to print: `displayEvent`) once `state` has taken it in.
 */
export function plainView(
  state: ProgressState,
  write: (line: string) => void,
  style: Style,
  now: () => Date,
  next?: NextSteps,
): (e: ApplyEvent) => void {
  const waveName = (wave: number) =>
    waveLabel(state, state.waveByNumber.get(wave)?.ordinal ?? wave);

  /** The time of the event being written: every line of one event carries the same. */
  let stamp = '';
  const line = (text: string) => {
    write(`${style.dim(stamp)} ${text}`);
  };
  const hostLine = (host: string, text: string) => {
    const width = Math.min(HOST_WIDTH_MAX, state.current?.longestName ?? 0);
    line(`${style.bold(host.padEnd(width))}  ${text}`);
  };

  const stepLine = (host: string, step: StepRecord) => {
    const label = step.rollback === true ? `rollback: ${step.label}` : step.label;
    const duration = formatElapsed(step.durationMs);
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

  return (e: ApplyEvent): void => {
    stamp = clock(now());
    switch (e.type) {
      case 'run-start': {
        const waves =
          e.waves.length > 0
            ? ` in ${plural(e.waves.length, 'wave')} (${e.waves.join(', ')})`
            : ', nothing to change';
        line(
          `${e.check ? 'check (nothing is changed)' : 'apply'}: ${plural(e.hosts, 'host')}${waves}, forks ${String(e.forks)}`,
        );
        return;
      }
      case 'wave-start':
        line(style.bold(`${waveName(e.wave)}: ${plural(e.hosts.length, 'host')}`));
        return;
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
        const input = { ...e, check: state.check, ...(next !== undefined ? { next } : {}) };
        for (const l of summaryLines(input, style)) line(l);
        return;
      }
    }
  };
}
