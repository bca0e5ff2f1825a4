/**
 * An apply whose audit log fails stops as on Ctrl-C (src/cli/commands/apply.ts, signals.ts
 * stopApply), in-process against lab hosts (real SSH, the simulator's state): no step is sent
 * once the log failed (a step waiting for its `started` record is not sent), the hosts not yet
 * started are not started, each host ends in its known state, the report is written and says
 * interrupted, and the run exits 74 saying why it stopped and that running again converges.
 * The audit log's fsync (node:fs `fsync`, the one DurableAppender calls) fails from the Nth call
 * on a file (its folder's fsyncs are real): an I/O error as a failing disk reports it.
 */
import type * as FsModule from 'node:fs';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { runInProcess } from '../../cli-in-process.ts';
import { CVE, EL9, makePatchFile, writeProject } from '../../project.ts';
import { Lab } from '../../../lab/lab.ts';
import type { LabHost } from '../../../lab/lab.ts';
import { TMP_BASE } from '../../../lab/host-dir.ts';

const fsyncs: { files: number; failFrom: number } = { files: 0, failFrom: Infinity };
/** Writes to an audit log (a `.jsonl` file), failing from the Nth on: a disk that fills up. */
const writes: { n: number; failFrom: number } = { n: 0, failFrom: Infinity };

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof FsModule>();
  const fsync = (fd: number, done: (err: NodeJS.ErrnoException | null) => void): void => {
    if (fs.fstatSync(fd).isFile() && ++fsyncs.files >= fsyncs.failFrom) {
      setImmediate(() => done(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' })));
      return;
    }
    fs.fsync(fd, done);
  };
  const writeSync = ((fd: number, ...rest: unknown[]): number => {
    let path = '';
    try {
      path = fs.readlinkSync(`/proc/self/fd/${String(fd)}`);
    } catch {
      // not a file of ours
    }
    if (path.endsWith('.jsonl') && ++writes.n >= writes.failFrom)
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    return (fs.writeSync as (fd: number, ...a: unknown[]) => number)(fd, ...rest);
  }) as typeof fs.writeSync;
  return { ...fs, fsync, writeSync, default: { ...fs, fsync, writeSync } };
});

const LAB_DIR = join(TMP_BASE, `audit-log-stops-${String(process.pid)}`);

let lab: Lab;
let hosts: LabHost[];
let dir: string;
let cfg: string;

beforeAll(async () => {
  rmSync(LAB_DIR, { recursive: true, force: true });
  lab = await Lab.start({
    hosts: 3,
    dir: join(LAB_DIR, 'lab'),
    simProfile: { TIME_SCALE: '0.01' },
  });
  hosts = lab.hosts;
  dir = mkdtempSync(join(tmpdir(), 'kpfleet-audit-stops-'));
  cfg = join(dir, 'kpfleet.yml');
  makePatchFile(hosts[0], dir, CVE);
  writeFileSync(join(dir, 'inventory.ini'), readFileSync(lab.inventoryPath));
  writeProject(dir, {
    knownHosts: lab.knownHostsPath,
    connectTimeout: null,
    // one host at a time, in the inventory's order
    rollout: ['forks: 1'],
    patches: [CVE],
    groups: { all: { loaded: [CVE.name] } },
  });
}, 60_000);

