/**
 * Which of a host's changes share an exec (src/apply/host-changes.ts, batch.ts): a run of
 * consecutive steps with one passing verification each (install, enable, load, unload); an
 * upload, an uninstall (its copy is kept first) and package steps run alone.
 */
import { describe, expect, it } from 'vitest';
import {
  batchAt,
  longestBatch,
  MAX_BATCH_BYTES,
  MAX_BATCH_STEPS,
  runChanges,
} from '../../../src/apply/host-changes.ts';
import type { ApplyEvent, StepRecord } from '../../../src/apply/events.ts';
import { underStepsLock } from '../../../src/apply/lock.ts';
import { stepFor } from '../../../src/apply/steps.ts';
import {
  CommandTimeoutError,
  ConnectionLostError,
  OutputLimitError,
  SudoPasswordError,
} from '../../../src/transport/errors.ts';
import { modelFacts, newHost } from '../../../lab/model.ts';
import { EL9 } from './memory/harness.ts';
import { runBatch } from '../../../src/apply/run-step.ts';
import type { StepContext, StepRunner } from '../../../src/apply/run-step.ts';
import type { HostFacts } from '../../../src/facts/model.ts';
import type { Change } from '../../../src/plan/model.ts';
import type { Transport } from '../../../src/transport/transport.ts';

const c = (action: Change['action']) => ({ action, sha256: 'a'.repeat(64) }) as Change;

describe('batches', () => {
  it('a one-patch converge: the upload alone, then install and load together', () => {
    const changes = [c('upload'), c('install'), c('load')];
    expect(batchAt(changes, 0).map((x) => x.action)).toEqual([]);
    expect(batchAt(changes, 1).map((x) => x.action)).toEqual(['install', 'load']);
    expect(batchAt(changes, 2).map((x) => x.action)).toEqual(['load']);
    expect(longestBatch(changes)).toBe(2);
  });

  it('a replacement: load the successor, unload the predecessor in one exec; an uninstall alone', () => {
    const changes = [
      c('upload'),
      c('install'),
      c('enable-service'),
      c('load'),
      c('unload'),
      c('uninstall'),
      c('package-install'),
      c('load'),
    ];
    expect(batchAt(changes, 1).map((x) => x.action)).toEqual([
      'install',
      'enable-service',
      'load',
      'unload',
    ]);
    expect(batchAt(changes, 5)).toEqual([]);
    expect(longestBatch(changes)).toBe(4);
    expect(longestBatch([])).toBe(0);
    expect(longestBatch([c('uninstall')])).toBe(1);
  });
});

describe('a batch is bounded', () => {
  it('at most MAX_BATCH_STEPS steps, and MAX_BATCH_BYTES of script (the first step always)', () => {
    const loads = Array.from({ length: 10 }, () => c('load'));
    expect(batchAt(loads, 0)).toHaveLength(MAX_BATCH_STEPS);
    expect(longestBatch(loads)).toBe(MAX_BATCH_STEPS);
    expect(batchAt(loads, 0, () => MAX_BATCH_BYTES / 2 - 1)).toHaveLength(2);
    expect(batchAt(loads, 0, () => MAX_BATCH_BYTES * 2)).toHaveLength(1);
  });
});

describe('a batch whose step cannot be built', () => {
  it('sends nothing: the first step fails with the reason, and nothing may have run', async () => {
    const sent: string[] = [];
    const t = {
      exec: (command: string) => {
        sent.push(command);
        return Promise.reject(new Error('nothing should be sent'));
      },
    } as unknown as Transport;
    const events: ApplyEvent[] = [];
    const o: StepRunner = {
      runId: 'r1',
      commandTimeoutMs: 1000,
      readPatch: () => Promise.reject(new Error('no upload here')),
      sha256: () => '',
      label: (x) => x.action,
      onEvent: (e) => events.push(e),
    };
    const changes = [c('install'), c('load')];
    const ctx: StepContext = { facts: {} as HostFacts, staging: '' };
    const built = [
      { sent: 'true', passing: 'x', step: 'install' },
      new Error('kernel "5.14;reboot" is not a kernel release'),
    ];
    const ran = await runBatch(o, t, 'h1', changes, 0, 2, ctx, built);
    if ('interrupted' in ran) throw new Error('not interrupted: no signal');
    const { records, unknown } = ran;
    expect(sent).toEqual([]);
    expect(unknown).toBe(false);
    expect(records).toHaveLength(1);
    expect(records[0]?.ok).toBe(false);
    expect(records[0]?.error).toContain('5.14;reboot');
    expect(events.map((e) => e.type)).toEqual(['step-start', 'step-end']);
  });
});

