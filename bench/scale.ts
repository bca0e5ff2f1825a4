/**
 * Scale (issue 8 §1): `kpfleet plan` over 1,000 hosts on the real-sshd fleet, and over 1,000 to
 * 10,000 hosts on the in-process lab in replay mode (bench/lab-server.ts, its own process): wall
 * time, kpfleet's own CPU per host, peak RSS (GNU time, the whole CLI process), and how many
 * logins and execs each host saw (sshd's logs; the lab's counters): one and one is the target.
 *   tsx bench/scale.ts [--fleet-hosts 1000] [--lab-hosts 1000,5000,10000]  → bench/results/scale.json
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fleetDown, fleetUp } from '../lab/fleet.ts';
import { TMP_BASE } from '../lab/host-dir.ts';
import {
  build,
  EL9,
  machine,
  range,
  sshdCounts,
  sshdLogOffsets,
  startLabServer,
  timeKpfleet,
  writeProject,
  writeResult,
} from './lib.ts';
import type { ScaleRow as Row, Timed } from './lib.ts';
import { SCALE_FORKS as FORKS } from './lib.ts';

const { values } = parseArgs({
  options: {
    'fleet-hosts': { type: 'string', default: '1000' },
    'lab-hosts': { type: 'string', default: '1000,5000,10000' },
  },
});

function planOnce(dir: string, n: number, env: Record<string, string> = {}): Timed {
  const t = timeKpfleet(['plan', '--format', 'json'], dir, env);
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
const LAB_MAX = Math.max(...labSizes);
const CAP = '--max-old-space-size=160';
for (const n of labSizes) {
  const dir = join(TMP_BASE, `bench-lab-${String(n)}`);
  const server = await startLabServer(n, dir);
  try {
    const t = planOnce(dir, n);
    const c = await server.counts();
    rows.push(row('lab', n, server.startSeconds, t, c.connections, c.execs));
    if (n === LAB_MAX) {
      // the same plan with V8's old space capped, as a memory-tight CI runner would run it: the
      // live heap is far below the default peak (docs/benchmarks.md, "Memory")
      const capped = planOnce(dir, n, { NODE_OPTIONS: CAP });
      const cc = await server.counts();
      rows.push({
        ...row('lab', n, server.startSeconds, capped, cc.connections, cc.execs),
        nodeOptions: CAP,
      });
    }
  } finally {
    await server.stop();
  }
  console.log(JSON.stringify(rows.at(-1)));
}

// peak RSS against hosts on the lab: least squares, and the worst relative miss of the line
const lab = rows.filter((r) => r.where === 'lab' && r.nodeOptions === undefined);
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
};
writeResult('scale.json', out);
console.log(JSON.stringify(out, null, 2));
