/**
 * How fast the real-SSH test fleet comes up, and that it scales (issue 3 §2: 64 hosts in under
 * 20 s; 1,000 hosts work). Run by `npm run bench` (root; installs openssh-server when missing).
 *   tsx bench/fleet-up.ts [--hosts 64,1000] [--rounds 1]
 * Writes bench/results/fleet-up.json.
 */
import { spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fleetDown, fleetUp } from '../lab/fleet.ts';
import { TMP_BASE } from '../lab/host-dir.ts';
import { writeResult } from './lib.ts';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '64,1000' },
    rounds: { type: 'string', default: '1' },
  },
});

interface Row {
  hosts: number;
  upSeconds: number[];
  downSeconds: number[];
  reachedLast: boolean;
}

const rows: Row[] = [];
for (const n of values.hosts.split(',').map(Number)) {
  const row: Row = { hosts: n, upSeconds: [], downSeconds: [], reachedLast: false };
  for (let r = 0; r < Number(values.rounds); r++) {
    const dir = join(TMP_BASE, `bench-fleet-${n}`);
    const t0 = performance.now();
    const fleet = await fleetUp({ hosts: n, dir, subnet: 91 });
    row.upSeconds.push((performance.now() - t0) / 1000);
    const last = fleet.hosts.at(-1);
    if (last) {
      const ssh = spawnSync('ssh', [...fleet.sshArgs(last.name), 'sudo kpatch list'], {
        encoding: 'utf8',
      });
      row.reachedLast = ssh.status === 0 && ssh.stdout.includes('Loaded patch modules:');
    }
    const t1 = performance.now();
    await fleetDown(dir);
    row.downSeconds.push((performance.now() - t1) / 1000);
  }
  rows.push(row);
  const up = row.upSeconds.map((s) => s.toFixed(1)).join(', ');
  console.log(
    `fleet up ${n} hosts: ${up} s; last host answers sudo kpatch list: ${String(row.reachedLast)}`,
  );
}

const out = {
  when: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  },
  targets: { '64 hosts up (s)': 20 },
  rows,
};
writeResult('fleet-up.json', out);
const r64 = rows.find((r) => r.hosts === 64);
if (r64 && Math.max(...r64.upSeconds) > 20) {
  console.error('target missed: 64 hosts took more than 20 s to come up');
  process.exitCode = 1;
}
if (rows.some((r) => !r.reachedLast)) process.exitCode = 1;