describe('a step alone whose exec did not come back (runChanges)', () => {
  const facts = modelFacts(newHost({ kernel: EL9, files: new Map() }));
  const load: Change = {
    action: 'load',
    patch: 'a',
    module: 'livepatch_a',
    replacesModules: [],
    reenable: false,
    cves: [],
    reason: 'declared',
  };
  const unload: Change = { action: 'unload', module: 'livepatch_b', leftover: false, reason: 'x' };
  const uninstall: Change = {
    action: 'uninstall',
    module: 'livepatch_b',
    kernel: EL9,
    file: 'livepatch-b.ko',
    reason: 'x',
  };
  const opts = { host: 'h1', step: 'x' };

  /** Runs `changes` alone over a transport whose exec answers `answer` (a throw, or a result). */
  async function run(changes: Change[], answer: (command: string, step: string) => never) {
    const sent: { command: string; step: string }[] = [];
    const t = {
      exec: (command: string, o: { step: string }) => {
        sent.push({ command, step: o.step });
        return Promise.resolve().then(() => answer(command, o.step));
      },
    } as unknown as Transport;
    const o: StepRunner = {
      runId: 'r1',
      commandTimeoutMs: 1000,
      readPatch: () => Promise.reject(new Error('no upload here')),
      sha256: () => '',
      label: (x) => x.action,
      onEvent: () => undefined,
    };
    const steps: StepRecord[] = [];
    const end = await runChanges(o, t, 'h1', changes, {
      ctx: { facts, staging: '' },
      held: () => undefined,
      steps,
    });
    return { end, sent, steps };
  }

  it('a load past its timeout: unknown, counted as done; it was sent stoppable', async () => {
    const { end, sent } = await run([load], () => {
      throw new CommandTimeoutError('kpatch load did not finish within 1 s', opts);
    });
    expect(end).toMatchObject({ kind: 'failed', unknown: true, done: [load] });
    expect(sent).toHaveLength(1);
    expect(sent[0]?.command).toBe(
      underStepsLock(stepFor(load, { facts, staging: '', runId: 'r1' }).script, 'r1', true),
    );
  });

  it('an unload whose connection was lost, or whose output flooded: unknown, counted as done', async () => {
    for (const err of [
      new ConnectionLostError('the connection to h1 was lost during kpatch unload', opts),
      new OutputLimitError({ ...opts, limitBytes: 8 * 1024 * 1024 }),
    ]) {
      const { end } = await run([unload, uninstall], () => {
        throw err;
      });
      expect(end, err.code).toMatchObject({ kind: 'failed', unknown: true, done: [unload] });
    }
  });

  it('an exec that did not run (sudo refused): not unknown, nothing counted done', async () => {
    const { end } = await run([unload], () => {
      throw new SudoPasswordError(opts);
    });
    expect(end).toMatchObject({ kind: 'failed', unknown: false, done: [] });
  });

  it('the copy before an uninstall past its timeout: not unknown, the uninstall never sent', async () => {
    const { end, sent } = await run([uninstall], () => {
      throw new CommandTimeoutError('stash did not finish within 30 s', opts);
    });
    expect(end).toMatchObject({ kind: 'failed', unknown: false, done: [] });
    expect(sent.map((s) => s.step)).toEqual(['stash']);
  });
});
