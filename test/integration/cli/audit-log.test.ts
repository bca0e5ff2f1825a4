/**
 * The audit log written as the run goes (src/cli/apply-records.ts, createAuditLog), into real
 * files, driven by a scripted apply's events: what is on disk after each event is what a kill at
 * that moment would leave (docs/exit-codes.md, "Files kpfleet writes").
 */
import {
  fstatSync,
  fsync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { afterRecords, createAuditLog } from '../../../src/cli/apply-records.ts';
import type { AuditLog, PlannedHost } from '../../../src/cli/apply-records.ts';
import type { ApplyEvent } from '../../../src/apply/events.ts';
import { DurableAppender } from '../../../src/cli/output-files.ts';
import type { FsyncOps } from '../../../src/cli/output-files.ts';
import type { CliIo } from '../../../src/cli/io.ts';
import { TMP_BASE } from '../../../lab/host-dir.ts';
import { FP_BEFORE, scriptedRun } from '../../unit/report/apply-fixtures.ts';
import { stopApply } from '../../../src/cli/signals.ts';
import { kpatchInstall } from '../../../lab/model.ts';
import { apply, EL9, filePatch, MemoryFleet } from '../../unit/apply/memory/harness.ts';

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

/** An I/O error as fsync reports it (a disk that failed a write back: Linux then marks the pages clean). */
const eio = (): NodeJS.ErrnoException =>
  Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });

/** fsyncs that do nothing, the async ones answered when the test says (`answer`, in order). */
function heldFsyncs(): FsyncOps & {
  answer: (err: NodeJS.ErrnoException | null) => void;
  waiting: () => number;
} {
  const held: ((err: NodeJS.ErrnoException | null) => void)[] = [];
  const ops = {
    fsync: (_fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
      held.push(cb);
    },
    answer: (err: NodeJS.ErrnoException | null) => held.shift()?.(err),
    waiting: () => held.length,
  };
  return ops;
}

/** The records on stderr, as [host, result]. */
function onStderr(): [string, string][] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      const r = JSON.parse(l) as { host: string; result: string };
      return [r.host, r.result];
    });
}

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

const web03Result = () => {
  const r = scriptedRun().results.find((x) => x.host === 'web03');
  if (r === undefined) throw new Error('no web03 in the scripted run');
  return r;
};

/** An audit log at DIR/audit.jsonl (`fs`: its fsyncs) whose web01 started; web03's end, to come. */
function web01Started(fs?: FsyncOps, fsyncWaitMs?: number) {
  const path = join(DIR, 'audit.jsonl');
  const log = createAuditLog(
    { label: `the audit log ${path}`, path },
    RUN,
    PLANNED,
    io,
    fs,
    fsyncWaitMs,
  );
  const web03 = scriptedRun().results.find((r) => r.host === 'web03');
  if (web03 === undefined) throw new Error('no web03 in the scripted run');
  log.onEvent({
    type: 'step-start',
    host: 'web01',
    index: 0,
    total: 2,
    label: 'x',
    rollback: false,
  });
  return { path, log, web03 };
}

