/**
 * The outcome table: what each way a host can end counts as, in the four places that read it
 * (max_failures, the displays, the report's order, the exit code). Each set below is what those
 * places did before the table existed; a change here is a change of behaviour.
 */
import { describe, expect, it } from 'vitest';
import {
  FAILURE_OUTCOMES,
  HOST_OUTCOMES,
  OUTCOMES,
  countOutcomes,
  emptyOutcomeCounts,
  isSuccess,
  needsALook,
} from '../../../src/apply/outcomes.ts';
import type { HostOutcome } from '../../../src/apply/outcomes.ts';

const where = (keep: (o: HostOutcome) => boolean) => HOST_OUTCOMES.filter(keep);

describe('the outcome table', () => {
  it('lists every outcome once, done first, then what went wrong, then what was not attempted', () => {
    expect(HOST_OUTCOMES).toEqual([
      'changed',
      'would-change',
      'unchanged',
      'failed',
      'rollback-failed',
      'unreachable',
      'locked',
      'stale',
      'blocked',
      'interrupted',
      'skipped',
    ]);
  });

  it('counts a host in a wave that was meant to change and did not against max_failures', () => {
    expect([...FAILURE_OUTCOMES]).toEqual([
      'failed',
      'rollback-failed',
      'unreachable',
      'locked',
      'stale',
    ]);
  });

  it('ends a host on the display as done, failed (a cross) or skipped', () => {
    expect(where(isSuccess)).toEqual(['changed', 'would-change', 'unchanged']);
    expect(where((o) => OUTCOMES[o].ends === 'failed')).toEqual([
      'failed',
      'rollback-failed',
      'unreachable',
      'interrupted',
    ]);
    expect(where((o) => OUTCOMES[o].ends === 'skipped')).toEqual([
      'locked',
      'stale',
      'blocked',
      'skipped',
    ]);
  });

  it('implies exit 4 for an unreachable host, 1 for every other that needs a look, else 0', () => {
    expect(Object.fromEntries(HOST_OUTCOMES.map((o) => [o, OUTCOMES[o].exitCode]))).toEqual({
      changed: 0,
      'would-change': 0,
      unchanged: 0,
      failed: 1,
      'rollback-failed': 1,
      unreachable: 4,
      locked: 1,
      stale: 1,
      blocked: 1,
      interrupted: 1,
      skipped: 0,
    });
    expect(where(needsALook)).toEqual(where((o) => !isSuccess(o) && o !== 'skipped'));
  });

  it('gives each outcome a word and a one-character mark', () => {
    expect(HOST_OUTCOMES.map((o) => `${OUTCOMES[o].mark} ${OUTCOMES[o].word}`)).toEqual([
      '✓ changed',
      '~ would change',
      '· unchanged',
      '✖ failed',
      '✖ ROLLBACK FAILED',
      '✖ unreachable',
      '! locked',
      '! stale',
      '! blocked',
      '! interrupted',
      '- skipped',
    ]);
  });

  it('counts hosts per outcome, every outcome present', () => {
    expect(emptyOutcomeCounts()).toEqual(Object.fromEntries(HOST_OUTCOMES.map((o) => [o, 0])));
    const counts = countOutcomes([
      { outcome: 'failed' },
      { outcome: 'failed' },
      { outcome: 'stale' },
    ]);
    expect(counts).toMatchObject({ failed: 2, stale: 1, changed: 0 });
  });
});
