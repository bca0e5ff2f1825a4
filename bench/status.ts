/**
 * Status at scale (issue 17, "Scale"): `kpfleet status` over 10,000 hosts of the in-process lab in
 * replay mode (bench/lab-server.ts, its own process) beside `kpfleet plan` over the same hosts:
 * wall time, kpfleet's own CPU per host and peak RSS (GNU time, the whole CLI process), the median
 * of R rounds each, alternated so both see the same machine. Also, once, the same status with
 * the HTML page written as well: its size, and what it costs. (How a 10,000-host page behaves in
 * a browser is test/integration/report/status-html.test.ts's.) Target: status within plan's CPU
 * and memory (10% slack).
 *   tsx bench/status.ts [--hosts 10000] [--rounds 3]  → bench/results/status.json
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TMP_BASE } from '../lab/host-dir.ts';
import { build, machine, startLabServer, timeKpfleet, writeResult } from './lib.ts';
import type { Timed } from './lib.ts';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '3' },
  },
});
const n = Number(values.hosts);
const rounds = Number(values.rounds);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};

function run(args: string[], dir: string, ok: readonly number[]): Timed {
  const t = timeKpfleet(args, dir);
  if (!ok.includes(t.status))
    throw new Error(
      `kpfleet ${args.join(' ')} exited ${String(t.status)}: ${t.stderr.slice(-2000)}`,
    );
  return t;
}

build();
const dir = join(TMP_BASE, `bench-status-${String(n)}`);
const samples: Record<'plan' | 'status', Timed[]> = { plan: [], status: [] };
let html: { bytes: number; wallSeconds: number; cpuSeconds: number; peakRssMb: number } | undefined;
const server = await startLabServer(n, dir);
try {
  for (let i = 0; i < rounds; i++) {
    samples.plan.push(run(['plan', '--format', 'json'], dir, [0]));
    // every host needs its patch loaded: each is exposed, not converged (exit 1)
    const s = run(['status', '--format', 'json'], dir, [1]);
    const report = JSON.parse(s.stdout) as { summary: { hosts: number } };
    if (report.summary.hosts !== n)
      throw new Error(`status saw ${String(report.summary.hosts)} hosts`);
    samples.status.push(s);
  }
  const h = run(['status', '--format', 'json', '--out', 'html:status.html'], dir, [1]);
  html = {
    bytes: statSync(join(dir, 'status.html')).size,
    wallSeconds: h.wall,
    cpuSeconds: h.cpu,
    peakRssMb: h.rssMb,
  };
} finally {
  await server.stop();
}

const summary = (ts: Timed[]) => ({
  wallSeconds: median(ts.map((t) => t.wall)),
  cpuSeconds: median(ts.map((t) => t.cpu)),
  cpuMsPerHost: (median(ts.map((t) => t.cpu)) * 1000) / n,
  peakRssMb: median(ts.map((t) => t.rssMb)),
});
const plan = summary(samples.plan);
const status = summary(samples.status);
const out = {
  when: new Date().toISOString(),
  machine: machine(),
  hosts: n,
  rounds,
  plan,
  status,
  html,
  targets: {
    cpuWithinPlan: status.cpuSeconds <= plan.cpuSeconds * 1.1,
    rssWithinPlan: status.peakRssMb <= plan.peakRssMb * 1.1,
  },
};
writeResult('status.json', out);
console.log(JSON.stringify(out, null, 2));
