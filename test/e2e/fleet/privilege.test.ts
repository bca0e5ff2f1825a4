/**
 * What privilege kpfleet needs, said truthfully (issue 14 §7, docs/security.md "Privilege"):
 * reading facts and planning need no root at all, and changing a host needs `NOPASSWD: ALL`,
 * because every step runs as `sudo -n -- sh -c '…'`. A host whose sudo allows only kpatch and
 * rmmod, the rule people write first, can be planned but not changed, and the error says why.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runBuilt } from '../../cli-built.ts';
import { fleetDown, fleetUp } from '../../fleet/fleet.ts';
import type { Fleet } from '../../fleet/fleet.ts';
import { TMP_BASE } from '../../fleet/host-dir.ts';

const DIR = join(TMP_BASE, `e2e-privilege-${String(process.pid)}`);
const EL9 = '5.14.0-362.8.1.el9_3.x86_64';
const MOD = 'livepatch_cve_2024_1086';
let fleet: Fleet;

async function kpfleet(args: string[]): Promise<{ code: number | null; out: string }> {
  const r = await runBuilt(args, { cwd: DIR, env: { XDG_STATE_HOME: join(DIR, 'state') } });
  return { code: r.code, out: r.output };
}

beforeAll(async () => {
  fleet = await fleetUp({ hosts: 1, dir: DIR, subnet: 90, sudo: 'kpatch-only' });
  mkdirSync(join(DIR, 'patches'), { recursive: true });
  const ko = join(DIR, 'patches/livepatch-cve-2024-1086.ko');
  fleet.hosts[0]?.sim.makeModule(ko, { name: MOD, kernel: EL9 });
  const sha = createHash('sha256').update(readFileSync(ko)).digest('hex');
  writeFileSync(
    join(DIR, 'kpfleet.yml'),
    [
      'inventory: inventory.ini',
      'connection:',
      '  known_hosts: known_hosts',
      '  ssh_config: false',
      'patches:',
      '  cve-2024-1086:',
      `    module: ${MOD}`,
      `    kernel: ${EL9}`,
      '    file: patches/livepatch-cve-2024-1086.ko',
      `    sha256: ${sha}`,
      'groups:',
      '  all:',
      '    loaded: [cve-2024-1086]',
      '',
    ].join('\n'),
  );
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
