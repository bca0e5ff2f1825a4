/**
 * The listr view of an apply with few hosts: a tree, waves → hosts → steps, every title and
 * output drawn from the progress state (`apply-progress.ts`). Completed hosts collapse; a failed
 * one keeps its steps, its rollback and the error on screen.
 */
import type { StepRecord } from '../apply/events.ts';
import { HOST_OUTCOMES, OUTCOMES } from '../apply/outcomes.ts';
import type { HostProgress, ProgressState, WaveProgress } from './apply-progress.ts';
import {
  abandonWaves,
  deferred,
  newWaveView,
  pendingWaveTitle,
  sync,
  updateWaveView,
  waveName,
  waveTask,
} from './apply-listr-kit.ts';
import type { Deferred, ListrView, Task, View, ViewKit, WaveView } from './apply-listr-kit.ts';
import { describeHostEnd, formatElapsed, outcomeColour } from './apply-text.ts';
import { plural } from '../util/text.ts';

interface StepView extends View {
  end: Deferred<StepRecord | undefined>;
}

interface HostNode extends View {
  host: HostProgress;
  /** `steps` once the first step starts; `end` when the host ends without one. */
  first: Deferred<'steps' | 'end'>;
  steps: StepView[];
  /** The rollback's line (hidden unless there is a rollback); `end` settles when the host ends. */
  tail: View & { end: Deferred<void> };
}

export function treeView(state: ProgressState, kit: ViewKit): ListrView {
  const { style, task } = kit;
  const waves = state.waves.map(newWaveView);
  const hosts = new Map<string, HostNode>();

  // ---- titles, from the state ---------------------------------------------------------------
  const waveTitle = (w: WaveProgress): string => {
    if (w.status === 'pending' || w.status === 'not-started') return pendingWaveTitle(state, w);
    const counts = HOST_OUTCOMES.filter((o) => w.counts[o] > 0)
      .map((o) => outcomeColour(o, style)(`${String(w.counts[o])} ${o}`))
      .join(', ');
    const halted = w.halted ? ` ${style.red('— halted: no further wave starts')}` : '';
    return `${waveName(state, w)}: ${plural(w.hosts.length, 'host')}${counts ? ` — ${counts}` : ''}${halted}`;
  };

  const hostTitle = (h: HostProgress): string => {
    const r = h.result;
    if (r === undefined) return h.name;
    return `${h.name} — ${outcomeColour(r.outcome, style)(describeHostEnd(r, false))}`;
  };

  /** Under the host, before its steps: what it is doing. */
  const hostOutput = (h: HostProgress): string => {
    const a = h.activity;
    if (a.kind === 'queued' || a.kind === 'start') return style.dim(a.kind);
    if (a.kind === 'phase' && a.phase !== 'rollback') return style.dim(a.phase);
    return '';
  };

  const tailTitle = (h: HostProgress): string => {
    const rb = h.rollback;
    if (h.status !== 'ended') {
      if (rb.current !== undefined) return style.yellow(`rollback: ${rb.current}`);
      return rb.begun ? style.yellow('rollback') : '';
    }
    if (rb.steps > 0) {
      return rb.failed > 0
        ? style.red(`rollback failed (${String(rb.failed)} of ${plural(rb.steps, 'step')})`)
        : style.yellow(`rolled back (${plural(rb.steps, 'step')})`);
    }
    return rb.begun ? style.dim('rollback: nothing to undo') : '';
  };

  const tailOutput = (h: HostProgress): string | undefined =>
    h.status === 'ended' && h.rollback.steps > 0 ? '' : h.rollback.lastError;

  // ---- tasks --------------------------------------------------------------------------------
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
  const rollbackTask = (h: HostNode): Task =>
    task({
      exitOnError: false,
      task: async (_ctx, t) => {
        h.tail.wrapper = t;
        sync(h.tail);
        await h.tail.end.promise;
        sync(h.tail);
        if (h.host.rollback.failed > 0) throw new Error(h.tail.title);
      },
    });

  /**
   * Last, hidden: fails when the host failed, so that the host shows failed (its title says why);
   * an empty message, so that nothing more is printed under the host.
   */
  const verdictTask = (h: HostNode): Task =>
    task({
      task: async () => {
        await h.tail.end.promise;
        const r = h.host.result;
        if (r !== undefined && OUTCOMES[r.outcome].ends === 'failed') throw new Error('');
      },
    });

  const hostTask = (h: HostNode): Task =>
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
        sync(h);
        const r = h.host.result;
        if (r === undefined) {
          t.skip(`${h.host.name}: no result`);
          return;
        }
        if (OUTCOMES[r.outcome].ends === 'failed') throw new Error(h.title);
        if (OUTCOMES[r.outcome].ends === 'skipped') t.skip(h.title);
        return;
      },
    });

  const hostTasks = (w: WaveView): Task[] => {
    const waveTail = task({
      task: async () => {
        await w.end.promise;
      },
    });
    return [
      ...w.wave.hosts.flatMap((name) => {
        const h = hosts.get(name);
        return h !== undefined ? [hostTask(h)] : [];
      }),
      waveTail,
    ];
  };

  // ---- updates ------------------------------------------------------------------------------
  const updateHost = (h: HostNode) => {
    const p = h.host;
    h.title = hostTitle(p);
    h.output = hostOutput(p);
    sync(h);
    if (p.planned !== undefined && !h.first.settled) {
      h.steps = Array.from({ length: p.planned }, () => ({ title: '', end: deferred() }));
      h.first.resolve('steps');
    }
    for (const [i, slot] of h.steps.entries()) {
      const s = p.steps[i];
      if (s === undefined) break;
      const r = s.record;
      slot.title =
        r !== undefined ? `${r.label} ${style.dim(formatElapsed(r.durationMs))}` : s.label;
      sync(slot);
      if (r !== undefined) slot.end.resolve(r);
    }
    h.tail.title = tailTitle(p);
    const out = tailOutput(p);
    if (out !== undefined) h.tail.output = out;
    sync(h.tail);
    if (p.status === 'ended') settleHost(h);
  };

  const settleHost = (h: HostNode) => {
    for (const s of h.steps) s.end.resolve(undefined);
    h.tail.end.resolve();
    h.first.resolve('end');
  };

  const updateWave = (v: WaveView, withHosts: boolean) => {
    updateWaveView(v, waveTitle(v.wave), () => {
      for (const name of v.wave.hosts) {
        const p = state.hostByName.get(name);
        if (p !== undefined) hosts.set(name, newHostView(p));
      }
    });
    if (!withHosts) return;
    for (const name of v.wave.hosts) {
      const h = hosts.get(name);
      if (h !== undefined) updateHost(h);
    }
  };

  const newHostView = (host: HostProgress): HostNode => ({
    host,
    title: host.name,
    output: style.dim('queued'),
    first: deferred(),
    steps: [],
    tail: { title: '', end: deferred() },
  });

  for (const v of waves) v.title = waveTitle(v.wave);

  return {
    waveTasks: () => waves.map((v) => waveTask(state, v, kit, () => hostTasks(v))),
    updateWave: (w, withHosts) => {
      const v = waves[w.ordinal - 1];
      if (v !== undefined) updateWave(v, withHosts);
    },
    updateHost: (p) => {
      const h = hosts.get(p.name);
      if (h !== undefined) updateHost(h);
    },
    abandon: () => {
      abandonWaves(waves);
      for (const h of hosts.values()) settleHost(h);
    },
  };
}
