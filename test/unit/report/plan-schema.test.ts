/** schemas/plan.schema.json describes the Plan model: hand-built plans pass, broken ones fail. */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { CHANGE_ACTIONS, PLAN_FORMAT, PLAN_VERSION } from '../../../src/plan/model.ts';
import type { Plan } from '../../../src/plan/model.ts';
import { planJson } from '../../../src/report/plan.ts';
import { demoConvergedPlan } from './demo-plan-fixture.ts';
import { convergedPlan, fleetPlan } from './plan-fixtures.ts';

const schema = JSON.parse(
  readFileSync(new URL('../../../schemas/plan.schema.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;
const validate = new Ajv2020({ allErrors: true, strict: true }).compile(schema);

/** A plan as JSON data, to break at will. */
type Json = Record<string, unknown>;
function data(plan: Plan = fleetPlan()): Json {
  return JSON.parse(planJson(plan)) as Json;
}
function at(value: unknown, ...path: (string | number)[]): Json {
  let node = value;
  for (const seg of path) node = (node as Record<string | number, unknown>)[seg];
  return node as Json;
}
function byHost(plan: Json, host: string): Json {
  return (at(plan, 'hosts') as unknown as Json[]).find((h) => h.host === host) as Json;
}
function errorsOf(value: unknown): ErrorObject[] {
  return validate(value) ? [] : (validate.errors ?? []);
}

describe('plan.schema.json', () => {
  it('is the plan format and version of the model', () => {
    const props = schema.properties as Record<string, { const: unknown }>;
    expect(props.format?.const).toBe(PLAN_FORMAT);
    expect(props.version?.const).toBe(PLAN_VERSION);
    const defs = schema.$defs as Record<string, { enum?: unknown[] }>;
    expect(defs.changeAction?.enum).toEqual([...CHANGE_ACTIONS]);
  });

  it('accepts the hand-built plans', () => {
    expect(errorsOf(data())).toEqual([]);
    expect(errorsOf(data(convergedPlan(3)))).toEqual([]);
    expect(errorsOf(data(convergedPlan(0)))).toEqual([]);
  });

  it('requires the manager and its reason of every host whose facts were read', () => {
    const plan = data();
    const hosts = at(plan, 'hosts') as unknown as Json[];
    const byStatus = (status: string) => hosts.find((h) => h.status === status) as Json;
    expect(byStatus('changes')).toMatchObject({ manager: 'kpatch' });
    expect(at(plan, 'summary').managers).toEqual({ kpatch: 4, klp: 1 });
    // a host not read has none
    expect(byStatus('unreachable').manager).toBeUndefined();
    expect(errorsOf(plan)).toEqual([]);
    for (const status of ['changes', 'converged', 'blocked']) {
      const broken = data();
      const h = (at(broken, 'hosts') as unknown as Json[]).find((x) => x.status === status) as Json;
      delete h.manager;
      delete h.managerReason;
      expect(errorsOf(broken), status).not.toEqual([]);
    }
    const cases: [string, (p: Json) => void][] = [
      ['an unknown manager', (p) => (byHost(p, 'web1').manager = 'dnf')],
      ['a manager without its reason', (p) => delete byHost(p, 'web1').managerReason],
      ['an empty reason', (p) => (byHost(p, 'web1').managerReason = '')],
      ['a reason without a manager', (p) => (byHost(p, 'lone').managerReason = 'auto')],
      ['a count for an unknown manager', (p) => (at(p, 'summary').managers = { dnf: 1 })],
      ['no counts', (p) => delete at(p, 'summary').managers],
    ];
    for (const [what, breakIt] of cases) {
      const broken = data();
      breakIt(broken);
      expect(errorsOf(broken), what).not.toEqual([]);
    }
  });

  it('takes the count of uncovered hosts; a plan written before it was counted is still valid', () => {
    const plan = data(demoConvergedPlan());
    expect(at(plan, 'summary').uncovered).toBe(1);
    expect(errorsOf(plan)).toEqual([]);
    // an older kpfleet's plan of the same version has no such count
    delete at(plan, 'summary').uncovered;
    expect(errorsOf(plan)).toEqual([]);
    at(plan, 'summary').uncovered = -1;
    expect(errorsOf(plan)).not.toEqual([]);
    at(plan, 'summary').uncovered = 'one';
    expect(errorsOf(plan)).not.toEqual([]);
  });

  it('takes what a plan removes and re-opens, per host and in the summary; optional', () => {
    const plan = data();
    const hosts = at(plan, 'hosts') as unknown as Json[];
    const host = hosts.find((h) => h.status === 'changes') as Json;
    host.reopens = ['CVE-2024-1086'];
    at(plan, 'summary').removes = [{ name: 'livepatch_cve_2024_1086', hosts: 5 }];
    at(plan, 'summary').reopens = [{ name: 'CVE-2024-1086', hosts: 5 }];
    expect(errorsOf(plan)).toEqual([]);
    at(plan, 'summary').reopens = [{ name: 'CVE-2024-1086', hosts: -1 }];
    expect(errorsOf(plan)).not.toEqual([]);
    at(plan, 'summary').reopens = [{ name: 'CVE-2024-1086' }];
    expect(errorsOf(plan)).not.toEqual([]);
    at(plan, 'summary').reopens = [{ name: 'CVE-2024-1086', hosts: 5, more: 1 }];
    expect(errorsOf(plan)).not.toEqual([]);
    delete at(plan, 'summary').reopens;
    host.reopens = ['not a cve'];
    expect(errorsOf(plan)).not.toEqual([]);
  });

  it('has a branch for every change action, and the fixture uses them all', () => {
    const used = new Set(
      fleetPlan().hosts.flatMap((h) => h.changes.map((c) => c.action as string)),
    );
    expect([...used].sort()).toEqual([...CHANGE_ACTIONS].sort());
  });

  it('refuses an unknown action', () => {
    const plan = data();
    at(plan, 'hosts', 0, 'changes', 2).action = 'reboot';
    expect(errorsOf(plan)).not.toEqual([]);
  });

  it('refuses a change or a host without its reason', () => {
    for (const index of [0, 1, 2, 3, 4, 5]) {
      const plan = data();
      const change = at(plan, 'hosts', 0, 'changes', index);
      delete change.reason;
      expect(errorsOf(plan), String(change.action)).not.toEqual([]);
    }
    const plan = data();
    delete at(plan, 'hosts', 3).reason;
    expect(errorsOf(plan)).toEqual([
      expect.objectContaining({ instancePath: '/hosts/3', keyword: 'required' }),
    ]);
  });

  it("refuses an upload whose destination is not a file in kpfleet's staging folder", () => {
    const upload = () => {
      const plan = data();
      const i = (at(plan, 'hosts', 0).changes as Json[]).findIndex((c) => c.action === 'upload');
      return { plan, change: at(plan, 'hosts', 0, 'changes', i) };
    };
    const ok = upload();
    expect(String(ok.change.destination)).toMatch(/^~\/\.kpfleet\/stage\/[0-9a-f]{16}\/[^/]+$/);
    for (const bad of [
      '/etc/cron.d/x',
      '~/.kpfleet/stage/0123456789abcdef/../../.ssh/authorized_keys',
      '~/.kpfleet/stage/0123456789abcdef/..',
      '~/.kpfleet/stage/../x.ko',
      '~/.ssh/authorized_keys',
    ]) {
      const { plan, change } = upload();
      change.destination = bad;
      expect(errorsOf(plan), bad).not.toEqual([]);
    }
  });

  it("takes an upload's signature as the reader gives it (optional); refuses other shapes", () => {
    const withSignature = (signature: unknown) => {
      const plan = data();
      const i = (at(plan, 'hosts', 0).changes as Json[]).findIndex((c) => c.action === 'upload');
      at(plan, 'hosts', 0, 'changes', i).signature = signature;
      return plan;
    };
    for (const good of [
      { signed: false },
      { signed: true, idType: 'PKCS#7', signer: 'k', keyId: '1A:2B', hashAlgo: 'sha256' },
      { signed: true, idType: 'PKCS#7', keyId: `${'AB:'.repeat(63)}AB…` },
      { signed: true, idType: 'PGP' },
      { signed: true, malformed: 'the signature is empty' },
    ])
      expect(errorsOf(withSignature(good)), JSON.stringify(good)).toEqual([]);
    for (const bad of [
      {},
      { signed: 'yes' },
      { signed: false, signer: 'k' },
      { signed: true, keyId: '1a:2b' },
      { signed: true, keyId: '1A2B' },
      { signed: true, signer: 'k'.repeat(258) },
      { signed: true, trusted: true },
    ])
      expect(errorsOf(withSignature(bad)), JSON.stringify(bad)).not.toEqual([]);
  });

  it('refuses a change without a field its action requires', () => {
    const plan = data();
    delete at(plan, 'hosts', 0, 'changes', 3).replacesModules; // load
    expect(errorsOf(plan)).not.toEqual([]);
  });

  it('refuses a load as an older kpfleet wrote it: `replaces` (modules) is now `replacesModules`', () => {
    const plan = data();
    const load = at(plan, 'hosts', 0, 'changes', 3);
    expect(load.action).toBe('load');
    load.replaces = load.replacesModules;
    delete load.replacesModules;
    const errors = errorsOf(plan);
    expect(errors).toContainEqual(
      expect.objectContaining({ params: { missingProperty: 'replacesModules' } }),
    );
    expect(errors).toContainEqual(
      expect.objectContaining({ params: { additionalProperty: 'replaces' } }),
    );
  });

  it('refuses an extra property in a change, a finding, a host, the summary or the plan', () => {
    const places: (string | number)[][] = [
      ['hosts', 0, 'changes', 0],
      ['hosts', 1, 'changes', 4],
      ['hosts', 0, 'findings', 0],
      ['hosts', 6, 'error'],
      ['hosts', 0],
      ['summary'],
      [],
    ];
    for (const path of places) {
      const plan = data();
      at(plan, ...path).surprise = true;
      expect(errorsOf(plan), path.join('.')).not.toEqual([]);
    }
    // A property that belongs to another action is extra too.
    const plan = data();
    at(plan, 'hosts', 0, 'changes', 2).module = 'kpatch_cve_2'; // enable-service
    expect(errorsOf(plan)).not.toEqual([]);
  });

  it('refuses another version or format', () => {
    for (const [key, value] of [
      ['version', 1],
      ['version', '1'],
      ['format', 'kpfleet-facts'],
    ] as const) {
      const plan = data();
      plan[key] = value;
      expect(errorsOf(plan), `${key}=${String(value)}`).toEqual([
        expect.objectContaining({ instancePath: `/${key}`, keyword: 'const' }),
      ]);
    }
  });

  it('refuses an unknown status, severity, finding kind or summary action', () => {
    const edits: ((plan: Json) => void)[] = [
      (p) => (at(p, 'hosts', 0).status = 'done'),
      (p) => (at(p, 'hosts', 0, 'findings', 0).severity = 'fatal'),
      (p) => (at(p, 'hosts', 0, 'findings', 0).kind = 'weird'),
      (p) => (at(p, 'summary', 'actions').reboot = 1),
      (p) => (at(p, 'summary', 'findings').weird = 1),
      (p) => (at(p, 'summary').hosts = -1),
    ];
    for (const edit of edits) {
      const plan = data();
      edit(plan);
      expect(errorsOf(plan), edit.toString()).not.toEqual([]);
    }
  });
});
