/**
 * `kpfleet apply` on a terminal: listr2's default renderer, fed by apply's events.
 *
 * - Up to `compactAbove` hosts to change: a tree, waves → hosts → steps (completed hosts
 *   collapse; a failed one keeps its steps and the error on screen).
 * - Above it: one task per wave whose title is a running summary (`wave 2/3 — 120/500 done,
 *   3 failed, 40 running`) and, under it, a line per running host with its current step, on a
 *   fixed set of "lanes" (at most forks, and no more than the terminal has rows). The number of
 *   listr tasks is bounded by waves × lanes, never by the hosts.
 *
 * Apply is event-driven and listr2 runs tasks: each task awaits a deferred that the events
 * resolve, and titles are set from a model the events update. Redraws are rate-limited (the
 * renderer draws at most once per `refreshMs`, and not at all between events with many hosts:
 * `lazy`), and SIGINT is left to the CLI (listr2 9 would otherwise exit the process on Ctrl-C).
 *
 * A renderer problem never breaks apply: any error (ours or listr's, including a stream that
 * refuses to be written) switches to plain lines (`apply-plain.ts`) for the rest of the run.
 */
import {
  DefaultRenderer,
  Listr,
  ListrDefaultRendererLogLevels,
  ListrLogger,
  ProcessOutput,
  figures,
} from 'listr2';
import type { ListrTask, ListrTaskWrapper } from 'listr2';
import type { ApplyEvent, HostResult, StepRecord } from '../apply/events.ts';
import {
  FAILURE_OUTCOMES,
  HOST_OUTCOMES,
  OUTCOMES,
  emptyOutcomeCounts,
} from '../apply/outcomes.ts';
import type { OutcomeCounts } from '../apply/outcomes.ts';
import {
  createPlainRenderer,
  describeHostEnd,
  displayEvent,
  formatDuration,
  outcomeColour,
  summaryLines,
} from './apply-plain.ts';
import type { PlainRenderer } from './apply-plain.ts';
import { oneLine } from './safe-text.ts';
import { styleFor } from './style.ts';
import type { Style } from './style.ts';
import { plural } from '../util/text.ts';

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

type Ctx = object;
type Renderer = typeof DefaultRenderer;
type Wrapper = ListrTaskWrapper<Ctx, Renderer, Renderer>;
type Task = ListrTask<Ctx, Renderer, Renderer>;

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  settled: boolean;
}

function deferred<T>(): Deferred<T> {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  const d: Deferred<T> = {
    promise,
    settled: false,
    resolve: (value) => {
      if (d.settled) return;
      d.settled = true;
      resolve(value);
    },
  };
  return d;
}

/** A task's title and output as the model wants them; applied to the task once it runs. */
interface View {
  wrapper?: Wrapper;
  title: string;
  output?: string;
}

function sync(v: View): void {
  const t = v.wrapper;
  if (t === undefined) return;
  if (t.title !== v.title) t.title = v.title;
  if (v.output !== undefined && t.output !== v.output) t.output = v.output;
}

interface StepView extends View {
  end: Deferred<StepRecord | undefined>;
}

interface HostView extends View {
  name: string;
  /** `steps` once the first step starts; `end` when the host ends without one. */
  first: Deferred<'steps' | 'end'>;
  steps: StepView[];
  nextSlot: number;
  /** Apply's step index → the step's view (forward steps only). */
  slotByIndex: Map<number, StepView>;
  /** The rollback's line (hidden unless there is a rollback); `end` settles when the host ends. */
  tail: View & { end: Deferred<void>; rollbackSteps: number; rollbackFailed: number };
  result?: HostResult;
}

interface LaneView extends View {
  /** The running host shown on this line; none when the lane is idle (and hidden). */
  host: string | undefined;
}

interface RunningHost {
  wave: WaveView;
  lane?: LaneView;
  doing: string;
}

