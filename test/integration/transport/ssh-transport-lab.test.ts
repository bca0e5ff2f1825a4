/** The SSH transport against the in-process lab (issue 4); the same scenarios run on real sshd in e2e. */
import { afterAll, beforeAll } from 'vitest';
import { Lab } from '../../../lab/lab.ts';
import { transportScenarios } from '../../transport-scenarios.ts';

let lab: Lab;
beforeAll(async () => {
  lab = await Lab.start({ hosts: 3, simProfile: { TIME_SCALE: '0.02' } });
});
afterAll(async () => {
  await lab.close();
});

transportScenarios(() => ({
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
}));
