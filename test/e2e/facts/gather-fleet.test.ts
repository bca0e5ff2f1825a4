/**
 * Facts on real sshd (issue 5 §1): the probe runs as the non-root login user, without sudo, in
 * one exec, and reads the host's own state.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { gatherFacts } from '../../../src/facts/gather.ts';
import { HostKeyPolicy } from '../../../src/transport/ssh/host-key-policy.ts';
import { KeyStore } from '../../../src/transport/ssh/keys.ts';
import { SshTransport } from '../../../src/transport/ssh/ssh-transport.ts';
import { fleetDown, fleetUp } from '../../../lab/fleet.ts';
import type { Fleet } from '../../../lab/fleet.ts';
import { TMP_BASE } from '../../../lab/host-dir.ts';

const DIR = join(TMP_BASE, `e2e-facts-${process.pid}`);
let fleet: Fleet;

beforeAll(async () => {
  fleet = await fleetUp({
    hosts: 2,
    dir: DIR,
    subnet: 85,
    profiles: ['rhel9', 'rhel8'],
    simProfile: { TIME_SCALE: '0.01' },
  });
}, 120_000);
afterAll(async () => {
  await fleetDown(DIR);
});

it('gathers facts as the login user, without root, each host its own', async () => {
  const h1 = fleet.host('h001');
  h1.sim.makeModule(join(h1.sim.root, 'var/tmp/livepatch-cve.ko'), { name: 'livepatch_cve' });
  const loaded = await h1.sim.run(['kpatch', 'install', 'var/tmp/livepatch-cve.ko']);
  expect(loaded.code, loaded.stderr).toBe(0);
  expect((await h1.sim.run(['kpatch', 'load', 'var/tmp/livepatch-cve.ko'])).code).toBe(0);
  const facts = await Promise.all(
    fleet.hosts.map(async (h) => {
      const t = new SshTransport(
        {
          host: h.name,
          keyName: h.address,
          address: h.address,
          port: 22,
          user: fleet.state.user,
          become: 'sudo',
          identityFiles: [fleet.state.key],
          jump: [],
          connectTimeoutMs: 5000,
          commandTimeoutMs: 30_000,
          keepaliveIntervalMs: 2000,
        },
        {
          keys: new KeyStore(),
          hostKeys: new HostKeyPolicy({ files: [fleet.state.knownHosts], mode: 'strict' }),
        },
      );
      try {
        return await gatherFacts(t);
      } finally {
        await t.close();
      }
    }),
  );
  expect(facts[0]).toMatchObject({
    kernel: '5.14.0-362.8.1.el9_3.x86_64',
    kpatch: { installed: true, version: '0.9.7' },
    patches: [{ name: 'livepatch_cve', enabled: true, transition: false }],
    modules: [{ name: 'livepatch_cve', refcnt: 1 }],
    installed: [
      { kernel: '5.14.0-362.8.1.el9_3.x86_64', file: 'livepatch-cve.ko', module: 'livepatch_cve' },
    ],
    service: { enabled: true },
  });
  expect(facts[0]?.kpatchList.text).toMatch(/^Loaded patch modules:\nlivepatch_cve \[enabled\]\n/);
  expect(facts[1]).toMatchObject({
    kernel: '4.18.0-477.10.1.el8_8.x86_64',
    patches: [],
    installed: [],
  });
});
