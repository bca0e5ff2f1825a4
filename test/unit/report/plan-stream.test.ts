/**
 * The plan's JSON written host by host (report/plan-stream.ts): byte for byte `planJson` of the
 * same plan, whatever its hosts, and no value decrypted from Ansible Vault in a prose field; the
 * summary counted host by host (`PlanTally`) is `summarizePlan`'s.
 */
import { describe, expect, it } from 'vitest';
import type { HostPlan, Plan } from '../../../src/plan/model.ts';
import { PlanTally, summarizePlan } from '../../../src/plan/plan.ts';
import { planJson } from '../../../src/report/plan.ts';
import { PlanJsonWriter } from '../../../src/report/plan-stream.ts';
import { markSecret, VAULTED } from '../../../src/util/secrets.ts';
import { demoConvergedPlan, demoPlan } from './demo-plan-fixture.ts';
import { convergedPlan, fleetPlan } from './plan-fixtures.ts';

/** The plan as the writer streams it, and how many pieces it came in. */
function streamed(plan: Plan): { text: string; pieces: number } {
  const pieces: string[] = [];
  const w = new PlanJsonWriter((t) => pieces.push(t));
  w.begin({ ...plan, hosts: [], summary: summarizePlan([]) });
  for (const h of plan.hosts) w.host(h);
  w.end({ ...plan, hosts: [] });
  return { text: pieces.join(''), pieces: pieces.length };
}

/** `plan` with its hosts replaced and the summary counted again. */
function withHosts(plan: Plan, hosts: HostPlan[]): Plan {
  return { ...plan, hosts, summary: summarizePlan(hosts) };
}

const hostile = (plan: Plan): Plan => {
  const [first] = plan.hosts;
  if (!first) throw new Error('no host');
  return withHosts(plan, [
    {
      ...first,
      host: 'evil\n  "hosts": [],\u001b[31m"\\',
      reason: 'line one\nline two\r\n  "summary": {}\u2028\u202e',
    },
    ...plan.hosts.slice(1),
  ]);
};

describe('PlanJsonWriter', () => {
  const plans: [string, Plan][] = [
    ['a fleet with every action, finding and status', fleetPlan()],
    ['the demo plan', demoPlan()],
    ['the converged demo plan', demoConvergedPlan()],
    ['no host at all', withHosts(fleetPlan(), [])],
    ['one host', withHosts(fleetPlan(), fleetPlan().hosts.slice(0, 1))],
    ['with --limit', { ...fleetPlan(), limit: 'web*:!web3' }],
    ['a host name and reason that look like the plan’s own keys', hostile(fleetPlan())],
    ['5,000 converged hosts (many pieces)', convergedPlan(5000)],
  ];
  it.each(plans)('writes planJson byte for byte: %s', (_, plan) => {
    const { text, pieces } = streamed(plan);
    expect(text).toBe(planJson(plan));
    if (plan.hosts.length >= 5000) expect(pieces).toBeGreaterThan(10);
  });

  it('never writes a vaulted value in a prose field', () => {
    const secret = 'vaulted-address-203.0.113.9';
    markSecret(secret);
    const plan = fleetPlan();
    const hosts = plan.hosts.map((h) => ({
      ...h,
      reason: `cannot reach ${secret}:22`,
      findings: h.findings.map((f) => ({ ...f, message: `${f.message} via ${secret}` })),
    }));
    const p = withHosts(plan, hosts);
    const { text } = streamed(p);
    expect(text).not.toContain(secret);
    expect(text).toContain(`cannot reach ${VAULTED}:22`);
    expect(text).toBe(planJson(p));
  });
});

describe('PlanTally', () => {
  it.each([fleetPlan(), demoPlan(), demoConvergedPlan(), hostile(fleetPlan())])(
    'counts what summarizePlan counts, host by host',
    (plan) => {
      const tally = new PlanTally();
      for (const h of plan.hosts) tally.add(h);
      expect(JSON.stringify(tally.summary())).toBe(JSON.stringify(summarizePlan(plan.hosts)));
      expect(tally.errorFinding).toBe(
        plan.hosts.some((h) => h.findings.some((f) => f.severity === 'error')),
      );
    },
  );
});
