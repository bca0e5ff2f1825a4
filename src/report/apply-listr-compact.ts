/**
 * The listr view of an apply with many hosts: one task per wave whose title is a running summary
 * (`wave 2/3 — 120/500 done, 3 failed, 40 running`) and, under it, a line per running host with
 * what it is doing, on a fixed set of "lanes" (at most forks, and no more than `maxLanes`). A
 * host keeps its lane until it ends; a freed lane goes to the host waiting longest. The number of
 * listr tasks is bounded by waves × lanes, never by the hosts. Titles come from the progress
 * state (`apply-progress.ts`).
 */
import type { HostProgress, ProgressState, WaveProgress } from './apply-progress.ts';
import {
  abandonWaves,
  newWaveView,
  pendingWaveTitle,
  sync,
  updateWaveView,
  waveName,
  waveTask,
} from './apply-listr-kit.ts';
import type { ListrView, Task, View, ViewKit, WaveView } from './apply-listr-kit.ts';

interface LaneView extends View {
  /** The running host shown on this line; none when the lane is idle (and hidden). */
  host: string | undefined;
}

interface CompactWaveView extends WaveView {
  lanes: LaneView[];
}

/** What a running host is doing, in a few words: `facts`, `+ load x (1/2)`, `+ load x ✖`. */
export function doing(h: HostProgress): string {
  const a = h.activity;
  switch (a.kind) {
    case 'start':
      return 'start';
    case 'phase':
      return a.phase === 'rollback' ? 'rolling back' : a.phase;
    case 'step':
      return `${a.rollback ? 'rollback: ' : ''}${a.label} (${String(a.index + 1)}/${String(a.total)})`;
    case 'step-failed':
      return `${a.label} ✖`;
    case 'queued':
    case 'ended':
      return '';
  }
}

export function compactView(state: ProgressState, kit: ViewKit, maxLanes: number): ListrView {
  const { style, task } = kit;
  const waves: CompactWaveView[] = state.waves.map((w) => ({ ...newWaveView(w), lanes: [] }));

  const waveTitle = (w: WaveProgress): string => {
    if (w.status === 'pending' || w.status === 'not-started') return pendingWaveTitle(state, w);
    const failed = w.failed > 0 ? `, ${style.red(`${String(w.failed)} failed`)}` : '';
    const run = w.status === 'ended' ? '' : `, ${String(w.running.length)} running`;
    const halted = w.halted ? ` ${style.red('— halted: no further wave starts')}` : '';
    return `${waveName(state, w)} — ${String(w.done)}/${String(w.hosts.length)} done${failed}${run}${halted}`;
  };

  const laneTitle = (name: string) => {
    const h = state.hostByName.get(name);
    const now = h !== undefined ? doing(h) : '';
    return now ? `${name}  ${style.dim(now)}` : name;
  };

  const laneTask = (v: CompactWaveView, lane: LaneView): Task =>
    task({
      task: async (_ctx, t) => {
        lane.wrapper = t;
        sync(lane);
        await v.end.promise;
        lane.title = '';
        sync(lane);
      },
    });

  /** Frees the lanes of hosts no longer running, then gives free lanes to waiting hosts. */
  const updateLanes = (v: CompactWaveView) => {
    const running = new Set(v.wave.running);
    const shown = new Set<string>();
    for (const lane of v.lanes) {
      if (lane.host !== undefined && !running.has(lane.host)) lane.host = undefined;
      if (lane.host !== undefined) shown.add(lane.host);
    }
    const waiting = v.wave.running.filter((name) => !shown.has(name));
    for (const lane of v.lanes) {
      lane.host ??= waiting.shift();
      lane.title = lane.host !== undefined ? laneTitle(lane.host) : '';
      sync(lane);
    }
  };

  const updateWave = (v: CompactWaveView) => {
    updateWaveView(v, waveTitle(v.wave), () => {
      const n = Math.max(1, Math.min(state.forks, v.wave.hosts.length, maxLanes));
      v.lanes = Array.from({ length: n }, () => ({ title: '', host: undefined }));
    });
    updateLanes(v);
  };

  const updateWaveOf = (ordinal: number) => {
    const v = waves[ordinal - 1];
    if (v !== undefined) updateWave(v);
  };

  for (const v of waves) v.title = waveTitle(v.wave);

  return {
    waveTasks: () =>
      waves.map((v) => waveTask(state, v, kit, () => v.lanes.map((l) => laneTask(v, l)))),
    updateWave: (w) => {
      updateWaveOf(w.ordinal);
    },
    // a running host's line is one of its wave's lanes; an ended one is its wave's count
    updateHost: (h) => {
      const v = waves[h.wave - 1];
      if (v === undefined || h.status === 'ended') return;
      const lane = v.lanes.find((l) => l.host === h.name);
      if (lane === undefined) {
        updateWave(v);
        return;
      }
      lane.title = laneTitle(h.name);
      sync(lane);
    },
    abandon: () => {
      abandonWaves(waves);
    },
  };
}
