/**
 * What the listr views of an apply (`apply-listr-tree.ts`, `apply-listr-compact.ts`) share:
 * deferreds that the events settle and listr's tasks await, a task's title and output kept as
 * the view wants them, the wave tasks, and listr2's default renderer drawing at most once per
 * `refreshMs` on any stream.
 */
import { DefaultRenderer } from 'listr2';
import type { ListrTask, ListrTaskWrapper } from 'listr2';
import type { ApplyEvent } from '../apply/events.ts';
import { OUTCOMES } from '../apply/outcomes.ts';
import type { HostProgress, ProgressState, WaveProgress } from './apply-progress.ts';
import { waveLabel } from './apply-progress.ts';
import type { Style } from './style.ts';
import { plural } from '../util/text.ts';

export type Ctx = object;
export type Renderer = typeof DefaultRenderer;
export type Wrapper = ListrTaskWrapper<Ctx, Renderer, Renderer>;
export type Task = ListrTask<Ctx, Renderer, Renderer>;

/** A view of the progress state as listr tasks. */
export interface ListrView {
  /** One task per wave of the run, run one after the other. */
  waveTasks(): Task[];
  /** Brings a wave's tasks in line with the state; its hosts' too when `withHosts`. */
  updateWave(w: WaveProgress, withHosts: boolean): void;
  /** Brings a host's tasks in line with the state. */
  updateHost(h: HostProgress): void;
  /** Settles every task, whatever the state says: the display stopped. */
  abandon(): void;
}

/** Brings what event `e` moved in line with the state, once the state has taken it in. */
export function updateView(view: ListrView, state: ProgressState, e: ApplyEvent): void {
  const waveOf = (h: HostProgress) => state.waves[h.wave - 1];
  switch (e.type) {
    case 'run-start':
      return;
    case 'wave-start':
    case 'wave-end': {
      const w = state.waveByNumber.get(e.wave);
      if (w !== undefined) view.updateWave(w, e.type === 'wave-end');
      return;
    }
    case 'host-end': {
      const h = state.hostByName.get(e.result.host);
      const w = h !== undefined ? waveOf(h) : undefined;
      if (w !== undefined) view.updateWave(w, false);
      if (h !== undefined) view.updateHost(h);
      return;
    }
    case 'run-end':
      updateAll(view, state);
      return;
    case 'host-start':
    case 'host-phase':
    case 'step-start':
    case 'step-end': {
      const h = state.hostByName.get(e.host);
      if (h !== undefined) view.updateHost(h);
    }
  }
}

/** Brings every task in line with the state (at the end of the run). */
export function updateAll(view: ListrView, state: ProgressState): void {
  for (const w of state.waves) view.updateWave(w, true);
}

/** Settles the wave tasks whatever the state says. */
export function abandonWaves(waves: readonly WaveView[]): void {
  for (const v of waves) {
    v.start.resolve(false);
    v.end.resolve();
  }
}

export interface ViewKit {
  style: Style;
  /** Every task is made through it (the renderer counts them). */
  task: (t: Task) => Task;
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  settled: boolean;
}

export function deferred<T>(): Deferred<T> {
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

/** A task's title and output as the view wants them; applied to the task once it runs. */
export interface View {
  wrapper?: Wrapper;
  title: string;
  output?: string;
}

export function sync(v: View): void {
  const t = v.wrapper;
  if (t === undefined) return;
  if (t.title !== v.title) t.title = v.title;
  if (v.output !== undefined && t.output !== v.output) t.output = v.output;
}

/** A wave's task: it starts when the wave does (or is skipped), and ends when the wave ends. */
export interface WaveView extends View {
  wave: WaveProgress;
  start: Deferred<boolean>;
  end: Deferred<void>;
}

export const waveName = (state: ProgressState, w: WaveProgress): string =>
  waveLabel(state, w.ordinal);

export function newWaveView(wave: WaveProgress): WaveView {
  return { wave, title: '', start: deferred(), end: deferred() };
}

/** The wave's task: once the wave starts, `subtasks` under it, side by side. */
export function waveTask(
  state: ProgressState,
  v: WaveView,
  kit: ViewKit,
  subtasks: () => Task[],
): Task {
  return kit.task({
    title: v.title,
    task: async (_ctx, t) => {
      v.wrapper = t;
      sync(v);
      const go = await v.start.promise;
      const w = v.wave;
      if (!go) {
        const why = w.notStarted ?? 'not started';
        t.skip(`${waveName(state, w)}: ${plural(w.size, 'host')} — ${why}`);
        return;
      }
      return t.newListr([...subtasks(), waveVerdict(state, v, kit)], {
        concurrent: true,
        exitOnError: false,
      });
    },
  });
}

/**
 * Last under a wave, hidden: fails once the wave ended with a host that did not do what was asked
 * (failed, refused, stale, skipped, or no outcome), so that the wave never shows a ✔ over it; an
 * empty message, since the host's own line and the summary say why.
 */
function waveVerdict(state: ProgressState, v: WaveView, kit: ViewKit): Task {
  return kit.task({
    task: async () => {
      await v.end.promise;
      const notDone = v.wave.hosts.some((name) => {
        const r = state.hostByName.get(name)?.result;
        return r === undefined || OUTCOMES[r.outcome].ends !== 'done';
      });
      if (notDone) throw new Error('');
    },
  });
}

/**
 * Sets the wave's title and settles its task as the state says: started (after `onStart` made
 * what goes under it), not started, or ended.
 */
export function updateWaveView(v: WaveView, title: string, onStart: () => void): void {
  v.title = title;
  sync(v);
  const status = v.wave.status;
  if (status === 'pending') return;
  if (status === 'not-started') {
    v.start.resolve(false);
  } else if (!v.start.settled) {
    onStart();
    v.start.resolve(true);
  }
  if (status === 'ended' || status === 'not-started') v.end.resolve();
}

/** The title of a wave not started yet: `wave 3/3: 1 host`. */
export const pendingWaveTitle = (state: ProgressState, w: WaveProgress): string =>
  `${waveName(state, w)}: ${plural(w.size, 'host')}`;

/** listr2 types its streams as terminals; it only writes to them and copies their own fields. */
export const listrStream = (s: NodeJS.WritableStream) => s as unknown as NodeJS.WriteStream;

/**
 * listr2's default renderer, drawing at most once per `refreshMs` whatever the number of events,
 * on any stream (the CLI decides whether the stream is a terminal), and reporting its errors
 * instead of throwing them from a timer.
 */
export function throttledRenderer(
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
