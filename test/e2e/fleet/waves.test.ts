/**
 * Waves across shards on the real-SSH fleet, with the built CLI, as a CI matrix runs them
 * (docs/sharding.md): 3 shard plans made by 3 separate `kpfleet plan --shard I/3 --out`
 * processes, joined by `kpfleet plan merge`, then applied wave by wave, each wave by 3 separate
 * `kpfleet apply --wave K --shard I/3` processes with `kpfleet report merge` as the gate between
 * waves. A clean rollout converges every host (a second plan has nothing to do) and the reports
 * of all the waves name every host once, in the wave one apply would give it; a host whose health
 * check fails in wave 1 with max_failures 0 shuts the gate (exit 1) and wave 2 never starts.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { CVE, EL9, kpfleetIn, makePatchFile, writeProject } from '../../project.ts';
import { fleetDown, fleetUp } from '../../../lab/fleet.ts';
import type { Fleet, FleetHost } from '../../../lab/fleet.ts';
import { TMP_BASE } from '../../../lab/host-dir.ts';
import { shardOf } from '../../../src/inventory/shard.ts';

const DIR = join(TMP_BASE, `e2e-waves-${String(process.pid)}`);
const MOD = 'livepatch_cve_2024_1086';
const SHARDS = [1, 2, 3];
let fleet: Fleet;
const kpfleet = kpfleetIn(DIR);

const loaded = (h: FleetHost): boolean => h.sim.readSysfs().patches[MOD]?.enabled === '1';
const installed = (h: FleetHost): boolean =>
  h.sim
    .readSysfs()
    .installed.some((i) => i.kernel === EL9 && i.file === 'livepatch-cve-2024-1086.ko');

interface Report {
  wave?: number;
  shard?: { index: number; count: number };
  hosts: { host: string; wave: number; outcome: string }[];
}
const readReport = (f: string) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Report;

beforeAll(async () => {
  fleet = await fleetUp({
    hosts: 6,
    dir: DIR,
    subnet: 76,
    profiles: ['rhel9'],
    simProfile: { TIME_SCALE: '0.01' },
  });
  makePatchFile(fleet.hosts[0], DIR, CVE);
  writeProject(DIR, {
    rollout: [
      'waves: [1, 50%, 100%]',
      'max_failures: 0',
      "health_check: 'test ! -e /var/tmp/unhealthy'",
    ],
    patches: [CVE],
    groups: { rhel9: { loaded: ['cve-2024-1086'] } },
  });
}, 120_000);
afterAll(async () => {
  await fleetDown(DIR);
});
beforeEach(async () => {
  for (const h of fleet.hosts) {
    if (loaded(h) || h.sim.readSysfs().modules[MOD])
      await h.sim.run(['kpatch', 'force', 'unload', MOD]);
    if (installed(h)) await h.sim.run(['kpatch', 'uninstall', '-k', EL9, MOD]);
    rmSync(join(h.sim.root, 'var/tmp/unhealthy'), { force: true });
  }
});

/** N plan processes, one per shard, then `plan merge`: the merged plan.json. */
async function planInShards(): Promise<void> {
  const plans = await Promise.all(
    SHARDS.map((i) =>
      kpfleet(['plan', '--shard', `${String(i)}/3`, '--out', `shard-${String(i)}.json`]),
    ),
  );
  for (const p of plans) expect(p.code, p.stdout + p.stderr).toBe(0);
  const merge = await kpfleet([
    'plan',
    'merge',
    '--out',
    'plan.json',
    ...SHARDS.map((i) => `shard-${String(i)}.json`),
  ]);
  expect(merge.code, merge.stdout + merge.stderr).toBe(0);
}

/** `apply --wave K --shard I/3` of the merged plan, its report in `report`. */
const applyWave = (k: number, i: number, report: string): string[] => [
  'apply',
  '--wave',
  String(k),
  '--shard',
  `${String(i)}/3`,
  '--yes',
  '--report',
  report,
  'plan.json',
];

/** Wave K: one apply process per shard (together), then the gate over every report so far. */
async function wave(k: number, reports: string[]) {
  const runs = await Promise.all(
    SHARDS.map((i) => {
      const file = `w${String(k)}-s${String(i)}.json`;
      reports.push(file);
      return kpfleet(applyWave(k, i, file));
    }),
  );
  const gate = await kpfleet([
    'report',
    'merge',
    '--plan',
    'plan.json',
    '--wave',
    String(k),
    '--out',
    `merged-${String(k)}.json`,
    ...reports,
  ]);
  return { runs, gate };
}

it('a clean rollout, wave by wave over 3 shards, converges every host; a second plan has nothing to do', async () => {
  await planInShards();
  const reports: string[] = [];
  for (const k of [1, 2, 3]) {
    const { runs, gate } = await wave(k, reports);
    for (const r of runs) expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(gate.stdout, gate.stderr).toContain('the next wave may start: 0 of');
    expect(gate.code).toBe(0);
  }
  for (const h of fleet.hosts) expect(loaded(h) && installed(h), h.name).toBe(true);
  // every host once over all the reports, in its shard's, in the wave one apply gives it
  const seen = reports.flatMap((f) => {
    const r = readReport(f);
    return r.hosts.map((h) => {
      expect(r.shard?.index, `${h.host} in ${f}`).toBe(shardOf(h.host, 3));
      expect(h.wave, `${h.host} in ${f}`).toBe(r.wave);
      return [h.host, h.wave, h.outcome];
    });
  });
  expect(seen.sort()).toEqual(
    [1, 2, 2, 3, 3, 3].map((w, i) => [`h00${String(i + 1)}`, w, 'changed']),
  );
  expect(readReport('merged-3.json').hosts).toHaveLength(6);
  // a wave the plan does not have: nothing to do, and a report with no host
  const beyond = await kpfleet(applyWave(4, 1, 'w4.json'));
  expect(beyond.code).toBe(0);
  expect(beyond.stdout).toContain('wave 4: the plan has 3 waves; nothing to do');
  expect(readReport('w4.json')).toMatchObject({ wave: 4, hosts: [] });
  // converged: plan again, no change anywhere
  const again = await kpfleet(['plan', '--detailed-exitcode']);
  expect(again.code, again.stdout).toBe(0);
}, 240_000);

it('a host failing its health check in wave 1 (max_failures 0) shuts the gate; wave 2 never starts', async () => {
  const canary = fleet.host('h001');
  writeFileSync(join(canary.sim.root, 'var/tmp/unhealthy'), '');
  await planInShards();
  const reports: string[] = [];
  const { runs, gate } = await wave(1, reports);
  // the canary's shard fails (the host rolled back), the others had nothing to change in wave 1
  const failedShard = shardOf('h001', 3);
  runs.forEach((r, i) =>
    expect(r.code, `shard ${String(i + 1)}: ${r.stdout}`).toBe(i + 1 === failedShard ? 1 : 0),
  );
  expect(loaded(canary) || installed(canary)).toBe(false);
  expect(gate.code).toBe(1);
  expect(gate.stdout).toContain(
    'the next wave must not start: 1 of 1 hosts failed, max_failures 0 allows 0',
  );
  expect(readReport('merged-1.json').hosts.find((h) => h.host === 'h001')?.outcome).toBe('failed');
  // as the pipeline does: the gate failed, so wave 2 is not run, and no other host was touched
  for (const h of fleet.hosts) expect(loaded(h), h.name).toBe(false);
}, 240_000);
