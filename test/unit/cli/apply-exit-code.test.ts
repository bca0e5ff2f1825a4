/** apply's exit code from its hosts' outcomes (docs/exit-codes.md): 130 > 4 > 1 > 0. */
import { describe, expect, it } from 'vitest';
import type { HostResult } from '../../../src/apply/events.ts';
import { HOST_OUTCOMES, OUTCOMES } from '../../../src/apply/outcomes.ts';
import type { HostOutcome } from '../../../src/apply/outcomes.ts';
import { applyExitCode } from '../../../src/cli/commands/apply.ts';

const host = (outcome: HostOutcome, i = 0): HostResult => ({
  host: `h${String(i)}`,
  wave: 1,
  outcome,
  message: outcome,
  steps: [],
  durationMs: 0,
});

describe('applyExitCode', () => {
  it('is the exit code the outcome table gives a lone host', () => {
    for (const o of HOST_OUTCOMES)
      expect(applyExitCode([host(o)], false, false), o).toBe(OUTCOMES[o].exitCode);
  });

  it('takes the most severe: unreachable over a failed change, failed over changed', () => {
    expect(
      applyExitCode([host('changed'), host('failed', 1), host('unreachable', 2)], false, false),
    ).toBe(4);
    expect(applyExitCode([host('changed'), host('stale', 1)], false, false)).toBe(1);
    expect(applyExitCode([host('changed'), host('unchanged', 1)], false, false)).toBe(0);
    expect(applyExitCode([], false, false)).toBe(0);
  });

  it('is 1 at least when the rollout halted, and 130 when interrupted whatever the hosts', () => {
    expect(applyExitCode([host('changed'), host('skipped', 1)], true, false)).toBe(1);
    expect(applyExitCode([host('unreachable'), host('skipped', 1)], true, false)).toBe(4);
    expect(applyExitCode([host('changed'), host('unreachable', 1)], false, true)).toBe(130);
  });
});
