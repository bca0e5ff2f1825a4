/** The apply report: built from results, valid against schemas/report.schema.json. */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import type { HostResult } from '../../../src/apply/events.ts';
import { HOST_OUTCOMES } from '../../../src/apply/outcomes.ts';
import {
  APPLY_REPORT_FORMAT,
  APPLY_REPORT_VERSION,
  applyReportJson,
  buildApplyReport,
} from '../../../src/report/apply-report.ts';
import type { ApplyReport } from '../../../src/report/apply-report.ts';
import { fleetPlan } from './plan-fixtures.ts';
import {
  FP_AFTER,
  FP_BEFORE,
  fleetRun,
  load,
  reportInput as input,
  scriptedRun,
  step,
  unload,
} from './apply-fixtures.ts';

const readSchema = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../../schemas/${name}`, import.meta.url), 'utf8')) as Record<
    string,
    unknown
  >;
const schema = readSchema('report.schema.json');
// The steps' changes are the plan's: the report schema refers to plan.schema.json beside it.
const validate = new Ajv2020({ allErrors: true, strict: true })
  .addSchema(readSchema('plan.schema.json'))
  .compile(schema);

type Json = Record<string, unknown>;

function data(report: ApplyReport): Json {
  return JSON.parse(applyReportJson(report)) as Json;
}

function at(value: unknown, ...path: (string | number)[]): Json {
  let node = value;
  for (const seg of path) node = (node as Record<string | number, unknown>)[seg];
  return node as Json;
}

function errorsOf(value: unknown): ErrorObject[] {
  return validate(value) ? [] : (validate.errors ?? []);
}

/** A host of every outcome, with every optional field of HostResult and StepRecord used. */
function everyOutcome(): HostResult[] {
  return HOST_OUTCOMES.map((outcome, i) => ({
    host: `host${String(i)}`,
    wave: i === 0 ? 0 : 1,
    outcome,
    message: `ended ${outcome}`,
    manager: 'klp',
    managerReason: 'auto: no kpatch utility',
    before: FP_BEFORE,
    after: FP_AFTER,
    steps: [
      step(load('livepatch_x'), false, 12.7, { output: 'out\nerr', error: 'exit 1' }),
      step(unload('livepatch_x'), true, 3, { rollback: true }),
    ],
    error: { code: 'E_X', message: 'went wrong', step: 'connect', hint: 'try again' },
    durationMs: 99.4,
  }));
}

function withoutManager(r: HostResult): HostResult {
  const out = { ...r };
  delete out.manager;
  delete out.managerReason;
  return out;
}

describe('buildApplyReport', () => {
  it('counts hosts per outcome and steps', () => {
    const { results } = scriptedRun();
    const report = buildApplyReport(input(results, { halted: true }));
    expect(report.format).toBe(APPLY_REPORT_FORMAT);
    expect(report.version).toBe(APPLY_REPORT_VERSION);
    expect(report.summary).toEqual({
      hosts: 5,
      outcomes: {
        changed: 1,
        'would-change': 0,
        unchanged: 1,
        failed: 1,
        'rollback-failed': 0,
        unreachable: 0,
        locked: 1,
        stale: 0,
        blocked: 0,
        interrupted: 0,
        skipped: 1,
      },
      steps: 4,
      failedSteps: 1,
      rollbackSteps: 1,
    });
    expect(report.hosts.map((h) => h.host)).toEqual(['db01', 'web01', 'web02', 'web03', 'web04']);
    expect(report.halted).toBe(true);
  });

  it('leaves optional fields out when absent, and keeps only the known fields', () => {
    const { results } = scriptedRun();
    const withExtra = results.map((r) => ({ ...r, transport: { password: 'x' } }));
    const bare = input(withExtra);
    delete bare.configCommit;
    delete bare.planFile;
    const report = buildApplyReport(bare);
    const json = data(report);
    expect('configCommit' in json).toBe(false);
    expect('planFile' in json).toBe(false);
    expect(applyReportJson(report)).not.toContain('password');
    expect('before' in at(json, 'hosts', 0)).toBe(false);
    expect(errorsOf(json)).toEqual([]);
  });

  it("keeps each host's manager and why, as its plan says; none where it was not read", () => {
    const [first] = everyOutcome();
    if (!first) throw new Error('no host');
    const report = buildApplyReport(input([first, withoutManager({ ...first, host: 'unread' })]));
    expect(report.hosts[0]).toMatchObject({
      manager: 'klp',
      managerReason: 'auto: no kpatch utility',
    });
    expect(report.hosts[1]).not.toHaveProperty('manager');
    expect(report.hosts[1]).not.toHaveProperty('managerReason');
  });

  it('rounds durations to whole milliseconds', () => {
    const report = buildApplyReport(input(everyOutcome(), { durationMs: 8200.6 }));
    expect(report.durationMs).toBe(8201);
    expect(report.hosts[0]?.durationMs).toBe(99);
    expect(report.hosts[0]?.steps[0]?.durationMs).toBe(13);
  });

  it('writes 2-space JSON with a final newline', () => {
    const text = applyReportJson(buildApplyReport(input(scriptedRun().results)));
    expect(text.endsWith('}\n')).toBe(true);
    expect(text.startsWith('{\n  "format": "kpfleet-apply-report",\n')).toBe(true);
  });
});

describe('report.schema.json', () => {
  it('lists the outcomes of events.ts', () => {
    const defs = schema.$defs as Record<string, { enum?: unknown[] }>;
    expect(defs.outcome?.enum).toEqual([...HOST_OUTCOMES]);
    const summary = (schema.$defs as Record<string, Json>).summary;
    const outcomes = at(summary, 'properties', 'outcomes');
    expect(outcomes.required).toEqual([...HOST_OUTCOMES]);
    const props = schema.properties as Record<string, { const: unknown }>;
    expect(props.format?.const).toBe(APPLY_REPORT_FORMAT);
    expect(props.version?.const).toBe(APPLY_REPORT_VERSION);
  });

  it('accepts built reports', () => {
    expect(errorsOf(data(buildApplyReport(input(scriptedRun().results))))).toEqual([]);
    expect(errorsOf(data(buildApplyReport(input(fleetRun(40, [4, 36], 8).results))))).toEqual([]);
    expect(errorsOf(data(buildApplyReport(input([]))))).toEqual([]);
    expect(errorsOf(data(buildApplyReport(input([], { check: true, interrupted: true }))))).toEqual(
      [],
    );
  });

  it('represents every outcome and every field of a host result and a step', () => {
    expect(errorsOf(data(buildApplyReport(input(everyOutcome()))))).toEqual([]);
  });

  it('accepts every change action of the plan inside a step', () => {
    const changes = fleetPlan().hosts.flatMap((h) => h.changes);
    const result: HostResult = {
      host: 'web1',
      wave: 1,
      outcome: 'changed',
      message: 'done',
      steps: changes.map((c) => step(c, true, 1)),
      durationMs: 10,
    };
    expect(errorsOf(data(buildApplyReport(input([result]))))).toEqual([]);
  });

  it('refuses broken reports', () => {
    const edits: [string, (r: Json) => void][] = [
      ['unknown outcome', (r) => (at(r, 'hosts', 2).outcome = 'exploded')],
      ['host without message', (r) => delete at(r, 'hosts', 2).message],
      ['host without steps', (r) => delete at(r, 'hosts', 2).steps],
      ['extra host property', (r) => (at(r, 'hosts', 2).surprise = 1)],
      ['extra step property', (r) => (at(r, 'hosts', 2, 'steps', 0).surprise = 1)],
      ['extra report property', (r) => (r.surprise = 1)],
      ['step without ok', (r) => delete at(r, 'hosts', 2, 'steps', 0).ok],
      ['unknown change action', (r) => (at(r, 'hosts', 2, 'steps', 0, 'change').action = 'reboot')],
      ['change without reason', (r) => delete at(r, 'hosts', 2, 'steps', 0, 'change').reason],
      ['negative duration', (r) => (at(r, 'hosts', 2).durationMs = -1)],
      ['fractional wave', (r) => (at(r, 'hosts', 2).wave = 1.5)],
      ['summary without an outcome', (r) => delete at(r, 'summary', 'outcomes').stale],
      ['summary with an unknown outcome', (r) => (at(r, 'summary', 'outcomes').exploded = 0)],
      ['another version', (r) => (r.version = 2)],
      ['another format', (r) => (r.format = 'kpfleet-plan')],
      ['a start that is no time', (r) => (r.startedAt = 'yesterday')],
      ['an error without a code', (r) => delete at(r, 'hosts', 0, 'error').code],
      ['no operator', (r) => delete r.operator],
      ['an unknown manager', (r) => (at(r, 'hosts', 1).manager = 'dnf')],
      ['an empty manager reason', (r) => (at(r, 'hosts', 1).managerReason = '')],
    ];
    for (const [name, edit] of edits) {
      const report = data(buildApplyReport(input(everyOutcome())));
      expect(errorsOf(report), 'before: ' + name).toEqual([]);
      edit(report);
      expect(errorsOf(report), name).not.toEqual([]);
    }
  });
});
