/**
 * Scale (issue 8 §1, issue 19): `kpfleet plan` over 1,000 hosts on the real-sshd fleet, and over
 * 1,000 to 10,000 hosts on the in-process lab in replay mode (bench/lab-server.ts, its own
 * process): wall time, kpfleet's own CPU per host, peak RSS (GNU time, the whole CLI process,
 * Node's default heap), and how many logins and execs each host saw (sshd's logs; the lab's
 * counters): one and one is the target. The 10,000-host lab run is checked against issue 19's
 * targets (peak RSS ≤ 200 MB, CPU per host ≤ 2.3 ms).
 *
 * Then 100,000 lab hosts planned as 10 shards of 10,000 (`--shard-hosts`, `--shards`), one after
 * another as separate processes, `kpfleet plan --shard I/10 --out shard-I.json`, then
 * `kpfleet plan merge shard-*.json --out merged.json`: each shard's wall, CPU and peak RSS, the
 * merge's, and a check that the shards, and the merged plan, hold every host exactly once. One
 * lab process serves the 100,000 hosts but only one shard's hosts listen at a time, each on an
 * address of its own (127.x.y.z; one address has too few ports, this process too few file
 * descriptors for 100,000 listeners): the inventory and known_hosts list all 100,000 and never
 * change, so every shard plans the same project (bench/lab-server.ts, LabOptions.fixed).
 * The 10,000-host lab plan is then run `--cpu-rounds` more times, alternating with a build of
 * `--baseline` (kpfleet before issue 19; '' for none): CPU per host is the median of the runs.
 *   tsx bench/scale.ts [--fleet-hosts 1000] [--lab-hosts 1000,5000,10000]
 *                      [--shard-hosts 100000] [--shards 10] [--cpu-rounds 5] [--baseline REF]
 *                      → bench/results/scale.json
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fleetDown, fleetUp } from '../lab/fleet.ts';
import { TMP_BASE } from '../lab/host-dir.ts';
import { sshdCounts, sshdLogOffsets } from '../lab/sshd-log.ts';
import {
  build,
  buildBaseline,
  EL9,
  machine,
  range,
  startLabServer,
  stats,
  timeKpfleet,
  writeProject,
  writeResult,
} from './lib.ts';
import type { Baseline, ScaleRow as Row, Timed } from './lib.ts';
import { SCALE_FORKS as FORKS } from './lib.ts';
import { shardedRun } from './sharded.ts';

/**
 * kpfleet as issue 19 found it (the commit before its first change): the 10,000-host plan is
 * timed alternately with this build and that one on the same lab, `--cpu-rounds` times each.
 * This machine's CPU time per run varies by ±20% from one minute to the next (a VM whose
 * neighbours' load shows as no steal time), so one run against a number measured another day
 * says little; the same rounds for both builds do.
 */
const BASELINE_REF = 'ae1bc1a';

const { values } = parseArgs({
  options: {
    'fleet-hosts': { type: 'string', default: '1000' },
    'lab-hosts': { type: 'string', default: '1000,5000,10000' },
    'shard-hosts': { type: 'string', default: '100000' },
    shards: { type: 'string', default: '10' },
    'cpu-rounds': { type: 'string', default: '5' },
    baseline: { type: 'string', default: BASELINE_REF },
  },
});

function planOnce(dir: string, n: number, env: Record<string, string> = {}, bin?: string): Timed {
  const t = timeKpfleet(['plan', '--format', 'json'], dir, env, bin);
  if (t.status !== 0) {
    let why = t.stderr.slice(-2000);
    try {
      const plan = JSON.parse(t.stdout) as {
        hosts: { host: string; status: string; reason: string }[];
      };
      const bad = plan.hosts.filter((h) => h.status !== 'changes' && h.status !== 'converged');
      why = `${String(bad.length)} hosts not planned, e.g. ${JSON.stringify(bad.slice(0, 3))}`;
    } catch {
      // no JSON: stderr says why
    }
    throw new Error(`kpfleet plan over ${String(n)} hosts exited ${String(t.status)}: ${why}`);
  }
  const p = JSON.parse(t.stdout) as { summary: { hosts: number; changes: number } };
  if (p.summary.hosts !== n || p.summary.changes !== n) {
    throw new Error(`plan over ${String(n)} hosts saw ${JSON.stringify(p.summary)}`);
  }
  return t;
}