describe('the audit log of a run', () => {
  it('has each record in the file (what a kill leaves) when its event has been seen: started before the first change, the end at host-end', async () => {
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
    await log.finish(results);
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
    await log.finish([]);
    expect(log.ok).toBe(true);
    expect(stderr).toBe('');
  });

  it('once an append fails: the error once, then every later record of the run on stderr; not ok', async () => {
    // a folder where the log should be: the append fails (EISDIR) as a full disk would
    const path = join(DIR, 'gone');
    mkdirSync(path);
    const log = createAuditLog({ label: `the audit log ${path}`, path }, RUN, PLANNED, io);
    const { events, results } = scriptedRun();
    for (const e of events) log.onEvent(e);
    await log.finish(results);
    expect(log.ok).toBe(false);
    expect(stderr.match(/^error: .*while writing the audit log .*gone$/gm)).toHaveLength(1);
    expect(stderr).toContain('The audit records of this run from here on, not known to be in');
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

  it('an fsync that fails while an end record was fsynced meanwhile: the records it covered are on stderr', async () => {
    // Linux reports a failed write back to one fsync of the file: another one running at the same
    // time (the end record's, on the main thread) may return 0 with the record lost all the same
    const fs = heldFsyncs();
    const { log, web03 } = web01Started(fs);
    const waited = log.durable();
    expect(fs.waiting()).toBe(1);
    // web03 ends while web01's fsync runs: its fsync returns at once, without error
    log.onEvent({ type: 'host-end', result: web03 });
    expect(stderr).toBe('');
    fs.answer(eio());
    await waited;
    expect(log.ok).toBe(false);
    expect(stderr.match(/^error: input\/output error while writing the audit log/gm)).toHaveLength(
      1,
    );
    // neither is known on disk: both on stderr
    expect(onStderr()).toEqual([
      ['web01', 'started'],
      ['web03', 'locked'],
    ]);
    await log.finish([]);
  });

  it('an fsync that never returns (a hung disk, a dead NFS server): after the bound the log counts as failed, as a failed fsync does', async () => {
    const fs = heldFsyncs();
    // the bound (AUDIT_FSYNC_WAIT_MS, 60 s) made short
    const { path, log, web03 } = web01Started(fs, 20);
    const t0 = performance.now();
    // the step that awaits its started record: it goes on once the bound has passed
    await log.durable();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(15);
    expect(fs.waiting()).toBe(1);
    expect(log.ok).toBe(false);
    expect(
      stderr.match(
        /^error: records were not on disk 0\.02 s after they were written \(an fsync hung: a hung disk or network file system\) while writing the audit log .*audit\.jsonl$/gm,
      ),
    ).toHaveLength(1);
    expect(stderr).toContain('hint: put the audit log on a local disk (--audit-log FILE)');
    expect(onStderr()).toEqual([['web01', 'started']]);
    // from here on: every record on stderr, and no wait at all
    log.onEvent({ type: 'host-end', result: web03 });
    await log.durable();
    expect(fs.waiting()).toBe(1);
    // the hung fsync returning late changes nothing: the records are on stderr already
    fs.answer(null);
    await log.durable();
    await log.finish([]);
    expect(log.ok).toBe(false);
    expect(onStderr()).toEqual([
      ['web01', 'started'],
      ['web03', 'locked'],
    ]);
    expect(onDisk(path)).toEqual([['web01', 'started']]);
  });

  it('once the log failed at the bound, every wait already under way ends too (not each at its own bound)', async () => {
    const fs = heldFsyncs();
    const { log } = web01Started(fs, 200);
    const t0 = performance.now();
    const first = log.durable();
    await new Promise((r) => setTimeout(r, 150));
    // a rollback step's wait (or a host end's), begun just before the first wait's bound
    log.onEvent({ type: 'host-end', result: web03Result() });
    const second = log.durable();
    await first;
    expect(log.ok).toBe(false);
    const failedAt = performance.now() - t0;
    await second;
    // the log failed: nothing more is waited for (before: the second wait ran its own 200 ms)
    expect(performance.now() - t0 - failedAt).toBeLessThan(100);
  });

  it('the end of the run waits for its fsync off the main thread, bounded: a hung disk does not hold it', async () => {
    const fs = heldFsyncs();
    const { log } = web01Started(fs, 20);
    const first = log.durable();
    fs.answer(null);
    // then its folder's (a new file), off the main thread too
    await new Promise((r) => setImmediate(r));
    expect(fs.waiting()).toBe(1);
    fs.answer(null);
    await first;
    expect(log.ok).toBe(true);
    const { results } = scriptedRun();
    // the disk hangs from here on: the records of finish are never known on disk
    await log.finish(results.filter((r) => r.host === 'db01'));
    expect(fs.waiting()).toBe(1);
    expect(log.ok).toBe(false);
    expect(stderr).toMatch(/^error: records were not on disk 0\.02 s after they were written/m);
    expect(onStderr()).toEqual([['db01', 'unchanged']]);
  });

  it('after a failed fsync, another fsync is not taken as success: durable fails, the text kept', async () => {
    const path = join(DIR, 'audit.jsonl');
    const fs = heldFsyncs();
    const file = new DurableAppender({ label: `the audit log ${path}`, path }, fs);
    file.append('one\n');
    const first = file.durable();
    fs.answer(eio());
    await expect(first).rejects.toThrow(/input\/output error/);
    // the pages were marked clean: a second fsync returns 0 and says nothing of 'one'
    file.append('two\n');
    const again = file.durable();
    fs.answer(null);
    await expect(again).rejects.toThrow(/input\/output error/);
    expect(file.unsynced()).toBe('one\ntwo\n');
    file.close();
  });

  it.each([
    ['replaced by a rename (sed -i)', 'replaced'],
    ['removed', 'removed'],
  ])(
    'a log %s during the run: a failed append, the records it would have swallowed on stderr',
    async (_, how) => {
      // the log is kept open: what is written after would go to a file no name reaches
      const { path, log, web03 } = web01Started();
      await log.durable();
      if (how === 'replaced') {
        writeFileSync(join(DIR, 'copy'), readFileSync(path));
        renameSync(join(DIR, 'copy'), path);
      } else unlinkSync(path);
      log.onEvent({ type: 'host-end', result: web03 });
      // its fsync (which the renderers await before they show the host's end) finds it
      await log.durable();
      expect(log.ok).toBe(false);
      expect(stderr).toMatch(
        /^error: .*removed or replaced during the run.* while writing the audit log/m,
      );
      expect(onStderr()).toEqual([['web03', 'locked']]);
      await log.finish([]);
    },
  );

  it('`durable` after the file was closed with text not fsynced fails (it does not wait, or spin, forever)', async () => {
    const path = join(DIR, 'audit.jsonl');
    const fs = heldFsyncs();
    const file = new DurableAppender({ label: `the audit log ${path}`, path }, fs);
    file.append('one\n');
    file.close();
    await expect(file.durable()).rejects.toThrow(/closed before .* fsynced/);
    expect(file.unsynced()).toBe('one\n');
  });

  it("shows a host's end only once the records are on disk, and every later event after it, in order", async () => {
    const path = join(DIR, 'audit.jsonl');
    const real = createAuditLog({ label: `the audit log ${path}`, path }, RUN, PLANNED, io);
    // the audit log's fsync, held until the test lets it end
    const fsyncs: (() => void)[] = [];
    const log: AuditLog = {
      onEvent: (e) => {
        real.onEvent(e);
      },
      durable: () => new Promise<void>((res) => fsyncs.push(res)),
      finish: (r) => real.finish(r),
      abandon: (m) => real.abandon(m),
      get ok() {
        return real.ok;
      },
    };
    const shown: ApplyEvent[] = [];
    const view = afterRecords(log, (e) => shown.push(e));
    const { events } = scriptedRun();
    const ends = events.flatMap((e, k) => (e.type === 'host-end' ? [k] : []));
    expect(ends.length).toBeGreaterThan(1);
    for (const e of events) view.onEvent(e);
    // every record is in the file already (what a kill leaves); shown: only what came before the
    // first host-end, the rest waits for the fsync
    expect(onDisk(path).map(([h, r]) => `${h} ${r}`)).toContain('web01 changed');
    expect(shown).toEqual(events.slice(0, ends[0]));
    const settle = () => new Promise((r) => setTimeout(r, 0));
    for (const [k] of ends.entries()) {
      await settle();
      // nothing more shown while the fsync runs
      expect(shown).toEqual(events.slice(0, ends[k]));
      expect(fsyncs).toHaveLength(1);
      fsyncs.shift()?.();
      await settle();
      // its end, and what came after it up to the next host-end
      expect(shown).toEqual(events.slice(0, ends[k + 1] ?? events.length));
    }
    await view.settled();
    // without an audit log: everything at once
    const plain: ApplyEvent[] = [];
    const bare = afterRecords(undefined, (e) => plain.push(e));
    for (const e of events) bare.onEvent(e);
    expect(plain).toEqual(events);
  });
});

describe('the audit log fails during a run: the run stops as on Ctrl-C (stopApply)', () => {
  const CVE = filePatch('cve-2024-1086');
  const MOD = CVE.module.name;
  const PROJECT = { patches: [CVE], want: { 'cve-2024-1086': 'loaded' as const } };
  const loaded = (h: { model: { sysfs: Map<string, { enabled: boolean }> } }): boolean =>
    h.model.sysfs.get(MOD)?.enabled === true;

  it("an fsync fails after h001's first step started: h001's next exec and h002's waiting step are never sent; both end interrupted, unlocked", async () => {
    const path = join(DIR, 'audit.jsonl');
    // the first fsync of the file (the started records) passes, every later one fails; its
    // folder's are real
    let n = 0;
    const fs: FsyncOps = {
      fsync: (fd, done) => {
        if (fstatSync(fd).isDirectory()) {
          fsync(fd, done);
          return;
        }
        const fail = ++n > 1;
        setImmediate(() => done(fail ? eio() : null));
      },
    };
    const fleet = new MemoryFleet(2, PROJECT);
    // h002 has the module installed already: one change (load) to h001's three (the upload,
    // then install and load in one exec); its started record comes after h001's first fsync
    kpatchInstall(fleet.host('h002').model, EL9, CVE.module.sha256, 'livepatch-cve-2024-1086.ko');
    const plan = await fleet.plan();
    const abort = new AbortController();
    const phase = { abort, graceMs: 1000, onAbandon: () => undefined };
    const planned = new Map(
      plan.hosts.map((h) => [h.host, { fingerprint: null, changes: h.changes.map(String) }]),
    );
    const log = createAuditLog(
      { label: `the audit log ${path}`, path },
      RUN,
      planned,
      io,
      fs,
      1000,
      () => stopApply(phase, io, `the audit log ${path} failed`),
    );
    const r = await apply(fleet, plan, {
      forks: 2,
      signal: abort.signal,
      recorded: () => log.durable(),
      onEvent: (e) => log.onEvent(e),
    });
    await log.finish(r.results);
    expect(log.ok).toBe(false);
    expect(r.interrupted).toBe(true);
    const h1 = fleet.host('h001');
    // the upload was done and verified; install and load never sent
    expect(r.by.get('h001')?.steps.map((s) => s.change.action)).toEqual(['upload']);
    expect(h1.log).not.toContain(`install ${MOD}`);
    expect(h1.log).not.toContain(`load ${MOD}`);
    expect(r.by.get('h001')).toMatchObject({
      outcome: 'interrupted',
      message: expect.stringMatching(/^interrupted after 1 of 3 changes/) as unknown,
    });
    expect(h1.lock).toBeUndefined();
    // h002's started record was the failed fsync's: its step waited for it and was not sent
    const h2 = fleet.host('h002');
    expect(h2.log).toEqual(['hold', 'probe', 'release']);
    expect(r.by.get('h002')).toMatchObject({
      outcome: 'interrupted',
      steps: [],
      message: expect.stringMatching(/^interrupted after 0 of 1 changes/) as unknown,
    });
    expect(loaded(h2)).toBe(false);
    expect(stderr).toContain(
      `the audit log ${path} failed: finishing the steps in flight; no new host or step starts`,
    );
  });
});
