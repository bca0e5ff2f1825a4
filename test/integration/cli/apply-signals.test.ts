/**
 * An apply that is hung up on or killed (issue 14, the audit log): the CLI as a user runs it
 * (`node --import tsx src/cli/main.ts`, one process, so the signals reach kpfleet itself)
 * against lab hosts. SIGHUP is handled as SIGTERM is: the step in flight finishes, the host is
 * rolled back or finished and unlocked, every record is written, exit 130; also when the
 * terminal itself is gone (a pty whose other end closes). Each host's audit record is appended
 * when the host ends, and a `started` record before its first change, so a SIGKILL leaves on disk
 * every host that ended and the host that was being changed (docs/exit-codes.md, "Files kpfleet
 * writes").
 *
 * The health check waits on the host for a file the test creates: the signal is sent while it
 * runs, and the run goes on only once the test has seen kpfleet take the signal.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makePatchFile, writeProject } from '../../project.ts';
import type { PatchEntry } from '../../project.ts';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TMP_BASE } from '../../../lab/host-dir.ts';
import { lockHeld } from '../../../lab/sim-host.ts';
import { Lab } from '../../../lab/lab.ts';
import { startCliProcess, until } from '../../cli-process.ts';
import type { CliProcess } from '../../cli-process.ts';
import type { LabHost } from '../../../lab/lab.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;
const MAIN = join(ROOT, 'src/cli/main.ts');
const EL9 = '5.14.0-362.8.1.el9_3.x86_64';
const MOD = 'livepatch_signals';
const DIR = join(TMP_BASE, `apply-signals-${String(process.pid)}`);
/** Waits while /tmp/hold exists on the host; fails when /tmp/fail exists. */
const HEALTH_CHECK =
  'if [ -e /tmp/hold ]; then touch /tmp/health-started; while [ -e /tmp/hold ]; do sleep 0.05; done; fi; test ! -e /tmp/fail';

let lab: Lab;
let hosts: LabHost[];

beforeAll(async () => {
  rmSync(DIR, { recursive: true, force: true });
  lab = await Lab.start({ hosts: 2, dir: join(DIR, 'lab'), simProfile: { TIME_SCALE: '0.01' } });
  hosts = lab.hosts;
  const patch: PatchEntry = { name: 'signals', module: MOD, file: 'patches/signals.ko' };
  makePatchFile(hosts[0], DIR, patch);
  writeFileSync(join(DIR, 'inventory.ini'), readFileSync(lab.inventoryPath));
  writeProject(DIR, {
    knownHosts: lab.knownHostsPath,
    connectTimeout: null,
    rollout: ['forks: 1', `health_check: '${HEALTH_CHECK}'`],
    patches: [patch],
    groups: { all: { loaded: ['signals'] } },
  });
}, 60_000);
afterAll(async () => {
  await lab.close();
  rmSync(DIR, { recursive: true, force: true });
});

let scratch: string;
let caseNo = 0;
beforeEach(async () => {
  for (const h of hosts) {
    const s = h.sim.readSysfs();
    if (s.patches[MOD] || s.modules[MOD]) await h.sim.run(['kpatch', 'force', 'unload', MOD]);
    if (s.installed.some((i) => i.file === 'signals.ko'))
      await h.sim.run(['kpatch', 'uninstall', '-k', EL9, MOD]);
    rmSync(join(h.sim.root, 'var/lib/kpfleet'), { recursive: true, force: true });
    for (const f of ['hold', 'fail', 'health-started'])
      rmSync(join(h.sim.root, 'tmp', f), { force: true });
  }
  scratch = join(DIR, `case-${String(++caseNo)}`);
  mkdirSync(scratch, { recursive: true });
});

type Cli = CliProcess;

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', HOME: DIR, SSH_AUTH_SOCK: '' };
  delete e.CI;
  return e;
}

/** The CLI in one Node process, stdout and stderr on pipes. */
function startCli(args: string[]): Cli {
  return startCliProcess(args, { cwd: DIR, env: { ...env(), CI: '1' } });
}

interface Record {
  host: string;
  result: string;
  message: string;
  changes: { label: string; ok: boolean; rollback: boolean }[];
}

function auditOf(path: string): Record[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record);
}

