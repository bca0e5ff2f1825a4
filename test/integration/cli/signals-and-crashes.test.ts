/**
 * Signals and crashes end every phase cleanly (issue 15 point 5, src/cli/signals.ts): the CLI
 * as a user runs it (`node --import tsx src/cli/main.ts`, one process, so signals reach kpfleet
 * itself) against lab hosts.
 *
 * - SIGINT, SIGTERM and SIGHUP exit 130 in every phase: while
 *   facts are read for `plan` or `apply` (a host that never answers), leaving no `--out` file;
 *   during apply the steps in flight finish as before, and the uploads staged on the host are
 *   removed.
 * - A bug (an exception thrown from a timer, a rejection nobody handles; made by a preload,
 *   crash-preload.ts) exits 70 with an internal-error message: at once outside apply; during
 *   apply once every host has ended, been unlocked and recorded, the report written.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makePatchFile, writeProject } from '../../project.ts';
import type { PatchEntry } from '../../project.ts';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FLEET_USER, TMP_BASE } from '../../../lab/host-dir.ts';
import { Lab } from '../../../lab/lab.ts';
import { startCliProcess, until } from '../../cli-process.ts';
import type { CliProcess } from '../../cli-process.ts';
import { lockHeld } from '../../../lab/sim-host.ts';
import type { LabHost } from '../../../lab/lab.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;
const PRELOAD = join(ROOT, 'test/integration/cli/crash-preload.ts');
const EL9 = '5.14.0-362.8.1.el9_3.x86_64';
const MOD = 'livepatch_phases';
const DIR = join(TMP_BASE, `signals-crashes-${String(process.pid)}`);
/** Waits while /tmp/hold exists on the host. */
const HEALTH_CHECK =
  'if [ -e /tmp/hold ]; then touch /tmp/health-started; while [ -e /tmp/hold ]; do sleep 0.05; done; fi; true';

let lab: Lab;
let hosts: LabHost[];

beforeAll(async () => {
  rmSync(DIR, { recursive: true, force: true });
  lab = await Lab.start({ hosts: 2, dir: join(DIR, 'lab'), simProfile: { TIME_SCALE: '0.01' } });
  hosts = lab.hosts;
  const patch: PatchEntry = { name: 'phases', module: MOD, file: 'patches/phases.ko' };
  makePatchFile(hosts[0], DIR, patch);
  writeFileSync(join(DIR, 'inventory.ini'), readFileSync(lab.inventoryPath));
  writeProject(DIR, {
    knownHosts: lab.knownHostsPath,
    connectTimeout: '60s',
    rollout: ['forks: 1', `health_check: '${HEALTH_CHECK}'`],
    patches: [patch],
    groups: { all: { loaded: ['phases'] } },
  });
}, 60_000);
afterAll(async () => {
  await lab.close();
  rmSync(DIR, { recursive: true, force: true });
});

let scratch: string;
let caseNo = 0;
beforeEach(async () => {
  lab.onExec = undefined;
  for (const h of hosts) {
    h.resume();
    for (const s of h.held) s.destroy();
    h.held.length = 0;
    h.sockets.clear();
    const s = h.sim.readSysfs();
    if (s.patches[MOD] || s.modules[MOD]) await h.sim.run(['kpatch', 'force', 'unload', MOD]);
    if (s.installed.some((i) => i.file === 'phases.ko'))
      await h.sim.run(['kpatch', 'uninstall', '-k', EL9, MOD]);
    rmSync(join(h.sim.root, 'var/lib/kpfleet'), { recursive: true, force: true });
    rmSync(stage(h), { recursive: true, force: true });
    for (const f of ['hold', 'health-started']) rmSync(join(h.sim.root, 'tmp', f), { force: true });
  }
  scratch = join(DIR, `case-${String(++caseNo)}`);
  mkdirSync(scratch, { recursive: true });
});

type Cli = CliProcess;

/** The CLI in one Node process (with `preload` first, if given), stdout and stderr on pipes. */
function startCli(args: string[], extraEnv: Record<string, string> = {}, preload = false): Cli {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NO_COLOR: '1',
    HOME: DIR,
    SSH_AUTH_SOCK: '',
    CI: '1',
    ...extraEnv,
  };
  return startCliProcess(args, { cwd: DIR, env, preloads: preload ? [PRELOAD] : [] });
}

interface AuditLine {
  host: string;
  result: string;
  message: string;
}
const auditOf = (path: string): AuditLine[] =>
  existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as AuditLine)
    : [];

const tmp = (h: LabHost, f: string) => join(h.sim.root, 'tmp', f);
function mark(h: LabHost, f: string): void {
  mkdirSync(join(h.sim.root, 'tmp'), { recursive: true, mode: 0o1777 });
  writeFileSync(tmp(h, f), '');
}
const locked = (h: LabHost) => lockHeld(h.sim.root);
const loaded = (h: LabHost) => h.sim.readSysfs().patches[MOD]?.enabled === '1';
function stage(h: LabHost): string {
  return join(h.sim.root, 'home', FLEET_USER, '.kpfleet/stage');
}
/** What this folder holds, files and folders, relative. */
function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}
const leftovers = () => readdirSync(scratch).filter((f) => f.startsWith('.kpfleet-'));

