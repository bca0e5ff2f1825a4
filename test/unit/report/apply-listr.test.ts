/**
 * The listr2 apply renderer, driven by scripted events into a fake stream that is not a terminal:
 * it finishes, never throws, stays within a bounded number of listr tasks with many hosts, and
 * falls back to plain lines when the stream refuses its drawing. No timing assertions.
 */
import { Writable } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { ApplyEvent } from '../../../src/apply/events.ts';
import { createListrRenderer } from '../../../src/report/apply-listr.ts';
import type { ListrApplyRenderer, ListrRendererOptions } from '../../../src/report/apply-listr.ts';
import { plainStyle } from '../../../src/report/style.ts';
import { fleetRun, scriptedRun, strayRun } from './apply-fixtures.ts';

/** A writable stream that is not a terminal and keeps what is written; `refuse` makes it throw. */
function collect(refuse: (chunk: string) => boolean = () => false) {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const write = stream.write.bind(stream);
  stream.write = ((chunk: Buffer | string, ...rest: never[]) => {
    if (refuse(chunk.toString())) throw new Error('EPIPE: the terminal went away');
    return write(chunk, ...rest);
  }) as typeof stream.write;
  return { stream, text: () => chunks.join('') };
}

/** Strips the terminal's escape sequences, to read the frames as text. */
const plain = (s: string) => stripVTControlCharacters(s);

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

function renderer(
  stream: NodeJS.WritableStream,
  extra: Partial<ListrRendererOptions> = {},
): ListrApplyRenderer {
  return createListrRenderer({ output: stream, style: plainStyle, ...extra });
}

async function drive(r: ListrApplyRenderer, events: readonly ApplyEvent[], pause = false) {
  for (const e of events) {
    expect(() => {
      r.onEvent(e);
    }).not.toThrow();
    if (pause) await tick();
  }
  await r.done();
}

describe('createListrRenderer: a tree (few hosts)', () => {
  it('draws waves, hosts and steps, and ends with the summary', async () => {
    const out = collect();
    const r = renderer(out.stream);
    await drive(r, scriptedRun().events, true);
    const text = plain(out.text());
    expect(r.fellBack()).toBe(false);
    expect(text).toContain('wave 1/3: 1 host — 1 changed');
    expect(text).toContain('web02 — rolled back: + load livepatch-x (livepatch_x)');
    expect(text).toContain('+ load livepatch-x (livepatch_x) 0.4s');
    expect(text).toContain('rolled back (1 step)');
    expect(text).toContain('web03 — locked: another run holds the lock');
    expect(text).toContain('wave 3/3: 1 host — not started: halted');
    expect(text).toContain(
      'apply done in 8.2s: 5 hosts — 1 changed, 1 unchanged, 1 failed, 1 locked, 1 skipped (halted)',
    );
    // waves + hosts + their steps, rollbacks and verdicts, and the wait for run-end
    expect(r.tasksCreated()).toBeGreaterThan(5);
  });

  it('names the uncovered hosts under the summary', async () => {
    const out = collect();
    const r = renderer(out.stream);
    const events = scriptedRun().events.map((e) =>
      e.type === 'run-end' ? { ...e, uncovered: [{ host: 'batch04', kernel: '5.14.0-570' }] } : e,
    );
    await drive(r, events, true);
    expect(plain(out.text())).toContain(
      '⚠ 1 host uncovered (exposed): batch04 runs 5.14.0-570, which no declared patch fits',
    );
  });

  it('a stale host: its wave has no tick, the summary says why, what to run next and where the records are', async () => {
    const out = collect();
    const r = renderer(out.stream, {
      next: {
        apply: 'kpfleet apply',
        replan: {
          plan: 'kpfleet plan --limit web01 --out plan.json',
          apply: 'kpfleet apply --limit web01 plan.json',
        },
        report: '/srv/ops/report.json',
        audit: '/home/ops/.local/state/kpfleet/audit.jsonl',
      },
    });
    const stale = {
      host: 'web01',
      wave: 1,
      outcome: 'stale' as const,
      message:
        'its facts changed since the plan was made (fingerprint differs): nothing was done; plan again',
      steps: [],
      durationMs: 300,
    };
    await drive(
      r,
      [
        { type: 'run-start', hosts: 1, waves: [1], check: false, forks: 1 },
        { type: 'wave-start', wave: 1, hosts: ['web01'] },
        { type: 'host-start', host: 'web01', wave: 1 },
        { type: 'host-end', result: stale },
        { type: 'wave-end', wave: 1, failed: 1, attempted: 1, halted: false },
        { type: 'run-end', results: [stale], halted: false, interrupted: false, durationMs: 400 },
      ],
      true,
    );
    const text = plain(out.text());
    expect(r.fellBack()).toBe(false);
    expect(text).toContain('wave 1/1: 1 host — 1 stale');
    expect(text).not.toContain('✔');
    expect(text).toContain(
      '  stale: web01 — its facts changed since the plan was made (fingerprint differs): nothing was done; plan again',
    );
    expect(text).toContain(
      'Next: kpfleet plan --limit web01 --out plan.json, review it, then kpfleet apply --limit web01 plan.json',
    );
    expect(text).toContain('Report: /srv/ops/report.json');
    expect(text).toContain('Audit log: /home/ops/.local/state/kpfleet/audit.jsonl');
  });

  it('finishes with 5 hosts whose events all come at once, collapsed', async () => {
    const out = collect();
    const r = renderer(out.stream);
    const { events } = fleetRun(5, [2, 3], 2);
    await drive(r, events);
    const text = plain(out.text());
    expect(r.fellBack()).toBe(false);
    // every host done: the waves collapse onto their counts
    expect(text).toContain('wave 1/2: 2 hosts — 2 changed');
    expect(text).toContain('wave 2/2: 3 hosts — 3 changed');
    expect(text).toContain('apply done in 1m00s: 5 hosts — 5 changed');
  });
});

