/**
 * The lab answers the same commands the same way as the real-SSH fleet (issue 3 "Done when"):
 * one host of each, same profile, the same command sequence through the real OpenSSH client,
 * and identical exit codes, stdout and stderr at every step.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fleetDown, fleetUp } from '../../../lab/fleet.ts';
import type { Fleet } from '../../../lab/fleet.ts';
import { TMP_BASE } from '../../../lab/host-dir.ts';
import { Lab } from '../../../lab/lab.ts';

const DIR = join(TMP_BASE, `e2e-compare-${process.pid}`);
const SIM = { TIME_SCALE: '0.02' };
let fleet: Fleet;
let lab: Lab;

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn('ssh', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  fleet = await fleetUp({ hosts: 1, dir: DIR, subnet: 82, simProfile: SIM });
  lab = await Lab.start({ hosts: 1, simProfile: SIM });
}, 120_000);

afterAll(async () => {
  await lab.close();
  await fleetDown(DIR);
});

const STEPS = [
  'uname -r',
  'sudo kpatch version',
  'sudo kpatch list',
  'sudo kpatch load /tmp/livepatch-a.ko',
  'sudo kpatch list',
  'cat /sys/kernel/livepatch/livepatch_a/enabled /sys/kernel/livepatch/livepatch_a/transition',
  'sudo kpatch install /tmp/livepatch-a.ko',
  'ls /var/lib/kpatch/*',
  'sudo kpatch load /tmp/no-such.ko',
  // RHEL's unload prompt spins without a TTY (docs/kpatch-behaviour.md §2.6): both must hang alike.
  'timeout 2 sudo kpatch unload livepatch_a < /dev/null; echo exit=$?',
  'yes | sudo kpatch unload livepatch_a; echo exit=$?',
  'ls /sys/kernel/livepatch; cat /sys/module/livepatch_a/refcnt 2>&1',
  'sudo kpatch frobnicate',
  'kpatch list >/dev/null; echo unprivileged list exit=$?',
];

it('gives the same answers as a real-sshd host, step by step', async () => {
  const fh = fleet.hosts[0];
  const lh = lab.hosts[0];
  if (!fh || !lh) throw new Error('no hosts');
  for (const sim of [fh.sim, lh.sim])
    sim.makeModule(join(sim.root, 'tmp/livepatch-a.ko'), { name: 'livepatch_a' });
  const labArgs = [
    '-i',
    lab.keyPath,
    '-o',
    `UserKnownHostsFile=${lab.knownHostsPath}`,
    '-o',
    'BatchMode=yes',
    '-p',
    String(lh.port),
    `${lab.user}@${lh.address}`,
  ];
  for (const step of STEPS) {
    const [onFleet, onLab] = await Promise.all([
      run([...fleet.sshArgs(fh.name), step]),
      run([...labArgs, step]),
    ]);
    expect({ step, ...onLab }).toEqual({ step, ...onFleet });
  }
});
