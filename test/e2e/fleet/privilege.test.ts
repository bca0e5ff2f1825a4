/**
 * What privilege kpfleet needs, said truthfully (issue 14 §7, docs/security.md "Privilege"):
 * reading facts and planning need no root at all, and changing a host needs `NOPASSWD: ALL`,
 * because every step runs as `sudo -n -- sh -c '…'`. A host whose sudo allows only kpatch and
 * rmmod, the rule people write first, can be planned but not changed, and the error says why.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CVE, kpfleetIn, makePatchFile, writeProject } from '../../project.ts';
import { fleetDown, fleetUp } from '../../../lab/fleet.ts';
import type { Fleet } from '../../../lab/fleet.ts';
import { TMP_BASE } from '../../../lab/host-dir.ts';

const DIR = join(TMP_BASE, `e2e-privilege-${String(process.pid)}`);
const MOD = 'livepatch_cve_2024_1086';
let fleet: Fleet;

const run = kpfleetIn(DIR);
async function kpfleet(args: string[]): Promise<{ code: number | null; out: string }> {
  const r = await run(args);
  return { code: r.code, out: r.output };
}

beforeAll(async () => {
  fleet = await fleetUp({ hosts: 1, dir: DIR, subnet: 90, sudo: 'kpatch-only' });
  makePatchFile(fleet.hosts[0], DIR, CVE);
  writeProject(DIR, { patches: [CVE], groups: { all: { loaded: ['cve-2024-1086'] } } });
}, 120_000);
afterAll(async () => {
  await fleetDown(DIR);
});

it('with sudo for kpatch alone: facts and plan work (no root needed), apply is refused with a hint that says what is needed', async () => {
  const facts = await kpfleet(['facts']);
  expect(facts.code, facts.out).toBe(0);
  const plan = await kpfleet(['plan', '--detailed-exitcode']);
  expect(plan.code, plan.out).toBe(2);
  const apply = await kpfleet(['apply', '--yes']);
  expect(apply.code, apply.out).toBe(4);
  expect(apply.out).toContain('sudo wants a password here');
  expect(apply.out).toContain('NOPASSWD: ALL');
  expect(apply.out).toContain('a rule for kpatch alone does not work');
  expect(fleet.hosts[0]?.sim.readSysfs().patches[MOD]).toBeUndefined();
}, 60_000);