describe('createListrRenderer: compact (many hosts)', () => {
  it('keeps a bounded number of listr tasks with 200 hosts', async () => {
    const out = collect();
    const r = renderer(out.stream);
    const { events } = fleetRun(200, [10, 190], 20);
    await drive(r, events);
    const text = plain(out.text());
    expect(r.fellBack()).toBe(false);
    // 2 waves, at most forks (20) lanes and a verdict each, one task that waits for the end
    expect(r.tasksCreated()).toBeLessThanOrEqual(2 + 2 * (20 + 1) + 1);
    expect(text).toContain('wave 1/2 — 10/10 done, 1 failed');
    expect(text).toContain('wave 2/2 — 190/190 done, 40 failed');
    expect(text).toContain(
      'apply done in 1m00s: 200 hosts — 159 changed, 26 failed, 15 unreachable',
    );
    // the hosts of one outcome and reason on one line, the first 8 named, with the reason
    expect(text).toMatch(
      /failed: host0007, host0014, .* and 18 more — \+ load livepatch-x \(livepatch_x\): kpatch load failed/,
    );
    expect(text).toMatch(/unreachable: host0013, .* and 7 more — connection refused/);
    // no wave with a failed host is drawn with a tick
    expect(text).not.toMatch(/✔ wave/);
  });

  it('creates as many tasks for 2000 hosts as for 200', async () => {
    const counts: number[] = [];
    for (const n of [200, 2000]) {
      const out = collect();
      const r = renderer(out.stream, { maxRunningLines: 8 });
      await drive(r, fleetRun(n, [n / 10, n - n / 10], 50).events);
      expect(r.fellBack()).toBe(false);
      counts.push(r.tasksCreated());
    }
    expect(counts[0]).toBe(counts[1]);
    expect(counts[1]).toBeLessThanOrEqual(2 + 2 * (8 + 1) + 1);
  });

  it('shows a running summary and the running hosts while a wave runs', async () => {
    const out = collect();
    const r = renderer(out.stream, { refreshMs: 10 });
    const { events } = fleetRun(60, [60], 10);
    // the display redraws on a timer: halfway through the wave, time for a few redraws (without
    // it, a fast machine could send every event between two redraws and see only the end)
    const half = Math.floor(events.length / 2);
    for (const e of events.slice(0, half)) {
      r.onEvent(e);
      await tick();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    await drive(r, events.slice(half), true);
    const text = plain(out.text());
    expect(text).toMatch(/wave 1\/1 — \d+\/60 done(, \d+ failed)?, \d+ running/);
    expect(text).toMatch(
      /host00\d\d {2}(connect|lock|facts|\+ load livepatch-x \(livepatch_x\) \(1\/1\))/,
    );
  });

  it('uses the compact display above compactAbove hosts only', async () => {
    const out = collect();
    const r = renderer(out.stream, { compactAbove: 3 });
    await drive(r, fleetRun(5, [5], 2).events);
    expect(plain(out.text())).toContain('wave 1/1 — 5/5 done');
  });
});

describe('createListrRenderer: robustness', () => {
  it('falls back to plain lines when the stream refuses the drawing', async () => {
    const out = collect((chunk) => chunk.includes('\u001b'));
    const r = renderer(out.stream, { now: () => new Date(2024, 4, 1, 12, 0, 0) });
    const [start, ...rest] = scriptedRun().events;
    if (start === undefined) throw new Error('no events');
    r.onEvent(start);
    for (let i = 0; i < 1000 && !r.fellBack(); i++) await tick();
    expect(r.fellBack()).toBe(true);
    await drive(r, rest);
    const text = out.text();
    expect(text).toContain('the progress display failed (EPIPE: the terminal went away)');
    expect(text).toContain('12:00:00 wave 1/3: 1 host\n');
    expect(text).toContain('12:00:00 web02  ✖ rolled back: + load livepatch-x (livepatch_x)');
    expect(text).toContain('12:00:00 apply done in 8.2s: 5 hosts');
  });

  it('never throws and still finishes when nothing can be written at all', async () => {
    const out = collect(() => true);
    const r = renderer(out.stream);
    await drive(r, fleetRun(30, [30], 5).events, true);
    expect(r.fellBack()).toBe(true);
    expect(out.text()).toBe('');
  });

  it('finishes when the run stops short of run-end, or never started', async () => {
    const out = collect();
    const r = renderer(out.stream);
    const events = scriptedRun().events;
    await drive(r, events.slice(0, 15));
    expect(r.fellBack()).toBe(false);
    expect(plain(out.text())).toContain('wave 3/3: 1 host — not started');

    const idle = renderer(collect().stream);
    await idle.done();
    expect(idle.tasksCreated()).toBe(0);
  });

  it('ignores events it cannot place', async () => {
    const out = collect();
    const r = renderer(out.stream);
    const stray = strayRun();
    await drive(r, stray);
    expect(r.fellBack()).toBe(false);
  });

  it('leaves Ctrl-C to the CLI', async () => {
    const before = process.listenerCount('SIGINT');
    const r = renderer(collect().stream);
    r.onEvent({ type: 'run-start', hosts: 1, waves: [1], check: false, forks: 1 });
    expect(process.listenerCount('SIGINT')).toBe(before);
    await r.done();
    expect(process.listenerCount('SIGINT')).toBe(before);
  });
});
