/** The plain apply renderer (CI, not a terminal): exact lines for scripted runs. */
import { describe, expect, it } from 'vitest';
import type { ApplyEvent, HostResult } from '../../../src/apply/events.ts';
import { createPlainRenderer } from '../../../src/report/apply-plain.ts';
import { clock, describeHostEnd, formatElapsed } from '../../../src/report/apply-text.ts';
import { colorStyle, plainStyle } from '../../../src/report/style.ts';
import type { Style } from '../../../src/report/style.ts';
import { load, scriptedRun, step } from './apply-fixtures.ts';

/** A clock that starts at 12:00:00 local time and moves one second each time it is read. */
function ticking(): () => Date {
  let t = new Date(2024, 4, 1, 12, 0, 0).getTime();
  return () => new Date((t += 1000));
}

function render(events: readonly ApplyEvent[], style: Style = plainStyle): string[] {
  const lines: string[] = [];
  const r = createPlainRenderer((l) => lines.push(l), style, { now: ticking() });
  for (const e of events) r.onEvent(e);
  return lines;
}

describe('createPlainRenderer', () => {
  it('writes one line per event that matters, then the summary', () => {
    expect(render(scriptedRun().events)).toEqual([
      '12:00:01 apply: 5 hosts in 3 waves (1, 2, 1), forks 10',
      '12:00:02 wave 1/3: 1 host',
      '12:00:08 web01  + upload patches/livepatch-x.ko → ~/.kpfleet/stage/efefefefefefefef/livepatch-x.ko ✓ 0.8s',
      '12:00:10 web01  + load livepatch-x (livepatch_x) ✓ 1.2s',
      '12:00:12 web01  ✓ changed: 2 changes done and verified (3.1s)',
      '12:00:13 wave 1/3 done: 1 host',
      '12:00:14 wave 2/3: 2 hosts',
      '12:00:21 web03  ! locked: another run holds the lock (run 2024-05-01T11:59:00.000Z-1a2b3c4d by ops@bastion)',
      '12:00:24 web02  + load livepatch-x (livepatch_x) ✖ 0.4s: verification: /sys/kernel/livepatch/livepatch_x/enabled is 0',
      '12:00:24 web02    │ loading patch module: /var/lib/kpatch/livepatch_x.ko',
      '12:00:24 web02    │ waiting (up to 15 seconds) for patch transition to complete...',
      '12:00:24 web02    │ transition failed',
      '12:00:25 web02  rolling back',
      '12:00:27 web02  rollback: - unload livepatch_x ✓ 0.3s',
      '12:00:29 web02  ✖ rolled back: + load livepatch-x (livepatch_x): verification: /sys/kernel/livepatch/livepatch_x/enabled is 0 (2.5s)',
      '12:00:30 wave 2/3 done: 2 hosts, 2 failed',
      '12:00:30 halted after wave 2/3: more hosts failed than max_failures allows; no further wave starts',
      '12:00:31 apply done in 8.2s: 5 hosts — 1 changed, 1 unchanged, 1 failed, 1 locked, 1 skipped (halted)',
      '12:00:31   failed: web02 — + load livepatch-x (livepatch_x): verification: /sys/kernel/livepatch/livepatch_x/enabled is 0; rolled back',
      '12:00:31   locked: web03 — another run holds the lock (run 2024-05-01T11:59:00.000Z-1a2b3c4d by ops@bastion)',
      '12:00:31   skipped: web04 — halted: earlier waves failed more than max_failures allows',
    ]);
  });

  it('apply --wave K names the wave as K of the whole plan’s waves, not 1 of 1', () => {
    const lines = render([
      {
        type: 'run-start',
        hosts: 2,
        waves: [2],
        check: false,
        forks: 5,
        onlyWave: { wave: 3, of: 4 },
      },
      { type: 'wave-start', wave: 3, hosts: ['web05', 'web06'] },
      { type: 'wave-end', wave: 3, failed: 0, attempted: 2, halted: false },
    ]);
    expect(lines.slice(1)).toEqual([
      '12:00:02 wave 3/4: 2 hosts',
      '12:00:03 wave 3/4 done: 2 hosts',
    ]);
  });

  it('is deterministic given the clock', () => {
    expect(render(scriptedRun().events)).toEqual(render(scriptedRun().events));
  });

  it('colours failures red and successes green', () => {
    const lines = render(scriptedRun().events, colorStyle);
    const red = '\u001b[31m';
    const failedStep = lines.find((l) => l.includes('+ load livepatch-x (livepatch_x) ✖'));
    expect(failedStep).toContain(`${red}+ load livepatch-x (livepatch_x) ✖ 0.4s: verification:`);
    expect(lines.find((l) => l.includes('rolled back:'))).toContain(red);
    expect(
      lines.find((l) => l.includes('+ load livepatch-x (livepatch_x)') && l.includes('✓')),
    ).toContain('\u001b[32m✓');
    expect(lines.find((l) => l.includes('halted after'))).toContain(red);
  });

  it('aligns host names within a wave', () => {
    const lines = render([
      { type: 'run-start', hosts: 2, waves: [2], check: false, forks: 2 },
      { type: 'wave-start', wave: 1, hosts: ['a', 'web-long-name'] },
      {
        type: 'host-end',
        result: {
          host: 'a',
          wave: 1,
          outcome: 'unchanged',
          message: 'ok',
          steps: [],
          durationMs: 0,
        },
      },
    ]);
    expect(lines[2]).toBe('12:00:03 a              · unchanged: ok');
  });

  it('says when the run is a check, and when it was interrupted', () => {
    const interrupted: HostResult = {
      host: 'web01',
      wave: 1,
      outcome: 'interrupted',
      message: 'interrupted after 1 of 2 changes; apply again converges it',
      steps: [step(load('livepatch_x'), true, 1000)],
      durationMs: 1500,
    };
    const skipped: HostResult = {
      host: 'web02',
      wave: 1,
      outcome: 'skipped',
      message: 'interrupted before it started',
      steps: [],
      durationMs: 0,
    };
    const lines = render([
      { type: 'run-start', hosts: 2, waves: [2], check: false, forks: 1 },
      { type: 'wave-start', wave: 1, hosts: ['web01', 'web02'] },
      { type: 'host-end', result: interrupted },
      { type: 'host-end', result: skipped },
      { type: 'wave-end', wave: 1, failed: 0, attempted: 2, halted: false },
      {
        type: 'run-end',
        results: [interrupted, skipped],
        halted: false,
        interrupted: true,
        durationMs: 2000,
      },
    ]);
    expect(lines.slice(2)).toEqual([
      '12:00:03 web01  ! interrupted: interrupted after 1 of 2 changes; apply again converges it (1.5s)',
      '12:00:04 web02  - skipped: interrupted before it started',
      '12:00:05 wave 1/1 done: 2 hosts',
      '12:00:06 interrupted: the steps in flight finished; no other started',
      '12:00:06 apply done in 2.0s: 2 hosts — 1 interrupted, 1 skipped (interrupted)',
      '12:00:06   interrupted: web01 — interrupted after 1 of 2 changes; apply again converges it',
      '12:00:06   skipped: web02 — interrupted before it started',
    ]);

    const check = render([
      { type: 'run-start', hosts: 3, waves: [3], check: true, forks: 5 },
      {
        type: 'run-end',
        results: [
          {
            host: 'a',
            wave: 1,
            outcome: 'would-change',
            message: '2 changes would be made',
            steps: [],
            durationMs: 0,
          },
        ],
        halted: false,
        interrupted: false,
        durationMs: 100,
      },
    ]);
    expect(check).toEqual([
      '12:00:01 check (nothing is changed): 3 hosts in 1 wave (3), forks 5',
      '12:00:02 check done in 0.1s: 1 host — 1 would change',
    ]);
  });

  it('shows a host error code and hint, and caps the names in the summary', () => {
    const unreachable = (i: number): HostResult => ({
      host: `h${String(i)}`,
      wave: 1,
      outcome: 'unreachable',
      message: 'connection refused',
      steps: [],
      durationMs: 5,
      error: { code: 'E_UNREACHABLE', message: 'connection refused', hint: 'is sshd running?' },
    });
    const results = Array.from({ length: 23 }, (_, i) => unreachable(i + 1));
    const lines = render([
      { type: 'host-end', result: results[0] ?? unreachable(0) },
      { type: 'run-end', results, halted: false, interrupted: false, durationMs: 90_500 },
    ]);
    expect(lines).toEqual([
      '12:00:01 h1  ✖ unreachable: connection refused [E_UNREACHABLE]',
      '12:00:01 h1    hint: is sshd running?',
      '12:00:02 apply done in 1m31s: 23 hosts — 23 unreachable',
      // one line per outcome and reason, the names as ranges
      '12:00:02   unreachable: h1–h9, h10–h23 — connection refused [E_UNREACHABLE]',
    ]);
  });

  it('names the uncovered hosts apart in the summary, whatever their outcome', () => {
    const unchanged: HostResult = {
      host: 'batch04',
      wave: 0,
      outcome: 'unchanged',
      message: 'nothing to do: nothing declared fits kernel 5.14.0-570.12.1.el9_6.x86_64',
      steps: [],
      durationMs: 0,
    };
    const lines = render([
      {
        type: 'run-end',
        results: [unchanged],
        halted: false,
        interrupted: false,
        durationMs: 1000,
        uncovered: [{ host: 'batch04', kernel: '5.14.0-570.12.1.el9_6.x86_64' }],
      },
    ]);
    expect(lines).toEqual([
      '12:00:01 apply done in 1.0s: 1 host — 1 unchanged',
      '12:00:01   ⚠ 1 host uncovered (exposed): batch04 runs 5.14.0-570.12.1.el9_6.x86_64, which no declared patch fits',
    ]);
  });

  it('keeps the tail of a long output, and one line per error', () => {
    const output = Array.from({ length: 14 }, (_, i) => `line ${String(i + 1)}`).join('\n');
    const lines = render([
      {
        type: 'step-end',
        host: 'web01',
        index: 0,
        step: step(load('x'), false, 100, { error: 'exit 1\nsee above', output }),
      },
    ]);
    expect(lines).toEqual([
      '12:00:01 web01  + load x ✖ 0.1s: exit 1 ⏎ see above',
      '12:00:01 web01    │ … 4 lines before',
      ...Array.from({ length: 10 }, (_, i) => `12:00:01 web01    │ line ${String(i + 5)}`),
    ]);
  });
});

describe('helpers', () => {
  it('formats durations', () => {
    expect(
      [0, 49, 50, 1234, 59_949, 59_950, 125_000, 3_600_000, 3_725_000, -5, NaN].map(formatElapsed),
    ).toEqual([
      '0.0s',
      '0.0s',
      '0.1s',
      '1.2s',
      '59.9s',
      '1m00s',
      '2m05s',
      '1h00m',
      '1h02m',
      '0.0s',
      '0.0s',
    ]);
  });

  it('formats the clock as HH:MM:SS local time', () => {
    expect(clock(new Date(2024, 0, 2, 3, 4, 5))).toBe('03:04:05');
  });

  it('describes a failed host without a rollback as failed', () => {
    expect(
      describeHostEnd({
        host: 'a',
        wave: 1,
        outcome: 'failed',
        message: 'health check failed (exit 1)',
        steps: [step(load('x'), true, 1000)],
        durationMs: 2000,
      }),
    ).toBe('✖ failed: health check failed (exit 1) (2.0s)');
  });
});
