/**
 * The sharded run of bench/scale.ts (issue 19): N lab hosts (100,000) planned as K shards
 * (10 of 10,000), one process after another, `kpfleet plan --shard I/K --out shard-I.json`, then
 * `kpfleet plan merge shard-*.json --out merged.json`; each one's wall, CPU and peak RSS, and
 * whether the shards and the merged plan hold every host exactly once (in the shard its name
 * hashes to). Before the shards, what any shard process pays before its first host: loading the
 * N-host project (`plan --limit` one host). The lab serves one shard's hosts at a time
 * (bench/lab-server.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TMP_BASE } from '../lab/host-dir.ts';
import { inShard, shardOf } from '../src/inventory/shard.ts';
import { startLabServer, timeKpfleet } from './lib.ts';
import type { Timed } from './lib.ts';

interface Cost {
  wallSeconds: number;
  cpuSeconds: number;
  peakRssMb: number;
}
export interface ShardRun extends Cost {
  index: number;
  hosts: number;
  cpuMsPerHost: number;
  /** Seconds the lab took to switch its listeners to this shard's hosts (not kpfleet's). */
  serveSeconds: number;
}
export interface Sharded {
  hosts: number;
  shards: number;
  labUpSeconds: number;
  /** `plan --limit` one host over the N-host project: the fixed cost of every shard process. */
  load: Cost;
  runs: ShardRun[];
  /** Every host in exactly one shard's plan, the one its name hashes to. */
  shardsHoldEachHostOnce: boolean;
  merge:
    | (Cost & { hosts: number; eachHostOnce: boolean; shardsRecorded: boolean })
    | { missing: string };
}

const cost = (t: Timed): Cost => ({ wallSeconds: t.wall, cpuSeconds: t.cpu, peakRssMb: t.rssMb });

interface PlanFile {
  shards?: number;
  hosts: { host: string; status: string; shard?: number }[];
}
const readPlan = (path: string): PlanFile => JSON.parse(readFileSync(path, 'utf8')) as PlanFile;

export async function shardedRun(n: number, count: number): Promise<Sharded> {
  const dir = join(TMP_BASE, `bench-shards-${String(n)}`);
  const server = await startLabServer(n, dir, count);
  try {
    const width = Math.max(3, String(n).length);
    const name = (i: number) => `lab${String(i).padStart(width, '0')}`;
    await server.serve(1);
    let one = 1;
    while (!inShard(name(one), { index: 1, count })) one++;
    const load = timeKpfleet(['plan', '--format', 'json', '--limit', name(one)], dir);
    if (load.status !== 0) throw new Error(`plan --limit ${name(one)}: ${load.stderr}`);
    console.log(JSON.stringify({ load: cost(load) }));

    const runs: ShardRun[] = [];
    let eachOnce = true;
    const seen = new Set<string>();
    for (let index = 1; index <= count; index++) {
      const served = await server.serve(index);
      const out = `shard-${String(index)}.json`;
      const t = timeKpfleet(
        ['plan', '--shard', `${String(index)}/${String(count)}`, '--out', out],
        dir,
      );
      if (t.status !== 0)
        throw new Error(
          `shard ${String(index)} exited ${String(t.status)}: ${t.stderr.slice(-2000)}`,
        );
      const plan = readPlan(join(dir, out));
      for (const h of plan.hosts) {
        if (seen.has(h.host) || shardOf(h.host, count) !== index || h.status !== 'changes')
          eachOnce = false;
        seen.add(h.host);
      }
      const hosts = plan.hosts.length;
      runs.push({
        index,
        hosts,
        ...cost(t),
        cpuMsPerHost: (t.cpu * 1000) / hosts,
        serveSeconds: served.seconds,
      });
      console.log(JSON.stringify(runs.at(-1)));
    }
    eachOnce &&= seen.size === n;

    const files = runs.map((r) => `shard-${String(r.index)}.json`);
    const m = timeKpfleet(['plan', 'merge', ...files, '--out', 'merged.json'], dir);
    let merge: Sharded['merge'];
    if (m.status === 0) {
      const merged = readPlan(join(dir, 'merged.json'));
      const names = new Set(merged.hosts.map((h) => h.host));
      merge = {
        ...cost(m),
        hosts: merged.hosts.length,
        eachHostOnce: merged.hosts.length === n && names.size === n,
        shardsRecorded:
          merged.shards === count && merged.hosts.every((h) => h.shard === shardOf(h.host, count)),
      };
    } else {
      merge = {
        missing: `kpfleet plan merge exited ${String(m.status)}: ${m.stderr.trim().split('\n')[0] ?? ''}`,
      };
    }
    console.log(JSON.stringify({ merge }));
    return {
      hosts: n,
      shards: count,
      labUpSeconds: server.startSeconds,
      load: cost(load),
      runs,
      shardsHoldEachHostOnce: eachOnce,
      merge,
    };
  } finally {
    await server.stop();
  }
}
