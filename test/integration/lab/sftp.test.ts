/**
 * The lab's own SFTP server (lab/sftp.ts, SPEC.md "SFTP in the lab"): what the demo uses on every
 * machine, and every lab on a machine without OpenSSH's sftp-server. It must answer kpfleet's
 * upload as sshd's sftp-server does: the same scenarios run against the lab's usual SFTP
 * (ssh-transport-lab.test.ts) and real sshd (e2e).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../../lab/lab.ts';
import { transportsTo, uploadScenarios } from '../../transport-scenarios.ts';
import type { TransportHarness } from '../../transport-scenarios.ts';

let lab: Lab;
const execs: string[] = [];
beforeAll(async () => {
  lab = await Lab.start({ hosts: 3, sftp: 'in-process', simProfile: { TIME_SCALE: '0.02' } });
  lab.onExec = (host, command) => execs.push(`${host.name}: ${command}`);
});
afterAll(async () => {
  await lab.close();
});

const harness = (): TransportHarness => ({
  user: lab.user,
  keyPath: lab.keyPath,
  knownHostsPath: lab.knownHostsPath,
  dir: lab.dir,
  hosts: ['lab001', 'lab002', 'lab003'],
  endpoint: (n) => ({ address: lab.host(n).address, port: lab.host(n).port }),
  hostPublicKey: (n) => lab.host(n).hostKey.public,
  root: (n) => lab.host(n).sim.root,
  fault: (n, f) => lab.host(n).fault(f),
  clearFaults: (n) => lab.host(n).sim.clearFaults(),
  sudoWantsPassword: (n, on) =>
    on ? lab.host(n).fault('sudo-password', 'pw') : lab.host(n).sim.clearFaults(),
  hang: (n) => lab.host(n).hang(),
  resume: (n) => lab.host(n).resume(),
  dropCommand: 'echo first; sleep 2; echo second',
  connections: (n) => lab.host(n).connections,
});

const transport = transportsTo(harness);
uploadScenarios(harness, transport);

describe('in-process SFTP', () => {
  const content = Buffer.from('KPSIM-KO 1\nname=livepatch_x\n');
  const sha256 = 'b'.repeat(64);

  it('writes only where a session could: elsewhere is refused and nothing is written', async () => {
    const [a] = harness().hosts;
    await expect(transport(a).upload(content, '/etc/kpfleet-x.ko', { sha256 })).rejects.toThrow(
      /upload of \/etc\/kpfleet-x\.ko failed/,
    );
    expect(existsSync(join(lab.host(a).sim.root, 'etc/kpfleet-x.ko'))).toBe(false);
    expect(existsSync('/etc/kpfleet-x.ko')).toBe(false);
  });

  it('is seen by onExec as `subsystem sftp`, and writes into that host alone', async () => {
    const [, b, c] = harness().hosts;
    execs.length = 0;
    const { createHash } = await import('node:crypto');
    const sum = createHash('sha256').update(content).digest('hex');
    await transport(b).upload(content, '/var/tmp/only-b.ko', { sha256: sum });
    expect(execs).toContain(`${b}: subsystem sftp`);
    expect(readFileSync(join(lab.host(b).sim.root, 'var/tmp/only-b.ko'))).toEqual(content);
    expect(existsSync(join(lab.host(c).sim.root, 'var/tmp/only-b.ko'))).toBe(false);
  });
});
