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
} from '../../../src/apply/host-changes.ts';
import type { ApplyEvent } from '../../../src/apply/events.ts';
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
    const { records, unknown } = await runBatch(o, t, 'h1', changes, 0, 2, ctx, built);
    expect(sent).toEqual([]);
    expect(unknown).toBe(false);
    expect(records).toHaveLength(1);
    expect(records[0]?.ok).toBe(false);
    expect(records[0]?.error).toContain('5.14;reboot');
    expect(events.map((e) => e.type)).toEqual(['step-start', 'step-end']);
  });
});
