/**
 * `npm run bench [-- --hosts N] [--rounds R] [--fleet-hosts 1000] [--lab-hosts 1000,5000,10000]`:
 * the jobs side by side (bench/jobs.ts, N real-sshd hosts, default 64), the same jobs against
 * replay-mode lab hosts on 64 and 1,000 hosts, the controllers' own cost (bench/replay.ts), scale (bench/scale.ts),
 * plan under the default ssh config and a user-style one (bench/ssh-config.ts), status beside
 * plan on 10,000 lab hosts (bench/status.ts), the test fleet's own start-up (bench/fleet-up.ts),
 * `npm start` (bench/demo.ts), kpfleet's own start-up (bench/startup.ts: `validate` on the example
 * project), the parser on
 * hostile host output (bench/hostile.ts), then docs/benchmarks.md (bench/report.ts).
 * Needs root (the fleet), as the e2e suites do; installs Ansible when missing.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from './lib.ts';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '3' },
    'fleet-hosts': { type: 'string', default: '1000' },
    'lab-hosts': { type: 'string', default: '1000,5000,10000' },
  },
});

const steps: [string, string[]][] = [
  ['jobs.ts', ['--hosts', values.hosts, '--rounds', values.rounds]],
  ['replay.ts', ['--hosts', `${values.hosts},1000`, '--rounds', `${values.rounds},1`]],
  ['scale.ts', ['--fleet-hosts', values['fleet-hosts'], '--lab-hosts', values['lab-hosts']]],
  ['ssh-config.ts', ['--hosts', `${values.hosts},1000`, '--rounds', values.rounds]],
  ['status.ts', ['--hosts', '10000', '--rounds', values.rounds]],
  ['fleet-up.ts', ['--hosts', values.hosts]],
  ['demo.ts', ['--rounds', values.rounds]],
  ['startup.ts', ['--rounds', String(Math.max(7, Number(values.rounds)))]],
  ['hostile.ts', ['--rounds', values.rounds]],
  ['report.ts', []],
];
for (const [script, args] of steps) {
  console.log(`\n== bench/${script} ${args.join(' ')}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', script), ...args], {
    stdio: 'inherit',
  });
  if (r.status !== 0) {
    console.error(`bench/${script} failed (exit ${String(r.status ?? r.signal)})`);
    process.exit(1);
  }
}