afterAll(async () => {
  await lab.close();
  rmSync(LAB_DIR, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

let caseNo = 0;
let log: string;
let report: string;
beforeEach(() => {
  fsyncs.files = 0;
  fsyncs.failFrom = Infinity;
  writes.n = 0;
  writes.failFrom = Infinity;
  caseNo++;
  log = join(dir, `audit-${String(caseNo)}.jsonl`);
  report = join(dir, `report-${String(caseNo)}.json`);
});

const apply = (...more: string[]) =>
  runInProcess(['apply', '-c', cfg, '--yes', '--audit-log', log, '--report', report, ...more], {
    cwd: dir,
    env: { HOME: dir, XDG_STATE_HOME: join(dir, 'state') },
  });

/** What the host has of the patch: installed, loaded; and whether anything was uploaded. */
function patched(h: LabHost): { installed: boolean; loaded: boolean } {
  const s = h.sim.readSysfs();
  return {
    installed: s.installed.some((i) => i.file === 'livepatch-cve-2024-1086.ko'),
    loaded: s.patches[CVE.module]?.enabled === '1',
  };
}
const untouched = { installed: false, loaded: false };

interface Report {
  interrupted: boolean;
  hosts: { host: string; outcome: string; message?: string; steps: unknown[] }[];
}

describe('the audit log fails during apply: the run stops as on Ctrl-C, exit 74', () => {
  it("its first fsync (the first host's started record) fails: that host is sent nothing, no other host starts", async () => {
    fsyncs.failFrom = 1;
    const r = await apply();
    const out = r.stdout + r.stderr;
    expect(r.code, out).toBe(74);
    for (const h of hosts) expect(patched(h), h.name).toEqual(untouched);
    expect(r.stderr).toMatch(
      new RegExp(`^error: input/output error while writing the audit log ${log}$`, 'm'),
    );
    expect(r.stderr).toContain(
      `the audit log ${log} failed: finishing the steps in flight; no new host or step starts`,
    );
    expect(r.stderr).toContain(
      `The run stopped because the audit log failed (input/output error while writing the audit log ${log}): no step was sent after that`,
    );
    expect(r.stderr).toContain('Apply again (with a working audit log) converges them.');
    const rep = JSON.parse(readFileSync(report, 'utf8')) as Report;
    expect(rep.interrupted).toBe(true);
    const [first, ...rest] = hosts.map((h) => rep.hosts.find((x) => x.host === h.name));
    expect(first).toMatchObject({ outcome: 'interrupted', steps: [] });
    expect(first?.message).toMatch(/^interrupted after 0 of \d+ changes/);
    for (const x of rest) expect(x?.message).toBe('interrupted before it started');
    // the records the log could not keep are on stderr, the first host's started record first
    expect(r.stderr).toMatch(new RegExp(`^\\{.*"host":"${hosts[0]?.name ?? ''}".*"started"`, 'm'));
  }, 60_000);

  it("the first host's end record cannot be fsynced: that host ends changed and verified, the others are not started", async () => {
    fsyncs.failFrom = 2;
    const r = await apply();
    const out = r.stdout + r.stderr;
    expect(r.code, out).toBe(74);
    const [first, ...rest] = hosts;
    expect(patched(first as LabHost)).toEqual({ installed: true, loaded: true });
    for (const h of rest) expect(patched(h), h.name).toEqual(untouched);
    const rep = JSON.parse(readFileSync(report, 'utf8')) as Report;
    expect(rep.interrupted).toBe(true);
    expect(rep.hosts.find((x) => x.host === first?.name)?.outcome).toBe('changed');
    for (const h of rest) {
      const x = rep.hosts.find((y) => y.host === h.name);
      // not sent anything: before its turn, or its started record waited on the failed fsync
      expect(x?.steps, h.name).toEqual([]);
      expect(x?.outcome, h.name).toMatch(/^(skipped|interrupted)$/);
    }
    expect(r.stderr).toContain(
      `The run stopped because the audit log failed (input/output error while writing the audit log ${log})`,
    );
    // running again, with a working log, converges the rest
    fsyncs.failFrom = Infinity;
    const again = await apply();
    expect(again.code, again.stdout + again.stderr).toBe(0);
    for (const h of hosts) expect(patched(h), h.name).toEqual({ installed: true, loaded: true });
  }, 90_000);

  it('the last end record fails once every host has ended: nothing to stop, no stop said; exit 74, not interrupted', async () => {
    const h = hosts[2] as LabHost;
    await h.sim.run(['kpatch', 'force', 'unload', CVE.module]);
    await h.sim.run(['kpatch', 'uninstall', '-k', EL9, CVE.module]);
    rmSync(join(h.sim.root, 'var/lib/kpfleet'), { recursive: true, force: true });
    expect(patched(h)).toEqual(untouched);
    // its started record passes, its end record (after the engine returned) fails
    fsyncs.failFrom = 2;
    const r = await apply('--limit', h.name);
    expect(r.code, r.stdout + r.stderr).toBe(74);
    expect(patched(h)).toEqual({ installed: true, loaded: true });
    expect(r.stderr).toMatch(/^error: input\/output error while writing the audit log/m);
    expect(r.stderr).not.toContain('finishing the steps in flight');
    expect(r.stderr).not.toContain('The run stopped because');
    const rep = JSON.parse(readFileSync(report, 'utf8')) as Report;
    expect(rep.interrupted).toBe(false);
    expect(rep.hosts.map((x) => [x.host, x.outcome])).toEqual([[h.name, 'changed']]);
  }, 60_000);
  it('the last end record cannot be written (a full disk) as the last host ends: nothing was cut short, so the report is not interrupted and no stop is claimed; exit 74', async () => {
    const h = hosts[1] as LabHost;
    await h.sim.run(['kpatch', 'force', 'unload', CVE.module]);
    await h.sim.run(['kpatch', 'uninstall', '-k', EL9, CVE.module]);
    rmSync(join(h.sim.root, 'var/lib/kpfleet'), { recursive: true, force: true });
    expect(patched(h)).toEqual(untouched);
    // its started record is written, its end record (at host-end, in the engine) is not
    writes.failFrom = 2;
    const r = await apply('--limit', h.name);
    expect(r.code, r.stdout + r.stderr).toBe(74);
    expect(patched(h)).toEqual({ installed: true, loaded: true });
    expect(r.stderr).toMatch(/^error: .*while writing the audit log/m);
    expect(r.stderr).not.toContain('The run stopped because');
    const rep = JSON.parse(readFileSync(report, 'utf8')) as Report;
    expect(rep.hosts.map((x) => [x.host, x.outcome])).toEqual([[h.name, 'changed']]);
    expect(rep.interrupted).toBe(false);
  }, 60_000);
});
