/** The progress reducer: apply's events in, where the run stands out (no display involved). */
import { describe, expect, it } from 'vitest';
import type { ApplyEvent } from '../../../src/apply/events.ts';
import {
  finishProgress,
  newProgress,
  progress,
  progressOf,
} from '../../../src/report/apply-progress.ts';
import { fleetRun, load, scriptedRun, step, strayRun } from './apply-fixtures.ts';

const summaryOf = (state: ReturnType<typeof progressOf>) =>
  state.waves.map((w) => ({
    ordinal: w.ordinal,
    status: w.status,
    hosts: w.hosts,
    done: w.done,
    failed: w.failed,
    running: w.running,
    halted: w.halted,
  }));

describe('progress: a whole run', () => {
  it('folds the scripted run: waves, counts, steps, the rollback and the end', () => {
    const { events, results } = scriptedRun();
    const state = progressOf(events);
    expect(state).toMatchObject({ started: true, check: false, forks: 10, hosts: 5 });
    expect(summaryOf(state)).toEqual([
      {
        ordinal: 1,
        status: 'ended',
        hosts: ['web01'],
        done: 1,
        failed: 0,
        running: [],
        halted: false,
      },
      {
        ordinal: 2,
        status: 'ended',
        hosts: ['web02', 'web03'],
        done: 2,
        failed: 2, // failed and locked both count against max_failures
        running: [],
        halted: true,
      },
      {
        ordinal: 3,
        status: 'not-started',
        hosts: [],
        done: 0,
        failed: 0,
        running: [],
        halted: false,
      },
    ]);
    expect(state.waves[2]?.notStarted).toBe('not started: halted');
    expect(state.waves[1]?.counts).toMatchObject({ failed: 1, locked: 1, changed: 0 });

    const web01 = state.hostByName.get('web01');
    expect(web01).toMatchObject({ status: 'ended', planned: 2, activity: { kind: 'ended' } });
    expect(web01?.steps.map((s) => [s.index, s.label, s.record?.ok])).toEqual([
      [
        0,
        '+ upload patches/livepatch-x.ko → ~/.kpfleet/stage/efefefefefefefef/livepatch-x.ko',
        true,
      ],
      [1, '+ load livepatch-x (livepatch_x)', true],
    ]);
    expect(web01?.result).toBe(results[1]);

    const web02 = state.hostByName.get('web02');
    expect(web02?.steps).toHaveLength(1);
    expect(web02?.steps[0]?.record?.ok).toBe(false);
    expect(web02?.rollback).toEqual({
      begun: true,
      current: '- unload livepatch_x (1/1)',
      steps: 1,
      failed: 0,
    });
    expect(web02?.result?.outcome).toBe('failed');
    expect(state.hostByName.get('web03')?.planned).toBeUndefined();
    expect(state.hostByName.has('web04')).toBe(false);
    expect(state.end).toEqual({ results, halted: true, interrupted: false, durationMs: 8200 });
  });

  it('counts 200 hosts per wave, failures as max_failures counts them', () => {
    const state = progressOf(fleetRun(200, [10, 190], 20).events);
    expect(state.waves.map((w) => [w.done, w.failed, w.counts.unreachable])).toEqual([
      [10, 1, 0],
      [190, 40, 15],
    ]);
    expect(state.hostByName.size).toBe(200);
  });
});

describe('progress: while a wave runs', () => {
  it('knows the running hosts, oldest first, and what each is doing', () => {
    const events = scriptedRun().events;
    // up to web02's rollback step
    const at = events.findIndex((e) => e.type === 'step-start' && e.rollback);
    const state = progressOf(events.slice(0, at + 1));
    const wave = state.waves[1];
    expect(wave).toMatchObject({ status: 'running', done: 1, failed: 1, running: ['web02'] });
    expect(state.current).toBe(wave);
    expect(wave?.longestName).toBe(5);
    expect(state.hostByName.get('web02')).toMatchObject({
      status: 'running',
      activity: { kind: 'step', label: '- unload livepatch_x', index: 0, total: 1, rollback: true },
      rollback: { begun: true, current: '- unload livepatch_x (1/1)', steps: 0, failed: 0 },
    });
    expect(state.waves[2]?.status).toBe('pending');
    expect(state.end).toBeUndefined();

    const queued = progressOf(events.slice(0, 3));
    expect(queued.hostByName.get('web01')?.activity).toEqual({ kind: 'start' });
    const connecting = progress(queued, events[3] as ApplyEvent);
    expect(connecting.hostByName.get('web01')?.activity).toEqual({
      kind: 'phase',
      phase: 'connect',
    });
  });

  it('shows a failed step, and a failed rollback step with why', () => {
    const state = progressOf([
      { type: 'run-start', hosts: 1, waves: [1], check: false, forks: 1 },
      { type: 'wave-start', wave: 1, hosts: ['a'] },
      { type: 'host-start', host: 'a', wave: 1 },
      { type: 'step-start', host: 'a', index: 0, total: 2, label: '+ load x', rollback: false },
      { type: 'step-end', host: 'a', index: 0, step: step(load('x'), false, 10) },
    ]);
    expect(state.hostByName.get('a')?.activity).toEqual({ kind: 'step-failed', label: '+ load x' });
    progress(state, { type: 'host-phase', host: 'a', phase: 'rollback' });
    progress(state, {
      type: 'step-end',
      host: 'a',
      index: 0,
      step: step(load('x'), false, 10, { rollback: true, error: 'exit 1' }),
    });
    expect(state.hostByName.get('a')?.rollback).toEqual({
      begun: true,
      steps: 1,
      failed: 1,
      lastError: '+ load x: exit 1',
    });
  });
});

describe('progress: what it cannot place', () => {
  it('ignores unknown hosts and waves, a second run-start, a wave beyond the plan, repeats', () => {
    // every event but run-end, which would end the wave
    const state = progressOf(strayRun().filter((e) => e.type !== 'run-end'));
    expect(state).toMatchObject({ check: false, forks: 1, hosts: 1 });
    expect(state.waves).toHaveLength(1);
    expect([...state.hostByName.keys()]).toEqual(['a']);
    expect(state.waveByNumber.has(2)).toBe(false);

    const r = {
      host: 'a',
      wave: 1,
      outcome: 'changed' as const,
      message: '',
      steps: [],
      durationMs: 1,
    };
    progress(state, { type: 'host-end', result: r });
    progress(state, { type: 'host-end', result: r });
    progress(state, { type: 'host-phase', host: 'a', phase: 'unlock' });
    expect(state.waves[0]).toMatchObject({ done: 1, counts: { changed: 1 } });
    expect(state.hostByName.get('a')?.activity).toEqual({ kind: 'ended' });
  });

  it('ends what has not ended when the display stops before run-end', () => {
    const state = progressOf(scriptedRun().events.slice(0, 15));
    finishProgress(state, 'not started');
    expect(state.waves.map((w) => w.status)).toEqual(['ended', 'ended', 'not-started']);
    expect(state.waves[2]?.notStarted).toBe('not started');
    expect(state.hostByName.get('web02')?.status).toBe('ended');
    expect(state.hostByName.get('web02')?.result).toBeUndefined();
    expect(newProgress().waves).toEqual([]);
  });
});