describe('a stop signal outside apply: exit 130 at once, connections closed, no partial file', () => {
  it.each(['SIGTERM', 'SIGHUP', 'SIGINT'] as const)(
    '%s while plan reads the facts of a host that never answers',
    async (sig) => {
      const h = hosts[0] as LabHost;
      h.fault('hang');
      const cli = startCli(['plan', '--limit', h.name, '--out', join(scratch, 'plan.json')]);
      await until('kpfleet connects', () => h.held.length > 0, cli.ended);
      const sent = Date.now();
      cli.child.kill(sig);
      const { code, signal } = await cli.exit;
      expect({ code, signal }, cli.out()).toEqual({ code: 130, signal: null });
      expect(Date.now() - sent).toBeLessThan(5_000);
      expect(cli.out()).toContain(`${sig}: interrupted; no host was changed`);
      expect(existsSync(join(scratch, 'plan.json'))).toBe(false);
      expect(leftovers()).toEqual([]);
    },
  );

  it('SIGTERM while apply reads the facts for its plan: 130, nothing recorded or changed', async () => {
    const h = hosts[0] as LabHost;
    h.fault('hang');
    const audit = join(scratch, 'audit.jsonl');
    const cli = startCli(['apply', '--yes', '--limit', h.name, '--audit-log', audit]);
    await until('kpfleet connects', () => h.held.length > 0, cli.ended);
    cli.child.kill('SIGTERM');
    const { code, signal } = await cli.exit;
    expect({ code, signal }, cli.out()).toEqual({ code: 130, signal: null });
    expect(auditOf(audit)).toEqual([]);
    h.resume();
    expect(loaded(h)).toBe(false);
  });
});

describe('a stop signal during apply', () => {
  it('during the upload: the host ends interrupted and unlocked, its staged upload removed, exit 130', async () => {
    const h = hosts[0] as LabHost;
    const audit = join(scratch, 'audit.jsonl');
    const report = join(scratch, 'report.json');
    const box: { cli?: Cli } = {};
    // the signal comes while the upload runs (its SFTP session): it finishes, no other step starts
    // (the install and the load go in one exec after it: apply/batch.ts)
    lab.onExec = (_host, command) => {
      if (command === 'subsystem sftp') box.cli?.child.kill('SIGTERM');
    };
    const cli = (box.cli = startCli([
      'apply',
      '--yes',
      '--limit',
      h.name,
      '--audit-log',
      audit,
      '--report',
      report,
    ]));
    const { code, signal } = await cli.exit;
    expect({ code, signal }, cli.out()).toEqual({ code: 130, signal: null });
    expect(cli.out()).toContain('SIGTERM: finishing the steps in flight');
    expect(JSON.parse(readFileSync(report, 'utf8'))).toMatchObject({
      interrupted: true,
      hosts: [{ host: h.name, outcome: 'interrupted' }],
    });
    expect(locked(h)).toBe(false);
    expect(loaded(h)).toBe(false);
    // the upload was staged and is gone again
    expect(cli.out()).toMatch(/upload/);
    expect(tree(stage(h))).toEqual([]);
  });
});

describe('a bug (uncaught exception, unhandled rejection): exit 70', () => {
  it.each(['exception', 'rejection'])(
    'an %s outside apply (reading facts): an internal-error message, exit 70 at once',
    async (kind) => {
      const h = hosts[0] as LabHost;
      h.fault('hang');
      const trigger = join(scratch, 'crash');
      const cli = startCli(
        ['plan', '--limit', h.name, '--out', join(scratch, 'plan.json')],
        { KPFLEET_TEST_CRASH_WHEN: trigger, KPFLEET_TEST_CRASH: kind },
        true,
      );
      await until('kpfleet connects', () => h.held.length > 0, cli.ended);
      writeFileSync(trigger, '');
      const { code, signal } = await cli.exit;
      expect({ code, signal }, cli.out()).toEqual({ code: 70, signal: null });
      expect(cli.out()).toMatch(/^internal error: .*test bug.*a bug in kpfleet/m);
      expect(existsSync(join(scratch, 'plan.json'))).toBe(false);
    },
  );

  it.each(['exception', 'rejection'])(
    'an %s during apply: the step in flight finishes, the host is unlocked and recorded, the next host is not started, the report written, exit 70',
    async (kind) => {
      const [first, second] = hosts as [LabHost, LabHost];
      mark(first, 'hold');
      const trigger = join(scratch, 'crash');
      const audit = join(scratch, 'audit.jsonl');
      const report = join(scratch, 'report.json');
      const cli = startCli(
        ['apply', '--yes', '--audit-log', audit, '--report', report],
        { KPFLEET_TEST_CRASH_WHEN: trigger, KPFLEET_TEST_CRASH: kind },
        true,
      );
      try {
        await until(
          'the health check runs',
          () => existsSync(tmp(first, 'health-started')),
          cli.ended,
        );
        expect(locked(first)).toBe(true);
        writeFileSync(trigger, '');
        await until('kpfleet takes the bug', () => /internal error/.test(cli.out()), cli.ended);
      } finally {
        rmSync(tmp(first, 'hold'), { force: true });
      }
      const { code, signal } = await cli.exit;
      expect({ code, signal }, cli.out()).toEqual({ code: 70, signal: null });
      expect(locked(first)).toBe(false);
      expect(loaded(first)).toBe(true);
      expect(loaded(second)).toBe(false);
      expect(auditOf(audit).map((r) => [r.host, r.result])).toEqual([
        [first.name, 'started'],
        [first.name, 'changed'],
        [second.name, 'skipped'],
      ]);
      expect(JSON.parse(readFileSync(report, 'utf8'))).toMatchObject({
        hosts: [
          { host: first.name, outcome: 'changed' },
          { host: second.name, outcome: 'skipped' },
        ],
      });
    },
  );
});
