/**
 * Where an apply stands, as data: its waves, each wave's hosts and counts, each host's steps,
 * rollback and current activity, and the run's end, folded from apply's events
 * (`apply/events.ts`). The renderers are views of it: the listr tree and its compact form
 * (`apply-listr*.ts`) and the plain lines (`apply-plain.ts`).
 *
 * `progress(state, event)` is a reducer: deterministic, no I/O, no clock, nothing drawn. It
 * updates the state in place and returns it (a fleet of 10,000 hosts sends some 100,000 events;
 * a copy of the state per event would be quadratic). An event it cannot place (a host or wave it
 * does not know, a repeat, anything after the host or wave ended) leaves the state as it was.
 */
import type { ApplyEvent, HostResult, StepRecord } from '../apply/events.ts';
import { FAILURE_OUTCOMES, emptyOutcomeCounts } from '../apply/outcomes.ts';
import type { OutcomeCounts } from '../apply/outcomes.ts';
import type { UncoveredHost } from '../plan/coverage.ts';

export type HostPhase = Extract<ApplyEvent, { type: 'host-phase' }>['phase'];

/** What a host is doing now, as its last event said. */
export type HostActivity =
  | { kind: 'queued' }
  | { kind: 'start' }
  | { kind: 'phase'; phase: HostPhase }
  | { kind: 'step'; label: string; index: number; total: number; rollback: boolean }
  | { kind: 'step-failed'; label: string }
  | { kind: 'ended' };

/** A forward step, once started; `record` once it ended. */
export interface StepProgress {
  /** Apply's index of the step. */
  index: number;
  label: string;
  record?: StepRecord;
}

export interface RollbackProgress {
  /** A rollback phase or step came. */
  begun: boolean;
  /** The rollback step running, with its place: `- unload x (1/2)`. */
  current?: string;
  /** Rollback steps ended, and how many of them failed. */
  steps: number;
  failed: number;
  /** The last failed rollback step and why: `- unload x: exit 1`. */
  lastError?: string;
}

export interface HostProgress {
  name: string;
  /** Its wave's ordinal (1 for the first wave started). */
  wave: number;
  status: 'queued' | 'running' | 'ended';
  activity: HostActivity;
  /** How many forward steps the host's first step said there are; undefined before any step. */
  planned?: number;
  /** The forward steps started, in order (at most `planned`). */
  steps: StepProgress[];
  rollback: RollbackProgress;
  /** How it ended; none when its wave or the run ended first. */
  result?: HostResult;
}

export interface WaveProgress {
  /** 1 for the first wave, as `wave 1/3` shows it. */
  ordinal: number;
  /** Apply's number of the wave, once it started. */
  number?: number;
  /** Hosts planned at the start of the run. */
  size: number;
  /** Hosts as the wave started them. */
  hosts: string[];
  status: 'pending' | 'running' | 'ended' | 'not-started';
  /** Why it did not start: `not started: halted`. */
  notStarted?: string;
  /** No further wave starts after this one. */
  halted: boolean;
  counts: OutcomeCounts;
  /** Hosts that ended with an outcome, and those of them that count as failures. */
  done: number;
  failed: number;
  /** Hosts started and not ended, oldest first. */
  running: string[];
  /** The length of its longest host name. */
  longestName: number;
}

export interface RunEnd {
  results: readonly HostResult[];
  halted: boolean;
  interrupted: boolean;
  durationMs: number;
  uncovered?: readonly UncoveredHost[];
}

export interface ProgressState {
  started: boolean;
  check: boolean;
  forks: number;
  /** Hosts in the run (every host of the plan, with something to do or not). */
  hosts: number;
  waves: WaveProgress[];
  /** The wave started last. */
  current?: WaveProgress;
  waveByNumber: Map<number, WaveProgress>;
  /** `apply --wave K`: the run is wave K of the whole plan's waves (`run-start`). */
  onlyWave?: { wave: number; of: number };
  hostByName: Map<string, HostProgress>;
  end?: RunEnd;
}

export function newProgress(): ProgressState {
  return {
    started: false,
    check: false,
    forks: 1,
    hosts: 0,
    waves: [],
    waveByNumber: new Map(),
    hostByName: new Map(),
  };
}

/** The state after `events`, from the start. */
export function progressOf(events: Iterable<ApplyEvent>): ProgressState {
  const state = newProgress();
  for (const e of events) progress(state, e);
  return state;
}

/** The host of an event, if the state knows it and it has not ended. */
function liveHost(state: ProgressState, name: string): HostProgress | undefined {
  const h = state.hostByName.get(name);
  return h !== undefined && h.status !== 'ended' ? h : undefined;
}