const row = (
  where: Row['where'],
  n: number,
  upSeconds: number,
  t: Timed,
  logins: number[],
  execs: number[],
): Row => ({
  where,
  hosts: n,
  upSeconds,
  wallSeconds: t.wall,
  cpuSeconds: t.cpu,
  cpuMsPerHost: (t.cpu * 1000) / n,
  peakRssMb: t.rssMb,
  loginsPerHost: range(logins),
  execsPerHost: range(execs),
});

build();
const rows: Row[] = [];

// issue 19's targets, on the 10,000-host lab run with Node's defaults
const TARGET = { hosts: 10_000, peakRssMb: 200, cpuMsPerHost: 2.3 };
const built = values.baseline === '' ? undefined : buildBaseline(values.baseline);
if (typeof built === 'string') console.log(built);
const baseline = typeof built === 'string' ? undefined : built;

interface CpuRounds {
  /** CPU ms per host of each run of this build (the counted run first), and of the baseline. */
  current: number[];
  baseline?: { ref: string; commit: string; msPerHost: number[]; peakRssMb: number[] };
}
let cpuRounds: CpuRounds | undefined;

/** `--cpu-rounds` more plans of the same lab, this build and the baseline in turn. */
function alternateRounds(dir: string, n: number, first: Timed, base?: Baseline): CpuRounds {
  const perHost = (t: Timed) => (t.cpu * 1000) / n;
  const current = [perHost(first)];
  const runs = { msPerHost: [] as number[], peakRssMb: [] as number[] };
  for (let r = 0; r < Number(values['cpu-rounds']); r++) {
    // who goes first changes each round: neither build always runs on the warmer machine
    const order = r % 2 === 0 ? (['base', 'current'] as const) : (['current', 'base'] as const);
    for (const which of order) {
      if (which === 'current') current.push(perHost(planOnce(dir, n)));
      else if (base) {
        const t = planOnce(dir, n, {}, base.bin);
        runs.msPerHost.push(perHost(t));
        runs.peakRssMb.push(t.rssMb);
      }
    }
  }
  return base
    ? { current, baseline: { ref: base.ref, commit: base.commit, ...runs } }
    : { current };
}

for (const n of values['fleet-hosts'].split(',').filter(Boolean).map(Number)) {
  const dir = join(TMP_BASE, `bench-scale-${String(n)}`);
  const t0 = performance.now();
  const fleet = await fleetUp({
    hosts: n,
    dir,
    subnet: 91,
    logLevel: 'VERBOSE', // logins and exec sessions are counted from each sshd's log
    simProfile: { TIME_SCALE: '0.01' },
  });
  const up = (performance.now() - t0) / 1000;
  try {
    const first = fleet.hosts[0];
    if (!first) throw new Error('no hosts');
    writeProject(dir, (ko) => first.sim.makeModule(ko, { name: 'livepatch_cve', kernel: EL9 }), {
      forks: FORKS,
    });
    const dirs = fleet.hosts.map((h) => h.dir);
    const offsets = sshdLogOffsets(dirs);
    const t = planOnce(dir, n);
    const c = sshdCounts(dirs, offsets);
    rows.push(row('sshd fleet', n, up, t, c.logins, c.execs));
  } finally {
    await fleetDown(dir);
  }
  console.log(JSON.stringify(rows.at(-1)));
}

