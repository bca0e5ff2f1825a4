/**
 * `kpfleet apply` on a terminal: listr2's default renderer, fed by apply's events.
 *
 * The events go into a progress state (`apply-progress.ts`); a view draws it as listr tasks:
 * - up to `compactAbove` hosts to change, a tree, waves → hosts → steps (`apply-listr-tree.ts`);
 * - above it, a running summary per wave and a line per running host, the tasks bounded by
 *   waves × lanes, never by the hosts (`apply-listr-compact.ts`).
 *
 * Apply is event-driven and listr2 runs tasks: each task awaits a deferred that the view settles
 * as the state moves, and sets its title from the state. Redraws are rate-limited (the renderer
 * draws at most once per `refreshMs`, and not at all between events with many hosts: `lazy`),
 * and SIGINT is left to the CLI (listr2 9 would otherwise exit the process on Ctrl-C).
 *
 * A renderer problem never breaks apply: any error (ours or listr's, including a stream that
 * refuses to be written) switches to plain lines (`apply-plain.ts`, a view of the same state)
 * for the rest of the run.
 */
import { Listr, ListrDefaultRendererLogLevels, ListrLogger, ProcessOutput, figures } from 'listr2';
import type { DefaultRenderer } from 'listr2';
import type { ApplyEvent } from '../apply/events.ts';
import {
  deferred,
  listrStream,
  throttledRenderer,
  updateAll,
  updateView,
} from './apply-listr-kit.ts';
import type { Ctx, Deferred, ListrView, Renderer, Task } from './apply-listr-kit.ts';
import { compactView } from './apply-listr-compact.ts';
import { treeView } from './apply-listr-tree.ts';
import { plainView } from './apply-plain.ts';
import { finishProgress, newProgress, progress } from './apply-progress.ts';
import { displayEvent, summaryLines } from './apply-text.ts';
import type { NextSteps } from './apply-next.ts';
import { oneLine } from './safe-text.ts';
import { styleFor } from './style.ts';
import type { Style } from './style.ts';

export interface ListrRendererOptions {
  output: NodeJS.WritableStream;
  /** Above this many hosts to change, the compact display. Default 20. */
  compactAbove?: number;
  /** Colours of the titles and of the plain fallback; default from the stream and NO_COLOR. */
  style?: Style;
  /** At most one redraw per this many milliseconds. Default 100. */
  refreshMs?: number;
  /** Compact display: at most this many running hosts shown; default from the terminal's rows. */
  maxRunningLines?: number;
  /** The clock of the plain fallback's lines. */
  now?: () => Date;
  /** What to run next and where the records are, said under the summary (`apply-next.ts`). */
  next?: NextSteps;
}

export interface ListrApplyRenderer {
  onEvent(e: ApplyEvent): void;
  /** Resolves once the display has finished (call it after apply returns); never rejects. */
  done(): Promise<void>;
  /** How many listr tasks were created so far (bounded in the compact display). */
  tasksCreated(): number;
  /** Whether a renderer error switched the display to plain lines. */
  fellBack(): boolean;
}

const DEFAULT_COMPACT_ABOVE = 20;
const DEFAULT_REFRESH_MS = 100;

const errorMessage = (err: unknown) => oneLine(err instanceof Error ? err.message : String(err));

