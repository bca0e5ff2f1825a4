/**
 * A rollback that loses its own connection (issue 20's review): the rollback takes the host's
 * lock again over a new connection, reads the facts again and goes on from the step it was at,
 * so the host ends rolled back, not unreachable.
 *
 * The CLI in-process against the lab: one host with a vendor's module loaded, `unmanaged:
 * remove`, so the plan unloads and uninstalls it; the health check fails, so the rollback
 * installs it again (from this run's copy) and loads it; the lab's `drop` fault cuts the
 * connection during the rollback's `kpatch load` (switched on for that command alone).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import type { Lab, LabHost } from '../../../lab/lab.ts';
import {
  applyInLab,
  EL9,
  installVendorModule,
  labWithVendorModule,
  setUnhealthy,
  writeRollbackProject,
} from './apply-in-lab.ts';

let lab: Lab;
let host: LabHost;
let original: Buffer;

const at = (path: string) => join(host.sim.root, path);
const installedFile = () => at(`var/lib/kpatch/${EL9}/vendor-fix.ko`);
const dropFault = () => at('var/lib/kpsim/faults/drop');

beforeAll(async () => {
  ({ lab, host } = await labWithVendorModule('vendor fix'));
  original = await installVendorModule(host);
  writeRollbackProject(lab);
});
afterAll(async () => {
  await lab.close();
});
beforeEach(() => {
  lab.onExec = undefined;
  setUnhealthy(host, false);
});

it('the connection is cut during the rollback’s load: locked again over a new one, the load run again, rolled back', async () => {
  setUnhealthy(host, true);
  const loads: string[] = [];
  lab.onExec = (h, command) => {
    if (existsSync(dropFault())) h.sim.clearFaults();
    if (command.includes('kpatch load')) {
      loads.push(command);
      if (loads.length === 1) h.fault('drop');
    }
  };
  const r = await applyInLab(lab);
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(r.result.outcome, JSON.stringify(r.result)).toBe('failed');
  expect(r.result.message).toMatch(
    /^health check failed.*; rolled back \(over a new connection, with the lock taken again: the first was lost during the rollback\)$/,
  );
  const rollback = r.result.steps.filter((s) => s.rollback === true);
  // the load cut short is recorded as it went, then run again over the new connection
  expect(rollback.map((s) => `${s.label.replace(/ .*/, '')} ${s.ok ? 'ok' : 'FAILED'}`)).toEqual([
    '+ ok',
    '+ FAILED',
    '+ ok',
  ]);
  expect(rollback[1]?.error).toMatch(/connection .*lost/);
  expect(loads).toHaveLength(2);
  // as before the run: the module installed, the same file, and loaded; the lock free
  expect(readFileSync(installedFile()).equals(original)).toBe(true);
  expect(host.sim.readSysfs().patches.vendor_fix?.enabled).toBe('1');
  expect(existsSync(at('var/lib/kpfleet/locks/run.info'))).toBe(false);
}, 120_000);

/** The unload step's command (RHEL's kpatch: `kpatch force unload`, which never prompts). */
const UNLOAD = /kpatch (force )?unload/;

it('the connection is cut during the plan’s kpatch unload (a step alone): locked again, that step stopped, then rolled back', async () => {
  const sent: string[] = [];
  let dropped = false;
  lab.onExec = (h, command) => {
    if (existsSync(dropFault())) h.sim.clearFaults();
    sent.push(command);
    if (!dropped && UNLOAD.test(command)) {
      dropped = true;
      h.fault('drop');
    }
  };
  const r = await applyInLab(lab);
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(r.result.outcome, JSON.stringify(r.result)).toBe('failed');
  expect(r.result.message).toMatch(
    /^- unload vendor_fix: the connection to lab001 was lost during kpatch unload; rolled back$/,
  );
  // the unload may have run (or still run): it is counted done, and before the rollback loads the
  // module again it is stopped on the host (lock.ts stopBatchScript), under the lock taken again
  const unload = sent.findIndex((c) => UNLOAD.test(c));
  const stop = sent.findIndex((c) => c.includes('batch.stop') && !c.includes('kpatch'));
  const reload = sent.findIndex((c, k) => k > unload && c.includes('kpatch load'));
  expect([unload < stop, stop < reload]).toEqual([true, true]);
  expect(r.result.steps.filter((s) => s.rollback === true).map((s) => s.ok)).toEqual([true]);
  // as before the run: the module installed, the same file, and loaded; the lock free
  expect(readFileSync(installedFile()).equals(original)).toBe(true);
  expect(host.sim.readSysfs().patches.vendor_fix?.enabled).toBe('1');
  expect(existsSync(at('var/lib/kpfleet/locks/run.info'))).toBe(false);
}, 120_000);