const labSizes = values['lab-hosts'].split(',').filter(Boolean).map(Number);
for (const n of labSizes) {
  const dir = join(TMP_BASE, `bench-lab-${String(n)}`);
  const server = await startLabServer(n, dir);
  try {
    const t = planOnce(dir, n);
    const c = await server.counts();
    rows.push(row('lab', n, server.startSeconds, t, c.connections, c.execs));
    if (n === TARGET.hosts) cpuRounds = alternateRounds(dir, n, t, baseline);
  } finally {
    await server.stop();
  }
  console.log(JSON.stringify(rows.at(-1)));
}
baseline?.remove();

// the targets: peak RSS of the counted run; CPU per host as the median of this build's runs, and
// against the baseline's median over the same rounds
const at10k = rows.find((r) => r.where === 'lab' && r.hosts === TARGET.hosts);
const cpuMedian = cpuRounds ? stats(cpuRounds.current).median : at10k?.cpuMsPerHost;
const baseMedian = cpuRounds?.baseline ? stats(cpuRounds.baseline.msPerHost).median : undefined;
const targets = at10k &&
  cpuMedian !== undefined && {
    ...TARGET,
    measured: { peakRssMb: at10k.peakRssMb, cpuMsPerHost: cpuMedian },
    rssMet: at10k.peakRssMb <= TARGET.peakRssMb,
    // "no worse than today's 2.3 ms": the code of that day, measured in the same rounds when it
    // was built beside this one (a number from another day says little on a shared VM)
    cpuMet: baseMedian !== undefined ? cpuMedian <= baseMedian : cpuMedian <= TARGET.cpuMsPerHost,
    ...(cpuRounds ? { cpuRounds } : {}),
    ...(baseMedian !== undefined
      ? { baselineCpuMsPerHost: baseMedian, cpuVsBaseline: cpuMedian / baseMedian }
      : {}),
  };
if (targets) {
  const met = (b: boolean) => (b ? 'met' : 'NOT MET');
  console.log(
    `10,000 lab hosts: peak RSS ${targets.measured.peakRssMb.toFixed(1)} MB (≤ 200: ${met(targets.rssMet)}), ` +
      `CPU ${targets.measured.cpuMsPerHost.toFixed(2)} ms/host, median of ${String(cpuRounds?.current.length ?? 1)}` +
      (baseMedian === undefined
        ? ` (≤ 2.3: ${met(targets.cpuMet)})`
        : `; baseline ${values.baseline} ${baseMedian.toFixed(2)} ms/host over the same rounds (${(cpuMedian / baseMedian).toFixed(2)}×, no worse: ${met(targets.cpuMet)})`),
  );
}

const shardHosts = Number(values['shard-hosts'] || 0);
const sharded = shardHosts > 0 ? await shardedRun(shardHosts, Number(values.shards)) : undefined;

// peak RSS against hosts on the lab: least squares, and the worst relative miss of the line
const lab = rows.filter((r) => r.where === 'lab');
const mx = lab.reduce((s, r) => s + r.hosts, 0) / lab.length;
const my = lab.reduce((s, r) => s + r.peakRssMb, 0) / lab.length;
const slope =
  lab.reduce((s, r) => s + (r.hosts - mx) * (r.peakRssMb - my), 0) /
  lab.reduce((s, r) => s + (r.hosts - mx) ** 2, 0);
const intercept = my - slope * mx;
const worstMiss = Math.max(
  ...lab.map((r) => Math.abs(r.peakRssMb - (intercept + slope * r.hosts)) / r.peakRssMb),
);
const out = {
  when: new Date().toISOString(),
  machine: machine(),
  forks: FORKS,
  rows,
  rssFit: { mbFixed: intercept, kbPerHost: slope * 1024, worstRelativeMiss: worstMiss },
  ...(targets ? { targets } : {}),
  ...(sharded ? { sharded } : {}),
};
writeResult('scale.json', out);
console.log(JSON.stringify(out, null, 2));
