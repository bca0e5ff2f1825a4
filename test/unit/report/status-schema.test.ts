/** schemas/status.schema.json describes the StatusReport model: real reports pass, broken ones fail. */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { statusJson } from '../../../src/report/status-text.ts';
import { COVERAGE_STATES, STATUS_FORMAT, STATUS_VERSION } from '../../../src/status/model.ts';
import { statusFixture } from './status-fixture.ts';

const schema = JSON.parse(
  readFileSync(new URL('../../../schemas/status.schema.json', import.meta.url), 'utf8'),
) as { properties: Record<string, { const?: unknown }>; $defs: Record<string, { enum?: unknown }> };
const validate = new Ajv2020({ allErrors: true, strict: true }).compile(schema);

type Json = Record<string, unknown> & { hosts: Record<string, unknown>[] };
const data = (): Json => JSON.parse(statusJson(statusFixture())) as Json;
const errors = (v: unknown) =>
  validate(v) ? [] : (validate.errors ?? []).map((e) => e.instancePath + ' ' + (e.message ?? ''));

describe('status.schema.json', () => {
  it('is the model’s format, version and states', () => {
    expect(schema.properties.format?.const).toBe(STATUS_FORMAT);
    expect(schema.properties.version?.const).toBe(STATUS_VERSION);
    expect(schema.$defs.coverageState?.enum).toEqual([...COVERAGE_STATES]);
  });

  it('accepts the report with a host in every state', () => {
    expect(errors(data())).toEqual([]);
  });

  it('refuses a host state it does not know, a mitigated CVE with a reason, an exposed one without', () => {
    const a = data();
    a.hosts[0] = { ...a.hosts[0], state: 'fine' };
    expect(errors(a).join('\n')).toMatch(/\/hosts\/0\/state/);
    const b = data();
    const cves = b.hosts[0]?.cves as Record<string, unknown>[];
    cves[0] = { ...cves[0], reason: 'uncovered' };
    expect(errors(b).join('\n')).toMatch(/\/hosts\/0\/cves\/0/);
    const c = data();
    const exposed = c.hosts[1]?.cves as Record<string, unknown>[];
    delete exposed[0]?.reason;
    expect(errors(c).join('\n')).toMatch(/\/hosts\/1\/cves\/0/);
  });

  it("takes each host's manager and why; refuses an unknown manager", () => {
    const a = data();
    const first = a.hosts[0] ?? {};
    expect(first.manager).toBe('kpatch');
    expect(first.managerReason).toMatch(/^auto: kpatch /);
    expect(errors(a)).toEqual([]);
    a.hosts[0] = { ...first, manager: 'dnf' };
    expect(errors(a).join('\n')).toMatch(/\/hosts\/0\/manager/);
  });

  it('refuses an unknown key and a covered-until that is not a day', () => {
    const a = data();
    a.extra = 1;
    expect(errors(a)).not.toEqual([]);
    const b = data();
    b.hosts[0] = { ...b.hosts[0], coveredUntil: 'next spring' };
    expect(errors(b).join('\n')).toMatch(/coveredUntil/);
  });
});