export function createListrRenderer(opts: ListrRendererOptions): ListrApplyRenderer {
  const output = opts.output;
  const style = opts.style ?? styleFor(output as { isTTY?: boolean }, process.env);
  const compactAbove = opts.compactAbove ?? DEFAULT_COMPACT_ABOVE;
  const refreshMs = Math.max(10, opts.refreshMs ?? DEFAULT_REFRESH_MS);
  const rows = (output as { rows?: number }).rows;

  let created = 0;
  const task = (t: Task): Task => {
    created++;
    return t;
  };

  const state = newProgress();
  let view: ListrView | undefined;
  let runPromise: Promise<void> | undefined;
  /** Settles at run-end (or done()): the display stays up until then, for the summary. */
  const runEnd: Deferred<void> = deferred();
  const next = opts.next !== undefined ? { next: opts.next } : {};
  const summary = (): string[] =>
    state.end !== undefined
      ? summaryLines({ ...state.end, check: state.check, ...next }, style)
      : [];

  // ---- fallback ----------------------------------------------------------------------------
  let renderer: DefaultRenderer | undefined;
  let processOutput: ProcessOutput | undefined;
  let plain: ((e: ApplyEvent) => void) | undefined;

  const safeWrite = (text: string) => {
    try {
      output.write(text);
    } catch {
      // nowhere left to write: apply goes on regardless
    }
  };

  const fallBack = (err: unknown) => {
    if (plain !== undefined) return;
    plain = plainView(
      state,
      (line) => {
        safeWrite(line + '\n');
      },
      style,
      opts.now ?? (() => new Date()),
      opts.next,
    );
    try {
      renderer?.end();
    } catch {
      try {
        processOutput?.release();
      } catch {
        // the stream is already released or gone
      }
    }
    view?.abandon();
    runEnd.resolve();
    safeWrite(`\nthe progress display failed (${errorMessage(err)}); plain lines follow\n`);
    // run-end already went to the display: its summary is still owed
    safeWrite(
      summary()
        .map((l) => l + '\n')
        .join(''),
    );
  };

  // ---- the display -------------------------------------------------------------------------
  const start = (e: Extract<ApplyEvent, { type: 'run-start' }>) => {
    const toChange = e.waves.reduce((a, b) => a + b, 0);
    const compact = toChange > compactAbove;
    const kit = { style, task };
    if (compact) {
      const maxLanes = Math.max(
        1,
        opts.maxRunningLines ?? Math.min(50, Math.max(3, (rows ?? 24) - e.waves.length - 5)),
      );
      view = compactView(state, kit, maxLanes);
    } else {
      view = treeView(state, kit);
    }

    const RendererClass = throttledRenderer(refreshMs, {
      created: (r) => (renderer = r),
      failed: fallBack,
    });
    // Only the stream we draw on is held while drawing (what others write to it is replayed at
    // the end); stderr stays free, so the CLI's Ctrl-C notice shows at once.
    processOutput = new ProcessOutput(listrStream(output), listrStream(output));
    const untilRunEnd = task({
      task: async () => {
        await runEnd.promise;
      },
    });
    const list = new Listr<Ctx, Renderer, Renderer>([...view.waveTasks(), untilRunEnd], {
      concurrent: false,
      exitOnError: false,
      registerSignalListeners: false,
      renderer: RendererClass,
      fallbackRenderer: RendererClass,
      rendererOptions: {
        logger: new ListrLogger({ processOutput, useIcons: true }),
        collapseSubtasks: true,
        collapseErrors: false,
        collapseSkips: true,
        showErrorMessage: true,
        lazy: compact,
        // a failed host (whose steps are listed under it) gets a cross, not listr's red pointer
        icon: { [ListrDefaultRendererLogLevels.FAILED_WITH_FAILED_SUBTASKS]: figures.cross },
        // many hosts: one line each, whatever their length; few: errors wrapped, in full
        formatOutput: compact ? 'truncate' : 'wrap',
      },
    });
    runPromise = list.run({}).then(
      () => {
        const lines = summary();
        if (plain === undefined && lines.length > 0) {
          safeWrite('\n' + lines.map((l) => l + '\n').join(''));
        }
      },
      (err: unknown) => {
        fallBack(err);
      },
    );
  };

  const draw = (e: ApplyEvent) => {
    if (e.type === 'run-start') {
      if (view === undefined) start(e);
      return;
    }
    if (view !== undefined) updateView(view, state, e);
    if (state.end !== undefined) runEnd.resolve();
  };

  return {
    onEvent(raw: ApplyEvent): void {
      // Every title and message is drawn from the event: made safe to print once, here.
      const e = displayEvent(raw);
      try {
        progress(state, e);
        if (plain === undefined) {
          draw(e);
          return;
        }
      } catch (err) {
        fallBack(err);
      }
      try {
        plain?.(e);
      } catch {
        // never break apply
      }
    },
    async done(): Promise<void> {
      if (runPromise === undefined) return;
      if (state.end === undefined && plain === undefined) {
        try {
          finishProgress(state, 'not started');
          if (view !== undefined) updateAll(view, state);
          runEnd.resolve();
        } catch (err) {
          fallBack(err);
        }
      }
      await runPromise;
    },
    tasksCreated: () => created,
    fellBack: () => plain !== undefined,
  };
}
