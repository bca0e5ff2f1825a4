/**
 * The copy kept before an uninstall (issue 14 review): kpfleet copies a module it is about to
 * uninstall into this run's own folder, /var/lib/kpfleet/rollback/<run id>/<kernel>/, so that a
 * rollback can install it again. When the copy cannot be made (here a full /var/lib/kpfleet, the
 * lab's `disk-full` fault for that one command), the module is not uninstalled: the step fails
 * and the host is rolled back. A rollback installs only this run's copy, never one another run
 * left, and this run's copies are removed when the host ends.
 *
 * The CLI in-process against the lab: one host with an unmanaged module, `unmanaged: remove`, so
 * the plan unloads and uninstalls it.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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

const OTHER_RUN = '2020-01-01T00:00:00.000Z-0badc0de';
let lab: Lab;
let host: LabHost;
let original: Buffer;
let older: Buffer;

const at = (path: string) => join(host.sim.root, path);
const installedFile = () => at(`var/lib/kpatch/${EL9}/vendor-fix.ko`);
const rollbackRoot = () => at('var/lib/kpfleet/rollback');

/** Every file under the host's rollback folder, with its content. */
function rollbackFiles(): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string, rel: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name), `${rel}${e.name}/`);
      else out[`${rel}${e.name}`] = readFileSync(join(dir, e.name), 'utf8');
    }
  };
  walk(rollbackRoot(), '');
  return out;
}

const FOREIGN = (): Record<string, string> => ({
  [`${EL9}/vendor-fix.ko`]: older.toString('utf8'),
  [`${OTHER_RUN}/${EL9}/vendor-fix.ko`]: older.toString('utf8'),
});

beforeAll(async () => {
  // a vendor's module, larger than the 4 KiB a full /var/lib/kpfleet has room for
  ({ lab, host } = await labWithVendorModule(`vendor fix, build 2 ${'x'.repeat(8000)}`));
  original = await installVendorModule(host);
  // an older build of it, as copies that earlier runs left behind (0.1's shared folder, and a
  // run's own folder)
  host.sim.makeModule(at('var/tmp/older.ko'), {
    name: 'vendor_fix',
    kernel: EL9,
    replace: false,
    description: 'vendor fix, build 1',
  });
  older = readFileSync(at('var/tmp/older.ko'));
  for (const dir of [EL9, `${OTHER_RUN}/${EL9}`]) {
    mkdirSync(join(rollbackRoot(), dir), { recursive: true });
    writeFileSync(join(rollbackRoot(), dir, 'vendor-fix.ko'), older);
  }
  writeRollbackProject(lab);
});
afterAll(async () => {
  await lab.close();
});
beforeEach(() => {
  lab.onExec = undefined;
  setUnhealthy(host, false);
});

function expectAsBefore(): void {
  expect(readFileSync(installedFile()).equals(original), 'the installed module changed').toBe(true);
  expect(host.sim.readSysfs().patches.vendor_fix?.enabled).toBe('1');
  expect(rollbackFiles()).toEqual(FOREIGN());
}

it('the copy cannot be made: the module is not uninstalled, the host is rolled back', async () => {
  setUnhealthy(host, true);
  // /var/lib/kpfleet is full for the copy's command, and only for it
  lab.onExec = (h, command) => {
    if (command.includes('/var/lib/kpfleet/rollback') && command.includes('cp ')) {
      h.fault('disk-full');
    } else if (existsSync(join(h.sim.root, 'var/lib/kpsim/faults/disk-full'))) {
      h.sim.clearFaults();
    }
  };
  const r = await applyInLab(lab);
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(r.result.outcome, JSON.stringify(r.result)).toBe('failed');
  expect(r.result.message).toMatch(/could not keep a copy of .*vendor-fix\.ko.*rolled back$/);
  const uninstall = r.result.steps.find((s) => !s.rollback && /uninstall/.test(s.label));
  expect(uninstall?.ok).toBe(false);
  expect(uninstall?.error).toMatch(
    new RegExp(
      `could not keep a copy of /var/lib/kpatch/${EL9.replaceAll('.', '\\.')}/vendor-fix\\.ko in /var/lib/kpfleet/rollback/\\S+, so it was not uninstalled: .*No space left on device`,
    ),
  );
  expect(r.result.steps.filter((s) => s.rollback === true).every((s) => s.ok)).toBe(true);
  // the module never left, and no copy another run made was installed in its place
  expectAsBefore();
});

it('a rollback installs this run’s own copy, never another run’s; the copy is removed after', async () => {
  setUnhealthy(host, true);
  const r = await applyInLab(lab);
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(r.result.outcome, JSON.stringify(r.result)).toBe('failed');
  expect(r.result.message).toMatch(/health check failed.*rolled back$/);
  const rollback = r.result.steps.filter((s) => s.rollback === true);
  expect(rollback.map((s) => s.label).join('; ')).toMatch(/install/);
  expect(rollback.every((s) => s.ok)).toBe(true);
  expectAsBefore();
});

it('after a run that succeeds, its copy is gone too', async () => {
  const r = await applyInLab(lab);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  expect(r.result.outcome).toBe('changed');
  expect(existsSync(installedFile())).toBe(false);
  expect(rollbackFiles()).toEqual(FOREIGN());
});