interface WaveView extends View {
  ordinal: number;
  size: number;
  hosts: string[];
  /** true when it starts; false when the run ended first. */
  start: Deferred<boolean>;
  end: Deferred<void>;
  skipMessage: string;
  halted: boolean;
  ended: boolean;
  counts: OutcomeCounts;
  done: number;
  failed: number;
  running: number;
  lanes: LaneView[];
  /** Running hosts without a lane (more running than lanes), oldest first. */
  waiting: string[];
}

/** listr2 types its streams as terminals; it only writes to them and copies their own fields. */
const listrStream = (s: NodeJS.WritableStream) => s as unknown as NodeJS.WriteStream;

const errorMessage = (err: unknown) => oneLine(err instanceof Error ? err.message : String(err));

/**
 * listr2's default renderer, drawing at most once per `refreshMs` whatever the number of events,
 * on any stream (the CLI decides whether the stream is a terminal), and reporting its errors
 * instead of throwing them from a timer.
 */
function throttledRenderer(
  refreshMs: number,
  hooks: { created: (r: DefaultRenderer) => void; failed: (err: unknown) => void },
): Renderer {
  return class ThrottledRenderer extends DefaultRenderer {
    static override nonTTY = true;
    private timer: NodeJS.Timeout | undefined;
    private ended = false;

    constructor(...args: ConstructorParameters<Renderer>) {
      super(...args);
      hooks.created(this);
    }

    override update(): void {
      if (this.ended || this.timer !== undefined) return;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (this.ended) return;
        try {
          super.update();
        } catch (err) {
          hooks.failed(err);
        }
      }, refreshMs);
    }

    override end(): void {
      if (this.ended) return;
      this.ended = true;
      clearTimeout(this.timer);
      this.timer = undefined;
      super.end();
    }
  };
}

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

  // ---- state -----------------------------------------------------------------------------
  let started = false;
  let runEnded = false;
  let compact = false;
  let check = false;
  let forks = 1;
  let waves: WaveView[] = [];
  let wavesStarted = 0;
  const waveByNumber = new Map<number, WaveView>();
  const hosts = new Map<string, HostView>();
  const running = new Map<string, RunningHost>();
  let maxLanes = 1;
  let runPromise: Promise<void> | undefined;
  /** Settles at run-end (or done()): the display stays up until then, for the summary. */
  const runEnd: Deferred<void> = deferred();
  let summary: string[] = [];

  // ---- fallback ----------------------------------------------------------------------------
  let renderer: DefaultRenderer | undefined;
  let processOutput: ProcessOutput | undefined;
  let plain: PlainRenderer | undefined;
  /** run-start and wave-starts, replayed silently into the plain renderer for its context. */
  const context: ApplyEvent[] = [];

  const safeWrite = (text: string) => {
    try {
      output.write(text);
    } catch {
      // nowhere left to write: apply goes on regardless
    }
  };

  const fallBack = (err: unknown) => {
    if (plain !== undefined) return;
    let live = false;
    const p = createPlainRenderer(
      (line) => {
        if (live) safeWrite(line + '\n');
      },
      style,
      opts.now !== undefined ? { now: opts.now } : {},
    );
    plain = p;
    try {
      renderer?.end();
    } catch {
      try {
        processOutput?.release();
      } catch {
        // the stream is already released or gone
      }
    }
    finishAll('display stopped');
    for (const e of context) {
      try {
        p.onEvent(e);
      } catch {
        // context only
      }
    }
    live = true;
    safeWrite(`\nthe progress display failed (${errorMessage(err)}); plain lines follow\n`);
    // run-end already went to the display: its summary is still owed
    if (runEnded && summary.length > 0) safeWrite(summary.map((l) => l + '\n').join(''));
  };

  // ---- titles ------------------------------------------------------------------------------
  const waveName = (w: WaveView) => `wave ${String(w.ordinal)}/${String(waves.length)}`;

  const outcomeText = (counts: OutcomeCounts) =>
    HOST_OUTCOMES.filter((o) => counts[o] > 0)
      .map((o) => outcomeColour(o, style)(`${String(counts[o])} ${o}`))
      .join(', ');

  const waveTitle = (w: WaveView): string => {
    const halted = w.halted ? ` ${style.red('— halted: no further wave starts')}` : '';
    if (!w.start.settled) return `${waveName(w)}: ${plural(w.size, 'host')}`;
    if (compact) {
      const failed = w.failed > 0 ? `, ${style.red(`${String(w.failed)} failed`)}` : '';
      const run = w.ended ? '' : `, ${String(w.running)} running`;
      return `${waveName(w)} — ${String(w.done)}/${String(w.hosts.length)} done${failed}${run}${halted}`;
    }
    const counts = outcomeText(w.counts);
    return `${waveName(w)}: ${plural(w.hosts.length, 'host')}${counts ? ` — ${counts}` : ''}${halted}`;
  };

  const laneTitle = (host: string, doing: string) =>
    doing ? `${host}  ${style.dim(doing)}` : host;

  const refreshWave = (w: WaveView) => {
    w.title = waveTitle(w);
    sync(w);
  };

  // ---- tasks -------------------------------------------------------------------------------
  const stepTask = (s: StepView): Task =>
    task({
      exitOnError: false,
      task: async (_ctx, t) => {
        s.wrapper = t;
        sync(s);
        const record = await s.end.promise;
        sync(s);
        if (record === undefined) {
          t.skip();
          return;
        }
        if (!record.ok) throw new Error(record.error ?? 'failed');
      },
    });

  /** After the steps: the rollback, shown only when there is one; fails when it failed. */
  const rollbackTask = (h: HostView): Task =>
    task({
      exitOnError: false,
      task: async (_ctx, t) => {
        h.tail.wrapper = t;
        sync(h.tail);
        await h.tail.end.promise;
        sync(h.tail);
        if (h.tail.rollbackFailed > 0) throw new Error(h.tail.title);
      },
    });

  /**
   * Last, hidden: fails when the host failed, so that the host shows failed (its title says why);
   * an empty message, so that nothing more is printed under the host.
   */
  const verdictTask = (h: HostView): Task =>
    task({
      task: async () => {
        await h.tail.end.promise;
        const r = h.result;
        if (r !== undefined && OUTCOMES[r.outcome].ends === 'failed') throw new Error('');
      },
    });

  const hostTask = (h: HostView): Task =>
    task({
      title: h.title,
      task: async (_ctx, t) => {
        h.wrapper = t;
        sync(h);
        const first = await h.first.promise;
        if (first === 'steps') {
          return t.newListr([...h.steps.map(stepTask), rollbackTask(h), verdictTask(h)], {
            concurrent: false,
            exitOnError: true,
          });
        }
        h.output = '';
        sync(h);
        const r = h.result;
        if (r === undefined) {
          t.skip(`${h.name}: no result`);
          return;
        }
        if (OUTCOMES[r.outcome].ends === 'failed') throw new Error(h.title);
        if (OUTCOMES[r.outcome].ends === 'skipped') t.skip(h.title);
        return;
      },
    });

  const laneTask = (w: WaveView, lane: LaneView): Task =>
    task({
      task: async (_ctx, t) => {
        lane.wrapper = t;
        sync(lane);
        await w.end.promise;
        lane.title = '';
        sync(lane);
      },
    });

  const waveTask = (w: WaveView): Task =>
    task({
      title: w.title,
      task: async (_ctx, t) => {
        w.wrapper = t;
        sync(w);
        const go = await w.start.promise;
        if (!go) {
          t.skip(`${waveName(w)}: ${plural(w.size, 'host')} — ${w.skipMessage}`);
          return;
        }
        if (compact) {
          return t.newListr(
            w.lanes.map((lane) => laneTask(w, lane)),
            { concurrent: true, exitOnError: false },
          );
        }
        const waveTail = task({
          task: async () => {
            await w.end.promise;
          },
        });
        return t.newListr(
          [
            ...w.hosts.flatMap((name) => {
              const h = hosts.get(name);
              return h !== undefined ? [hostTask(h)] : [];
            }),
            waveTail,
          ],
          { concurrent: true, exitOnError: false },
        );
      },
    });

  // ---- ends --------------------------------------------------------------------------------
  const endHost = (h: HostView, r: HostResult | undefined) => {
    if (r !== undefined) {
      h.result = r;
      const text = describeHostEnd(r, false);
      h.title = `${h.name} — ${outcomeColour(r.outcome, style)(text)}`;
    }
    h.output = '';
    sync(h);
    if (h.tail.rollbackSteps > 0) {
      const failed = h.tail.rollbackFailed;
      h.tail.title =
        failed > 0
          ? style.red(
              `rollback failed (${String(failed)} of ${plural(h.tail.rollbackSteps, 'step')})`,
            )
          : style.yellow(`rolled back (${plural(h.tail.rollbackSteps, 'step')})`);
      h.tail.output = '';
      sync(h.tail);
    } else if (h.tail.title !== '') {
      h.tail.title = style.dim('rollback: nothing to undo');
      sync(h.tail);
    }
    for (const s of h.steps) s.end.resolve(undefined);
    h.tail.end.resolve();
    h.first.resolve('end');
  };

  const endWave = (w: WaveView) => {
    w.ended = true;
    if (!w.start.settled) w.start.resolve(false);
    for (const name of w.hosts) {
      const h = hosts.get(name);
      if (h !== undefined && h.result === undefined) endHost(h, undefined);
    }
    for (const lane of w.lanes) {
      lane.host = undefined;
      lane.title = '';
      sync(lane);
    }
    w.waiting = [];
    refreshWave(w);
    w.end.resolve();
  };

  /** Settles every deferred, so that listr finishes whatever events are missing. */
  function finishAll(why: string) {
    for (const w of waves) {
      if (!w.start.settled) {
        w.skipMessage = why;
        w.start.resolve(false);
      }
      if (!w.end.settled) endWave(w);
    }
    for (const h of hosts.values()) if (!h.tail.end.settled) endHost(h, undefined);
    runEnd.resolve();
  }

  // ---- events ------------------------------------------------------------------------------
  const newHost = (name: string): HostView => ({
    name,
    title: name,
    output: style.dim('queued'),
    first: deferred(),
    steps: [],
    nextSlot: 0,
    slotByIndex: new Map(),
    tail: { title: '', end: deferred(), rollbackSteps: 0, rollbackFailed: 0 },
  });

  const assignLane = (w: WaveView, name: string, r: RunningHost) => {
    const lane = w.lanes.find((l) => l.host === undefined);
    if (lane === undefined) {
      w.waiting.push(name);
      return;
    }
    lane.host = name;
    r.lane = lane;
    lane.title = laneTitle(name, r.doing);
    sync(lane);
  };

  const showDoing = (name: string, doing: string) => {
    const r = running.get(name);
    if (r === undefined) return;
    r.doing = doing;
    if (r.lane !== undefined) {
      r.lane.title = laneTitle(name, doing);
      sync(r.lane);
    }
  };

  const onRunStart = (e: Extract<ApplyEvent, { type: 'run-start' }>) => {
    if (started) return;
    started = true;
    check = e.check;
    forks = Math.max(1, e.forks);
    const toChange = e.waves.reduce((a, b) => a + b, 0);
    compact = toChange > compactAbove;
    maxLanes = Math.max(
      1,
      opts.maxRunningLines ?? Math.min(50, Math.max(3, (rows ?? 24) - e.waves.length - 5)),
    );
    waves = e.waves.map((size, i) => {
      const w: WaveView = {
        ordinal: i + 1,
        size,
        hosts: [],
        title: '',
        start: deferred(),
        end: deferred(),
        skipMessage: 'not started',
        halted: false,
        ended: false,
        counts: emptyOutcomeCounts(),
        done: 0,
        failed: 0,
        running: 0,
        lanes: [],
        waiting: [],
      };
      return w;
    });
    for (const w of waves) w.title = waveTitle(w);

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
    const list = new Listr<Ctx, Renderer, Renderer>([...waves.map(waveTask), untilRunEnd], {
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
        if (plain === undefined && summary.length > 0) {
          safeWrite('\n' + summary.map((l) => l + '\n').join(''));
        }
      },
      (err: unknown) => {
        fallBack(err);
      },
    );
  };

  const onWaveStart = (e: Extract<ApplyEvent, { type: 'wave-start' }>) => {
    const w = waves[wavesStarted];
    wavesStarted++;
    if (w === undefined || w.start.settled) return;
    waveByNumber.set(e.wave, w);
    w.hosts = [...e.hosts];
    if (compact) {
      const n = Math.max(1, Math.min(forks, w.hosts.length, maxLanes));
      w.lanes = Array.from({ length: n }, () => ({ title: '', host: undefined }));
    } else {
      for (const name of w.hosts) hosts.set(name, newHost(name));
    }
    w.start.resolve(true);
    refreshWave(w);
  };

  const onHostStart = (e: Extract<ApplyEvent, { type: 'host-start' }>) => {
    if (compact) {
      const w = waveByNumber.get(e.wave);
      if (w === undefined || w.ended) return;
      const r: RunningHost = { wave: w, doing: 'start' };
      running.set(e.host, r);
      w.running++;
      assignLane(w, e.host, r);
      refreshWave(w);
      return;
    }
    const h = hosts.get(e.host);
    if (h === undefined) return;
    h.output = style.dim('start');
    sync(h);
  };

  const onPhase = (e: Extract<ApplyEvent, { type: 'host-phase' }>) => {
    if (compact) {
      showDoing(e.host, e.phase === 'rollback' ? 'rolling back' : e.phase);
      return;
    }
    const h = hosts.get(e.host);
    if (h === undefined) return;
    if (e.phase === 'rollback') {
      h.tail.title = style.yellow('rollback');
      sync(h.tail);
      h.output = '';
    } else {
      h.output = style.dim(e.phase);
    }
    sync(h);
  };

  const onStepStart = (e: Extract<ApplyEvent, { type: 'step-start' }>) => {
    const progress = `(${String(e.index + 1)}/${String(e.total)})`;
    if (compact) {
      showDoing(e.host, `${e.rollback ? 'rollback: ' : ''}${e.label} ${progress}`);
      return;
    }
    const h = hosts.get(e.host);
    if (h === undefined || h.tail.end.settled) return;
    if (!h.first.settled) {
      const total = e.rollback ? 0 : Math.max(0, e.total);
      h.steps = Array.from({ length: total }, () => ({ title: '', end: deferred() }));
      h.first.resolve('steps');
    }
    h.output = '';
    sync(h);
    if (e.rollback) {
      h.tail.title = style.yellow(`rollback: ${e.label} ${progress}`);
      sync(h.tail);
      return;
    }
    const slot = h.steps[h.nextSlot];
    if (slot === undefined) return;
    h.nextSlot++;
    h.slotByIndex.set(e.index, slot);
    slot.title = e.label;
    sync(slot);
  };

  const onStepEnd = (e: Extract<ApplyEvent, { type: 'step-end' }>) => {
    if (compact) {
      if (!e.step.ok) showDoing(e.host, `${e.step.label} ✖`);
      return;
    }
    const h = hosts.get(e.host);
    if (h === undefined) return;
    if (e.step.rollback === true) {
      h.tail.rollbackSteps++;
      if (!e.step.ok) {
        h.tail.rollbackFailed++;
        h.tail.output = `${e.step.label}: ${e.step.error ?? 'failed'}`;
        sync(h.tail);
      }
      return;
    }
    const slot = h.slotByIndex.get(e.index);
    if (slot === undefined) return;
    slot.title = `${e.step.label} ${style.dim(formatDuration(e.step.durationMs))}`;
    sync(slot);
    slot.end.resolve(e.step);
  };

  const onHostEnd = (e: Extract<ApplyEvent, { type: 'host-end' }>) => {
    const r = e.result;
    if (compact) {
      const w = running.get(r.host)?.wave ?? waveByNumber.get(r.wave);
      const run = running.get(r.host);
      running.delete(r.host);
      if (w === undefined || w.ended) return;
      w.done++;
      w.counts[r.outcome]++;
      if (FAILURE_OUTCOMES.has(r.outcome)) w.failed++;
      if (run !== undefined) {
        w.running--;
        w.waiting = w.waiting.filter((n) => n !== r.host);
        const lane = run.lane;
        if (lane !== undefined) {
          lane.host = undefined;
          lane.title = '';
          const next = w.waiting.shift();
          const nextRun = next !== undefined ? running.get(next) : undefined;
          if (next !== undefined && nextRun !== undefined) {
            lane.host = next;
            nextRun.lane = lane;
            lane.title = laneTitle(next, nextRun.doing);
          }
          sync(lane);
        }
      }
      refreshWave(w);
      return;
    }
    const h = hosts.get(r.host);
    if (h === undefined || h.result !== undefined) return;
    const w = waveByNumber.get(r.wave);
    if (w !== undefined) {
      w.counts[r.outcome]++;
      refreshWave(w);
    }
    endHost(h, r);
  };

  const onWaveEnd = (e: Extract<ApplyEvent, { type: 'wave-end' }>) => {
    const w = waveByNumber.get(e.wave);
    if (w === undefined || w.ended) return;
    w.halted = e.halted;
    for (const name of [...running.keys()]) {
      if (running.get(name)?.wave === w) running.delete(name);
    }
    w.running = 0;
    endWave(w);
  };

  const onRunEnd = (e: Extract<ApplyEvent, { type: 'run-end' }>) => {
    runEnded = true;
    summary = summaryLines(
      {
        results: e.results,
        halted: e.halted,
        interrupted: e.interrupted,
        durationMs: e.durationMs,
        check,
      },
      style,
    );
    finishAll(
      e.interrupted ? 'not started: interrupted' : e.halted ? 'not started: halted' : 'not started',
    );
  };

  const handle = (e: ApplyEvent) => {
    switch (e.type) {
      case 'run-start':
        onRunStart(e);
        return;
      case 'wave-start':
        onWaveStart(e);
        return;
      case 'host-start':
        onHostStart(e);
        return;
      case 'host-phase':
        onPhase(e);
        return;
      case 'step-start':
        onStepStart(e);
        return;
      case 'step-end':
        onStepEnd(e);
        return;
      case 'host-end':
        onHostEnd(e);
        return;
      case 'wave-end':
        onWaveEnd(e);
        return;
      case 'run-end':
        onRunEnd(e);
        return;
    }
  };

  return {
    onEvent(raw: ApplyEvent): void {
      // Every title and message is drawn from the event: made safe to print once, here.
      const e = displayEvent(raw);
      if (e.type === 'run-start' || e.type === 'wave-start') context.push(e);
      if (plain === undefined) {
        try {
          handle(e);
          return;
        } catch (err) {
          fallBack(err);
        }
      }
      try {
        plain?.onEvent(e);
      } catch {
        // never break apply
      }
    },
    async done(): Promise<void> {
      if (runPromise === undefined) return;
      if (!runEnded) {
        try {
          finishAll('not started');
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