const tmp = (h: LabHost, f: string) => join(h.sim.root, 'tmp', f);
/** A marker file in the host's /tmp (its folder is made by the first command that runs). */
function mark(h: LabHost, f: string): void {
  mkdirSync(join(h.sim.root, 'tmp'), { recursive: true, mode: 0o1777 });
  writeFileSync(tmp(h, f), '');
}
const locked = (h: LabHost) => lockHeld(h.sim.root);
const installed = (h: LabHost) => h.sim.readSysfs().installed.some((i) => i.file === 'signals.ko');
const loaded = (h: LabHost) => h.sim.readSysfs().patches[MOD]?.enabled === '1';

describe('SIGHUP is handled as SIGTERM', () => {
  it('during the health check: the check ends, the host is rolled back and unlocked, every record is written, exit 130', async () => {
    const h = hosts[0] as LabHost;
    mark(h, 'hold');
    mark(h, 'fail');
    const audit = join(scratch, 'audit.jsonl');
    const report = join(scratch, 'report.json');
    const cli = startCli([
      'apply',
      '--yes',
      '--limit',
      h.name,
      '--audit-log',
      audit,
      '--report',
      report,
    ]);
    let ended = false;
    void cli.exit.then(() => (ended = true));
    try {
      await until(
        'the health check runs',
        () => existsSync(tmp(h, 'health-started')),
        () => ended,
      );
      // the upload and the install are done, the lock is held: a SIGHUP now used to kill kpfleet
      expect(installed(h)).toBe(true);
      expect(locked(h)).toBe(true);
      cli.child.kill('SIGHUP');
      await until(
        'kpfleet takes the SIGHUP',
        () => /SIGHUP: finishing/.test(cli.out()),
        () => ended,
      );
    } finally {
      rmSync(tmp(h, 'hold'), { force: true });
    }
    const { code, signal } = await cli.exit;
    expect({ code, signal }, cli.out()).toEqual({ code: 130, signal: null });
    // rolled back: nothing installed or loaded; unlocked
    expect(installed(h)).toBe(false);
    expect(loaded(h)).toBe(false);
    expect(locked(h)).toBe(false);
    const records = auditOf(audit);
    expect(records.map((r) => [r.host, r.result])).toEqual([
      [h.name, 'started'],
      [h.name, 'failed'],
    ]);
    expect(records[1]?.message).toMatch(/health check failed.*rolled back/);
    expect(records[1]?.changes.filter((c) => c.rollback).length).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(report, 'utf8'))).toMatchObject({
      interrupted: true,
      hosts: [{ host: h.name, outcome: 'failed' }],
    });
  }, 120_000);

  it('when the terminal is gone (its pty closed): the host is still rolled back and unlocked, and the run recorded', async () => {
    const h = hosts[0] as LabHost;
    mark(h, 'hold');
    mark(h, 'fail');
    const audit = join(scratch, 'audit.jsonl');
    const report = join(scratch, 'report.json');
    const pidFile = join(scratch, 'pid');
    const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
    const command = [
      `echo $$ > ${q(pidFile)};`,
      'exec',
      ...[process.execPath, '--import', 'tsx', MAIN, 'apply', '--yes', '--limit', h.name].map(q),
      ...['--audit-log', audit, '--report', report].map(q),
    ].join(' ');
    // util-linux script: kpfleet on a terminal (the listr view), in a session of its own
    const term = spawn('script', ['-qfec', command, '/dev/null'], {
      cwd: DIR,
      env: { ...env(), SHELL: '/bin/sh', TERM: 'xterm' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    term.stdout.resume();
    term.stderr.resume();
    const termClosed = new Promise<void>((done) => term.on('close', () => done()));
    let pid = 0;
    /** kpfleet has ended (gone, or a zombie nobody reaped yet). */
    const gone = (): boolean => {
      try {
        return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${String(pid)}/stat`, 'utf8'));
      } catch {
        return pid !== 0;
      }
    };
    try {
      await until(
        'the health check runs',
        () => existsSync(tmp(h, 'health-started')),
        () => term.exitCode !== null,
      );
      pid = Number(readFileSync(pidFile, 'utf8').trim());
      expect(gone()).toBe(false);
      // the terminal goes away: its master side closes, the kernel hangs up kpfleet's session
      term.kill('SIGKILL');
      await termClosed;
    } finally {
      rmSync(tmp(h, 'hold'), { force: true });
    }
    await until('the report is written', () => existsSync(report), gone);
    await until('kpfleet exits', gone, () => false);
    expect(installed(h)).toBe(false);
    expect(loaded(h)).toBe(false);
    expect(locked(h)).toBe(false);
    expect(auditOf(audit).map((r) => [r.host, r.result])).toEqual([
      [h.name, 'started'],
      [h.name, 'failed'],
    ]);
    expect(JSON.parse(readFileSync(report, 'utf8'))).toMatchObject({
      interrupted: true,
      hosts: [{ host: h.name, outcome: 'failed' }],
    });
  }, 120_000);
});

/**
 * `kpfleet apply --yes --audit-log AUDIT` in a serial run; once `held` is in its health check
 * (which waits while /tmp/hold exists there), `signal` is sent and `after` awaited, then the hold
 * goes. Returns the run.
 */
async function signalInHealthCheck(
  held: LabHost,
  audit: string,
  signal: NodeJS.Signals,
  after: (cli: Cli, ended: () => boolean) => Promise<unknown>,
): Promise<Cli> {
  mark(held, 'hold');
  const cli = startCli(['apply', '--yes', '--audit-log', audit]);
  let ended = false;
  void cli.exit.then(() => (ended = true));
  try {
    await until(
      `${held.name} is in its health check`,
      () => existsSync(tmp(held, 'health-started')),
      () => ended,
    );
    cli.child.kill(signal);
    await after(cli, () => ended);
  } finally {
    rmSync(tmp(held, 'hold'), { force: true });
  }
  return cli;
}

describe('SIGTERM in a serial run', () => {
  it('the host being changed finishes; the summary names the host left untouched, why, the command to run next and the audit log', async () => {
    const [first, second] = hosts as [LabHost, LabHost];
    // the first host waits in its health check (which then passes); the second has not started
    const audit = join(scratch, 'audit.jsonl');
    const cli = await signalInHealthCheck(first, audit, 'SIGTERM', (c, ended) =>
      until('kpfleet takes the SIGTERM', () => /SIGTERM: finishing/.test(c.out()), ended),
    );
    const { code } = await cli.exit;
    const out = cli.out();
    expect(code, out).toBe(130);
    expect(loaded(first)).toBe(true);
    expect(installed(second)).toBe(false);
    expect(out).toContain(`  skipped: ${second.name} — interrupted before it started`);
    expect(out).toContain(
      `Next: kpfleet apply --audit-log ${audit}: it reads the facts again and converges the rest`,
    );
    expect(out).toContain(`Audit log: ${audit}`);
    expect(auditOf(audit).map((r) => [r.host, r.result])).toEqual([
      [first.name, 'started'],
      [first.name, 'changed'],
      [second.name, 'skipped'],
    ]);
  }, 120_000);
});

describe('SIGKILL', () => {
  it('after the first host of a serial run ended: its records are on disk, and the host being changed has a started record', async () => {
    const [first, second] = hosts as [LabHost, LabHost];
    // the first host passes its health check at once; the second waits in it
    const audit = join(scratch, 'audit.jsonl');
    await signalInHealthCheck(second, audit, 'SIGKILL', async (c) => {
      expect((await c.exit).signal).toBe('SIGKILL');
    });
    const records = auditOf(audit);
    expect(records.map((r) => [r.host, r.result])).toEqual([
      [first.name, 'started'],
      [first.name, 'changed'],
      [second.name, 'started'],
    ]);
    expect(records[2]?.message).toMatch(/upload .*install .*load/s);
    expect(loaded(first)).toBe(true);
    expect(locked(first)).toBe(false);
    // what the started record is for: the second host was changed...
    expect(loaded(second)).toBe(true);
    // ...and its lock died with the run (src/apply/lock.ts): the next run is not refused
    await until(
      'the lock of the killed run is free',
      () => !locked(second),
      () => false,
      10_000,
    );
    await second.sim.run(['kpatch', 'force', 'unload', MOD]); // work for the next run
    const rerun = startCli(['apply', '--yes', '--audit-log', audit]);
    expect((await rerun.exit).code, rerun.out()).toBe(0);
    expect(loaded(second)).toBe(true);
    expect(auditOf(audit).slice(3)).toContainEqual(
      expect.objectContaining({ host: second.name, result: 'changed' }),
    );
  }, 120_000);
});
