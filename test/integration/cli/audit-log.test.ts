/**
 * The audit log written as the run goes (src/cli/apply-records.ts, createAuditLog), into real
 * files, driven by a scripted apply's events: what is on disk after each event is what a kill at
 * that moment would leave (docs/exit-codes.md, "Files kpfleet writes").
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createAuditLog } from '../../../src/cli/apply-records.ts';
import type { PlannedHost } from '../../../src/cli/apply-records.ts';
import type { CliIo } from '../../../src/cli/io.ts';
import { TMP_BASE } from '../../../lab/host-dir.ts';
import { FP_BEFORE, scriptedRun } from '../../unit/report/apply-fixtures.ts';

const DIR = join(TMP_BASE, `audit-log-${String(process.pid)}`);
const RUN = {
  time: '2024-05-01T12:00:00.000Z',
  operator: 'ops@bastion',
  configCommit: null,
  configFingerprint: null,
};
const PLANNED = new Map<string, PlannedHost>([
  ['web01', { fingerprint: FP_BEFORE, changes: ['upload livepatch-x.ko', '+ load livepatch_x'] }],
  ['web02', { fingerprint: FP_BEFORE, changes: ['+ load livepatch_x'] }],
  ['web03', { fingerprint: FP_BEFORE, changes: ['+ load livepatch_x'] }],
  ['web04', { fingerprint: FP_BEFORE, changes: ['+ load livepatch_x'] }],
]);

let stderr = '';
const io: CliIo = {
  stdout: { write: () => true },
  stderr: { write: (s: string) => (stderr += s) },
  env: { NO_COLOR: '1' },
  cwd: DIR,
};

beforeEach(() => {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  stderr = '';
});
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

function onDisk(path: string): [string, string][] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const r = JSON.parse(l) as { host: string; result: string };
      return [r.host, r.result];
    });
}

describe('the audit log of a run', () => {
  it('has each record on disk when its event has been seen: started before the first change, the end at host-end', () => {
    const path = join(DIR, 'audit.jsonl');
    const log = createAuditLog({ label: `the audit log ${path}`, path }, RUN, PLANNED, io);
    const { events, results } = scriptedRun();
    const seen: string[] = [];
    for (const e of events) {
      log.onEvent(e);
      // what a SIGKILL right after this event leaves
      if (e.type === 'step-start' && e.host === 'web01' && e.index === 0)
        expect(onDisk(path)).toEqual([['web01', 'started']]);
      if (e.type === 'host-end') {
        seen.push(e.result.host);
        expect(onDisk(path).at(-1)).toEqual([e.result.host, e.result.outcome]);
      }
    }
    expect(seen).toEqual(['web01', 'web03', 'web02']);
    expect(onDisk(path)).toEqual([
      ['web01', 'started'],
      ['web01', 'changed'],
      ['web03', 'locked'],
      // web02's rollback step starts no second record
      ['web02', 'started'],
      ['web02', 'failed'],
    ]);
    // the hosts that did not end during the run: recorded at its end, in the report's order
    log.finish(results);
    expect(onDisk(path).slice(5)).toEqual([
      ['db01', 'unchanged'],
      ['web04', 'skipped'],
    ]);
    expect(log.ok).toBe(true);
    expect(stderr).toBe('');
    const started = readFileSync(path, 'utf8').split('\n')[0] ?? '';
    expect(JSON.parse(started)).toMatchObject({
      time: RUN.time,
      before: { fingerprint: FP_BEFORE },
      message: expect.stringContaining('upload livepatch-x.ko; + load livepatch_x') as unknown,
    });
  });

  it('`durable` resolves with every record written so far on disk, however many wait at once', async () => {
    const path = join(DIR, 'audit.jsonl');
    const log = createAuditLog({ label: `the audit log ${path}`, path }, RUN, PLANNED, io);
    const hosts = ['web01', 'web02', 'web03', 'web04'];
    for (const host of hosts)
      log.onEvent({ type: 'step-start', host, index: 0, total: 1, label: 'x', rollback: false });
    await Promise.all(hosts.map(() => log.durable()));
    expect(onDisk(path)).toEqual(hosts.map((h) => [h, 'started']));
    // nothing new: at once
    await log.durable();
    log.finish([]);
    expect(log.ok).toBe(true);
    expect(stderr).toBe('');
  });

  it('once an append fails: the error once, then every later record of the run on stderr; not ok', () => {
    // a folder where the log should be: the append fails (EISDIR) as a full disk would
    const path = join(DIR, 'gone');
    mkdirSync(path);
    const log = createAuditLog({ label: `the audit log ${path}`, path }, RUN, PLANNED, io);
    const { events, results } = scriptedRun();
    for (const e of events) log.onEvent(e);
    log.finish(results);
    expect(log.ok).toBe(false);
    expect(stderr.match(/^error: .*while writing the audit log .*gone$/gm)).toHaveLength(1);
    expect(stderr).toContain('The audit records of this run from here on, which are NOT in');
    const records = stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => {
        const r = JSON.parse(l) as { host: string; result: string };
        return [r.host, r.result];
      });
    expect(records).toEqual([
      ['web01', 'started'],
      ['web01', 'changed'],
      ['web03', 'locked'],
      ['web02', 'started'],
      ['web02', 'failed'],
      ['db01', 'unchanged'],
      ['web04', 'skipped'],
    ]);
  });
});
