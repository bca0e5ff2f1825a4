/**
 * Issue 21: an unsigned module on a host that refuses unsigned modules is blocked in the plan,
 * with the reason, and never sent there; a host that does not enforce signatures converges in the
 * same run. Real probe, real planner, real apply over SSH to lab hosts (lab/SPEC.md: SIG_ENFORCE,
 * LOCKDOWN; the lab's modules carry no appended signature, so kpfleet reads them as unsigned).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runInProcess } from '../../cli-in-process.ts';
import { EL9, writeOnePatchProject } from './apply-in-lab.ts';
import { Lab } from '../../../lab/lab.ts';
import type { LabHost } from '../../../lab/lab.ts';

const MOD = 'livepatch_cve_2024_1';
let lab: Lab;
let open: LabHost;
let enforcing: LabHost;

beforeAll(async () => {
  lab = await Lab.start({ hosts: 2, simProfile: { TIME_SCALE: '0.02' } });
  const [a, b] = lab.hosts;
  if (!a || !b) throw new Error('two lab hosts');
  open = a;
  enforcing = b;
  enforcing.sim.setProfile({ SIG_ENFORCE: 1 });
  writeOnePatchProject(lab, open, { module: MOD, file: 'livepatch-cve.ko' });
});
afterAll(async () => {
  await lab.close();
});

const env = () => ({ HOME: lab.dir, XDG_STATE_HOME: join(lab.dir, 'state'), NO_COLOR: '1' });

it('plan blocks the enforcing host with the reason; the other host plans its changes', async () => {
  const r = await runInProcess(['plan', '--format', 'json'], { cwd: lab.dir, env: env() });
  expect(r.code, r.stderr).toBe(1);
  const plan = JSON.parse(r.stdout) as {
    hosts: {
      host: string;
      status: string;
      reason: string;
      findings: { kind: string; message: string }[];
    }[];
  };
  const byHost = new Map(plan.hosts.map((h) => [h.host, h]));
  expect(byHost.get(open.name)?.status).toBe('changes');
  const blocked = byHost.get(enforcing.name);
  expect(blocked?.status).toBe('blocked');
  expect(blocked?.reason).toBe(
    `the kernel would refuse 1 module for its signature: cve (unsigned)`,
  );
  const f = blocked?.findings.find((x) => x.kind === 'unsigned');
  expect(f?.message).toContain(`refuses unsigned modules (sig_enforce=Y)`);
  expect(f?.message).toContain('Key was rejected by service');
});

it('apply converges the open host and sends nothing to the enforcing one', async () => {
  const r = await runInProcess(['apply', '--yes', '--report', 'report.json'], {
    cwd: lab.dir,
    env: env(),
  });
  expect(r.code, r.stderr).toBe(1);
  const report = JSON.parse(readFileSync(join(lab.dir, 'report.json'), 'utf8')) as {
    hosts: { host: string; outcome: string; steps: unknown[] }[];
  };
  const byHost = new Map(report.hosts.map((h) => [h.host, h]));
  expect(byHost.get(open.name)?.outcome).toBe('changed');
  expect(byHost.get(enforcing.name)?.outcome).toBe('blocked');
  expect(byHost.get(enforcing.name)?.steps).toEqual([]);
  // nothing reached the enforcing host: no upload, no install
  expect(existsSync(join(enforcing.sim.root, `var/lib/kpatch/${EL9}/livepatch-cve.ko`))).toBe(
    false,
  );
  expect(existsSync(join(open.sim.root, `var/lib/kpatch/${EL9}/livepatch-cve.ko`))).toBe(true);
});
