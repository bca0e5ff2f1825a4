/**
 * `apply --wave K` and `report merge` through the CLI, with no host contacted: the usage errors,
 * and a saved plan whose hosts are all unreachable (nothing to run): the wave 1 run of each shard
 * reports them (wave 0), a wave beyond the plan's says so and writes a report with no hosts, and
 * the gate merges the shards' reports, refuses what is not one run and stays shut on a missing
 * shard. The gate's arithmetic is test/unit/report/report-merge.test.ts; the hosts changed wave by
 * wave, test/e2e/fleet/waves.test.ts.
 */
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterEach, describe, expect, it } from 'vitest';
import { selectHostsForCli } from '../../../src/cli/commands/project.ts';
import type { CliIo } from '../../../src/cli/io.ts';
import { VERSION } from '../../../src/cli/version.ts';
import { buildPlan } from '../../../src/plan/plan.ts';
import { shardOf } from '../../../src/inventory/shard.ts';
import { projectFingerprint } from '../../../src/workflow/hosts.ts';
import { runInProcess } from '../../cli-in-process.ts';

const BASE = new URL('../../fixtures/invalid/_base/', import.meta.url).pathname;
const HOSTS = ['web1', 'web2', 'db1', 'el9-a', 'el9-b'];
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const schema = (n: string) =>
  JSON.parse(readFileSync(new URL(`../../../schemas/${n}`, import.meta.url), 'utf8')) as object;
const validReport = new Ajv2020({ allErrors: true, strict: true })
  .addSchema(schema('plan.schema.json'))
  .compile(schema('report.schema.json'));

/** A project of five hosts and a saved plan where every host was unreachable. */
function project(): string {
  const d = mkdtempSync(join(tmpdir(), 'kpfleet-wave-'));
  dirs.push(d);
  cpSync(BASE, d, { recursive: true });
  const sha = createHash('sha256')
    .update(readFileSync(join(d, 'patches/a.ko')))
    .digest('hex');
  writeFileSync(
    join(d, 'kpfleet.yml'),
    `inventory: inventory.ini\nrollout:\n  waves: [1, 100%]\n  max_failures: 0\npatches:\n  a:\n    module: livepatch_a\n    kernel: "5.*"\n    file: patches/a.ko\n    sha256: ${sha}\ngroups:\n  web:\n    loaded: [a]\n`,
  );
  const io: CliIo = {
    stdout: { write: () => true },
    stderr: { write: () => true },
    env: { HOME: d },
    cwd: d,
  };
  const plan = buildPlan(
    HOSTS.map((host) => ({
      host,
      groups: host.startsWith('web') ? ['web'] : [],
      status: 'unreachable' as const,
      reason: 'connection refused',
      changes: [],
      findings: [],
      cves: [],
      error: { code: 'E_UNREACHABLE', message: 'connection refused' },
    })),
    {
      createdAt: new Date().toISOString(),
      kpfleetVersion: VERSION,
      config: 'kpfleet.yml',
      configFingerprint: projectFingerprint(selectHostsForCli({}, io)),
    },
  );
  writeFileSync(join(d, 'plan.json'), JSON.stringify(plan));
  return d;
}

const kpfleet = (d: string, ...args: string[]) =>
  runInProcess(args, { cwd: d, env: { HOME: d, XDG_STATE_HOME: join(d, 'state') } });
const report = (d: string, f: string) =>
  JSON.parse(readFileSync(join(d, f), 'utf8')) as {
    wave?: number;
    shard?: { index: number; count: number };
    hosts: { host: string; wave: number; outcome: string }[];
  };

/** `kpfleet report merge --plan plan.json --wave 1 ARGS...` in the project `d`. */
const gate1 = (d: string, ...args: string[]) =>
  kpfleet(d, 'report', 'merge', '--plan', 'plan.json', '--wave', '1', ...args);