export function progress(state: ProgressState, e: ApplyEvent): ProgressState {
  switch (e.type) {
    case 'run-start':
      if (state.started) return state;
      state.started = true;
      state.check = e.check;
      state.forks = Math.max(1, e.forks);
      state.hosts = e.hosts;
      state.waves = e.waves.map((size, i) => newWave(i + 1, size));
      if (e.onlyWave) state.onlyWave = { ...e.onlyWave };
      return state;
    case 'wave-start': {
      const w = state.waves.find((x) => x.status === 'pending');
      if (w === undefined) return state;
      w.status = 'running';
      w.number = e.wave;
      w.hosts = [...e.hosts];
      state.waveByNumber.set(e.wave, w);
      state.current = w;
      for (const name of w.hosts) {
        w.longestName = Math.max(w.longestName, name.length);
        state.hostByName.set(name, newHost(name, w.ordinal));
      }
      return state;
    }
    case 'host-start': {
      const h = liveHost(state, e.host);
      const w = h !== undefined ? state.waves[h.wave - 1] : undefined;
      if (h === undefined || w === undefined || h.status !== 'queued') return state;
      h.status = 'running';
      h.activity = { kind: 'start' };
      w.running.push(h.name);
      return state;
    }
    case 'host-phase': {
      const h = liveHost(state, e.host);
      if (h === undefined) return state;
      h.activity = { kind: 'phase', phase: e.phase };
      if (e.phase === 'rollback') {
        h.rollback.begun = true;
        delete h.rollback.current;
      }
      return state;
    }
    case 'step-start': {
      const h = liveHost(state, e.host);
      if (h === undefined) return state;
      const { label, index, total, rollback } = e;
      h.activity = { kind: 'step', label, index, total, rollback };
      h.planned ??= rollback ? 0 : Math.max(0, total);
      if (rollback) {
        h.rollback.begun = true;
        h.rollback.current = `${label} (${String(index + 1)}/${String(total)})`;
      } else if (h.steps.length < h.planned) {
        h.steps.push({ index, label });
      }
      return state;
    }
    case 'step-end': {
      const h = liveHost(state, e.host);
      if (h === undefined) return state;
      const s = e.step;
      if (!s.ok) h.activity = { kind: 'step-failed', label: s.label };
      if (s.rollback === true) {
        h.rollback.steps++;
        if (!s.ok) {
          h.rollback.failed++;
          h.rollback.lastError = `${s.label}: ${s.error ?? 'failed'}`;
        }
        return state;
      }
      const started = h.steps.findLast((x) => x.index === e.index);
      if (started !== undefined) started.record = s;
      return state;
    }
    case 'host-end': {
      const r = e.result;
      const h = liveHost(state, r.host);
      const w = h !== undefined ? state.waves[h.wave - 1] : undefined;
      if (h === undefined || w === undefined) return state;
      endHost(w, h);
      h.result = r;
      w.done++;
      w.counts[r.outcome]++;
      if (FAILURE_OUTCOMES.has(r.outcome)) w.failed++;
      return state;
    }
    case 'wave-end': {
      const w = state.waveByNumber.get(e.wave);
      if (w === undefined || w.status !== 'running') return state;
      w.halted = e.halted;
      endWave(state, w);
      return state;
    }
    case 'run-end': {
      if (state.end !== undefined) return state;
      const { results, halted, interrupted, durationMs, uncovered } = e;
      state.end = { results, halted, interrupted, durationMs, ...(uncovered ? { uncovered } : {}) };
      const why = interrupted
        ? 'not started: interrupted'
        : halted
          ? 'not started: halted'
          : 'not started';
      return finishProgress(state, why);
    }
  }
}

/**
 * A wave as the views name it: `wave 2/3`, its place among the run's waves; for `apply --wave K`,
 * K of the whole plan's waves.
 */
export function waveLabel(state: ProgressState, ordinal: number): string {
  const only = state.onlyWave;
  if (only) return `wave ${String(only.wave)}/${String(only.of)}`;
  const total = state.waves.length;
  return total > 0 ? `wave ${String(ordinal)}/${String(total)}` : `wave ${String(ordinal)}`;
}

/**
 * Ends whatever has not ended: a wave not started is marked so (`why`), a running wave and its
 * hosts end without an outcome. At run-end, or when the display stops before it came.
 */
export function finishProgress(state: ProgressState, why: string): ProgressState {
  for (const w of state.waves) {
    if (w.status === 'pending') {
      w.status = 'not-started';
      w.notStarted = why;
    } else if (w.status === 'running') {
      endWave(state, w);
    }
  }
  return state;
}

function endWave(state: ProgressState, w: WaveProgress): void {
  w.status = 'ended';
  for (const name of w.hosts) {
    const h = liveHost(state, name);
    if (h !== undefined) endHost(w, h);
  }
  w.running = [];
}

function endHost(w: WaveProgress, h: HostProgress): void {
  if (h.status === 'running') w.running = w.running.filter((n) => n !== h.name);
  h.status = 'ended';
  h.activity = { kind: 'ended' };
}

function newWave(ordinal: number, size: number): WaveProgress {
  return {
    ordinal,
    size,
    hosts: [],
    status: 'pending',
    halted: false,
    counts: emptyOutcomeCounts(),
    done: 0,
    failed: 0,
    running: [],
    longestName: 0,
  };
}

function newHost(name: string, wave: number): HostProgress {
  return {
    name,
    wave,
    status: 'queued',
    activity: { kind: 'queued' },
    steps: [],
    rollback: { begun: false, steps: 0, failed: 0 },
  };
}
