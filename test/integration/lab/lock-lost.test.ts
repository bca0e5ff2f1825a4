/**
 * A step re-checks the host's lock (the hostile review of issue 15): once a run's lock on a host
 * has ended (`kpfleet unlock`, a lost lease) or another run holds it, no further root step of
 * that run changes the host. Both sides: the controller looks at its lock again right before it
 * sends each step (the lock may end while the step awaits the copy kept for a rollback, or facts),
 * and the host runs a step only if `run.info` names its run and `run.lock` is held.
 *
 * The CLI in-process against the lab: one host with an unmanaged module, `unmanaged: remove`, so
 * the plan unloads and uninstalls it; the lock is taken away while the uninstall's copy is made.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { LOCK_LOST_ERROR } from '../../../src/apply/lock.ts';
import { runCli } from '../../../src/cli/main.ts';
import type { CliIo } from '../../../src/cli/io.ts';
import { Lab } from '../../fleet/lab.ts';
import type { LabHost } from '../../fleet/lab.ts';

const EL9 = '5.14.0-362.8.1.el9_3.x86_64';
let lab: Lab;
let host: LabHost;

interface Report {
  hosts: {
    host: string;
    outcome: string;
    message: string;
    steps: { label: string; ok: boolean; rollback?: boolean; error?: string }[];
  }[];
}

async function apply() {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: { NO_COLOR: '1', HOME: lab.dir, XDG_STATE_HOME: join(lab.dir, 'state') },
    cwd: lab.dir,
  };
  const code = await runCli(['apply', '--yes', '--report', 'report.json'], io);
  const report = JSON.parse(readFileSync(join(lab.dir, 'report.json'), 'utf8')) as Report;
  const result = report.hosts[0];
  if (!result) throw new Error('no host in the report');
  return { code, stdout, stderr, result };
}

const at = (path: string) => join(host.sim.root, path);
const installedFile = () => at(`var/lib/kpatch/${EL9}/vendor-fix.ko`);
const runInfo = () => at('var/lib/kpfleet/locks/run.info');
/** The commands that reached the host during a run. */
let sent: string[] = [];
/** Called once, before the command that copies the module for a rollback runs. */
function beforeTheCopy(act: () => void): void {
  let done = false;
  lab.onExec = (_h, command) => {
    sent.push(command);
    if (!done && command.includes('/var/lib/kpfleet/rollback') && command.includes('cp ')) {
      done = true;
      act();
    }
  };
}

beforeAll(async () => {
  lab = await Lab.start({ hosts: 1, simProfile: { TIME_SCALE: '0.02' } });
  const h = lab.hosts[0];
  if (!h) throw new Error('no lab host');
  host = h;
  mkdirSync(at('var/tmp'), { recursive: true });
  host.sim.makeModule(at('var/tmp/vendor-fix.ko'), {
    name: 'vendor_fix',
    kernel: EL9,
    replace: false,
    description: 'vendor fix',
  });
  writeFileSync(join(lab.dir, 'inventory.ini'), readFileSync(lab.inventoryPath));
  writeFileSync(
    join(lab.dir, 'kpfleet.yml'),
    [
      'inventory: inventory.ini',
      'connection:',
      `  known_hosts: ${lab.knownHostsPath}`,
      '  ssh_config: false',
      'groups:',
      '  rhel9:',
      '    unmanaged: remove',
      '',
    ].join('\n'),
  );
});
afterAll(async () => {
  await lab.close();
});
beforeEach(async () => {
  lab.onExec = undefined;
  sent = [];
  // the vendor's module installed and loaded, as a run finds it
  if (!existsSync(installedFile())) {
    const r = await host.sim.run(['kpatch', 'install', '--', 'var/tmp/vendor-fix.ko']);
    if (r.code !== 0) throw new Error(r.stderr);
  }
  if (host.sim.readSysfs().patches.vendor_fix?.enabled !== '1') {
    const r = await host.sim.run(['kpatch', 'load', 'vendor_fix']);
    if (r.code !== 0) throw new Error(r.stderr);
  }
});

it('the lock ends while a step awaits its copy (kpfleet unlock): the step is not sent', async () => {
  beforeTheCopy(() => {
    // what `kpfleet unlock` does: end the holder named in run.info
    const pid = /^pid=(\d+)$/m.exec(readFileSync(runInfo(), 'utf8'))?.[1];
    if (pid === undefined) throw new Error('no pid in run.info');
    process.kill(Number(pid), 'SIGTERM');
  });
  const r = await apply();
  expect(r.code, r.stdout + r.stderr).toBe(1);
  const uninstall = r.result.steps.find((s) => !s.rollback && /uninstall/.test(s.label));
  expect(uninstall?.ok, JSON.stringify(r.result)).toBe(false);
  expect(uninstall?.error).toBe(LOCK_LOST_ERROR);
  expect(sent.filter((c) => c.includes('kpatch uninstall'))).toEqual([]);
  expect(existsSync(installedFile()), 'the module was uninstalled').toBe(true);
}, 120_000);

it('another run holds the host when the step arrives: the host refuses it', async () => {
  beforeTheCopy(() => {
    // a new holder's run.info (the lease of this run lost, as a suspended laptop loses it)
    writeFileSync(runInfo(), 'owner=bob@ci\nsince=now\nrun=another-run\npid=1\nboot=b\n');
  });
  const r = await apply();
  expect(r.code, r.stdout + r.stderr).not.toBe(0);
  const uninstall = r.result.steps.find((s) => !s.rollback && /uninstall/.test(s.label));
  expect(uninstall?.ok, JSON.stringify(r.result)).toBe(false);
  expect(uninstall?.error).toBe(LOCK_LOST_ERROR);
  // it reached the host, which ran nothing
  expect(sent.filter((c) => c.includes('kpatch uninstall'))).toHaveLength(1);
  expect(existsSync(installedFile()), 'the module was uninstalled').toBe(true);
}, 120_000);