describe('apply --wave K', () => {
  it('is a usage error without a saved plan, or with a wave that is not a whole number ≥ 1', async () => {
    const d = project();
    const none = await kpfleet(d, 'apply', '--wave', '1', '--yes');
    expect(none.code).toBe(64);
    expect(none.stderr).toContain('--wave needs a saved plan');
    expect(none.stderr).toContain('computed over the whole fleet');
    for (const bad of ['0', '-1', '1.5', 'two', '']) {
      const r = await kpfleet(d, 'apply', '--wave', bad, '--yes', 'plan.json');
      expect(r.code, bad).toBe(64);
      expect(r.stderr, bad).toContain('is not a wave number');
    }
  });

  it('wave 1 of each shard reports its hosts with nothing to run (wave 0); a later wave, none', async () => {
    const d = project();
    for (const i of [1, 2]) {
      const r = await kpfleet(
        d,
        'apply',
        '--wave',
        '1',
        '--shard',
        `${String(i)}/2`,
        '--yes',
        '--report',
        `w1-${String(i)}.json`,
        'plan.json',
      );
      expect(r.code, r.stdout + r.stderr).toBe(4);
      const rep = report(d, `w1-${String(i)}.json`);
      expect(validReport(rep), JSON.stringify(validReport.errors)).toBe(true);
      expect(rep).toMatchObject({ wave: 1, shard: { index: i, count: 2 } });
      expect(rep.hosts.map((h) => h.host)).toEqual(HOSTS.filter((h) => shardOf(h, 2) === i));
      expect(rep.hosts.every((h) => h.wave === 0 && h.outcome === 'unreachable')).toBe(true);
    }
    const later = await kpfleet(
      d,
      'apply',
      '--wave',
      '2',
      '--shard',
      '1/2',
      '--yes',
      '--report',
      'w2-1.json',
      'plan.json',
    );
    expect(later.code).toBe(0);
    expect(later.stdout).toContain('wave 2: the plan has 0 waves; nothing to do');
    const rep = report(d, 'w2-1.json');
    expect(validReport(rep)).toBe(true);
    expect(rep).toMatchObject({ wave: 2, shard: { index: 1, count: 2 }, hosts: [] });

    // the gate over wave 1: unreachable hosts of wave 0 are not attempts of a wave
    const gate = await gate1(d, 'w1-2.json', 'w1-1.json', '--out', 'merged.json');
    expect(gate.stderr).toBe('');
    expect(gate.stdout).toContain(
      'the next wave may start: 0 of 0 hosts failed, max_failures 0 allows 0',
    );
    expect(gate.code).toBe(0);
    const merged = report(d, 'merged.json');
    expect(validReport(merged)).toBe(true);
    expect(merged.shard).toBeUndefined();
    expect(merged.wave).toBe(1);
    expect(merged.hosts.map((h) => h.host).sort()).toEqual([...HOSTS].sort());

    // a shard's report missing: the gate stays shut, naming it
    const missing = await gate1(d, 'w1-1.json', '--max-failures', '5');
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain(
      'the next wave must not start: no report for shard 2/2 of wave 1',
    );
    // the same shard twice, a host twice, not a report: refused, nothing merged
    const twice = await gate1(d, 'w1-1.json', 'merged.json');
    expect(twice.code).toBe(64);
    const notReport = await gate1(d, 'w1-1.json', 'plan.json');
    expect(notReport.code).toBe(64);
    expect(notReport.stderr).toContain('plan.json is not a kpfleet apply report');
    const badBudget = await gate1(d, 'w1-1.json', '--max-failures', 'x');
    expect(badBudget.code).toBe(64);

    // review: reports of another plan (other bytes) are refused; the gate needs --plan and --wave
    writeFileSync(join(d, 'other.json'), readFileSync(join(d, 'plan.json'), 'utf8') + '\n');
    const other = await kpfleet(
      d,
      'report',
      'merge',
      '--plan',
      'other.json',
      '--wave',
      '1',
      'w1-1.json',
      'w1-2.json',
    );
    expect(other.code).toBe(64);
    expect(other.stderr).toContain('w1-1.json is not a report of this plan');
    const bare = await kpfleet(d, 'report', 'merge', 'w1-1.json', 'w1-2.json');
    expect(bare.code).toBe(64);
    expect(bare.stderr).toMatch(/required option '--plan <file>'/);
    // a shard's own plan has not the fleet's waves: --wave refuses it
    await kpfleet(d, 'plan', '--shard', '1/2', '--out', 'shard-1.json');
    const shardPlan = await kpfleet(
      d,
      'apply',
      '--wave',
      '1',
      '--shard',
      '1/2',
      '--yes',
      'shard-1.json',
    );
    expect(shardPlan.code).toBe(64);
    expect(shardPlan.stderr).toContain("--wave needs the whole fleet's plan");
  });
});
