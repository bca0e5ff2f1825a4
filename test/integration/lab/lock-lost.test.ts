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
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { LOCK_LOST_ERROR } from '../../../src/apply/lock.ts';
import type { Lab, LabHost } from '../../../lab/lab.ts';
import { applyInLab, EL9, labWithVendorModule, writeLabProject } from './apply-in-lab.ts';

let lab: Lab;
let host: LabHost;

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
  ({ lab, host } = await labWithVendorModule('vendor fix'));
  writeLabProject(lab, ['groups:', '  rhel9:', '    unmanaged: remove']);
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
  const r = await applyInLab(lab);
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
  const r = await applyInLab(lab);
  expect(r.code, r.stdout + r.stderr).not.toBe(0);
  const uninstall = r.result.steps.find((s) => !s.rollback && /uninstall/.test(s.label));
  expect(uninstall?.ok, JSON.stringify(r.result)).toBe(false);
  expect(uninstall?.error).toBe(LOCK_LOST_ERROR);
  // it reached the host, which ran nothing
  expect(sent.filter((c) => c.includes('kpatch uninstall'))).toHaveLength(1);
  expect(existsSync(installedFile()), 'the module was uninstalled').toBe(true);
}, 120_000);
