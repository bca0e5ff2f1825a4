/**
 * Facts in one exec per host (issue 5 §1), against the lab: what the simulator's state says at
 * the real paths comes back as HostFacts.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FactsError, gatherFacts } from '../../../src/facts/gather.ts';
import { PROBE_VERSION } from '../../../src/facts/probe.ts';
import { refusesUnsigned } from '../../../src/facts/security.ts';
import { HostKeyPolicy } from '../../../src/transport/ssh/host-key-policy.ts';
import { KeyStore } from '../../../src/transport/ssh/keys.ts';
import { SshTransport } from '../../../src/transport/ssh/ssh-transport.ts';
import { Lab } from '../../../lab/lab.ts';

let lab: Lab;
const open: SshTransport[] = [];
beforeAll(async () => {
  lab = await Lab.start({
    hosts: 2,
    profiles: ['rhel9', 'upstream'],
    simProfile: { TIME_SCALE: '0.01' },
  });
});
afterAll(async () => {
  for (const t of open) await t.close();
  await lab.close();
});

function transport(name: string): SshTransport {
  const h = lab.host(name);
  const t = new SshTransport(
    {
      host: name,
      keyName: h.address,
      address: h.address,
      port: h.port,
      user: lab.user,
      become: 'sudo',
      identityFiles: [lab.keyPath],
      jump: [],
      connectTimeoutMs: 3000,
      commandTimeoutMs: 10_000,
      keepaliveIntervalMs: 1000,
    },
    {
      keys: new KeyStore(),
      hostKeys: new HostKeyPolicy({ files: [lab.knownHostsPath], mode: 'strict' }),
    },
  );
  open.push(t);
  return t;
}

describe('gatherFacts', () => {
  it('reads a bare host in one exec', async () => {
    const h = lab.host('lab001');
    const before = h.execs;
    const facts = await gatherFacts(transport('lab001'));
    expect(h.execs - before).toBe(1);
    expect(facts).toMatchObject({
      probeVersion: PROBE_VERSION,
      kernel: '5.14.0-362.8.1.el9_3.x86_64',
      arch: 'x86_64',
      // the rhel9 profile is RHEL's kpatch: it takes the `force` prefix (§2.6)
      kpatch: { installed: true, version: '0.9.7', flavor: 'rhel' },
      livepatchSupported: true,
      patches: [],
      modules: [],
      installed: [],
      kpatchDisabledAtBoot: false,
    });
    expect(facts.kpatchList.text).toBe('Loaded patch modules:\n\nInstalled patch modules:');
    // the distribution its kernel belongs to, not this machine's (the demo hosts are RHEL)
    expect(facts.os).toEqual({
      id: 'rhel',
      versionId: '9.3',
      prettyName: 'Red Hat Enterprise Linux 9.3',
    });
  });

  it('a Fedora kernel comes with Fedora', async () => {
    const facts = await gatherFacts(transport('lab002'));
    expect(facts.os).toEqual({ id: 'fedora', versionId: '42', prettyName: 'Fedora Linux 42' });
  });

  it('sees loaded, installed and replaced-leftover patches', async () => {
    const h = lab.host('lab001');
    const k = '5.14.0-362.8.1.el9_3.x86_64';
    h.sim.makeModule(join(h.sim.root, 'var/tmp/livepatch-a.ko'), { name: 'livepatch_a' });
    h.sim.makeModule(join(h.sim.root, 'var/tmp/livepatch-b.ko'), { name: 'livepatch_b' });
    const run = async (cmd: string[]) => {
      const r = await h.sim.run(cmd);
      expect(r.code, r.stderr).toBe(0);
    };
    await run(['kpatch', 'install', 'var/tmp/livepatch-a.ko']);
    await run(['kpatch', 'load', 'var/tmp/livepatch-a.ko']);
    await run(['kpatch', 'load', 'var/tmp/livepatch-b.ko']); // atomic replace: a is left behind, refcnt 0
    const facts = await gatherFacts(transport('lab001'));
    // 5.14 kernels have no `replace` file in sysfs (it came in 6.11, docs/kpatch-behaviour.md §5.1): undefined, not guessed
    // and the functions it changes, from its sysfs folders (the simulator's default one)
    expect(facts.patches).toEqual([
      {
        name: 'livepatch_b',
        enabled: true,
        transition: false,
        replace: undefined,
        functions: [{ object: 'vmlinux', name: 'cmdline_proc_show', sympos: 1 }],
      },
    ]);
    expect(facts.modules.map((m) => [m.name, m.refcnt])).toEqual([
      ['livepatch_a', 0],
      ['livepatch_b', 1],
    ]);
    expect(facts.installed).toEqual([
      expect.objectContaining({
        kernel: k,
        file: 'livepatch-a.ko',
        module: 'livepatch_a',
        path: `/var/lib/kpatch/${k}/livepatch-a.ko`,
      }),
    ]);
    expect(facts.installed[0]?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(facts.service).toEqual({ present: true, enabled: true, state: 'enabled' });
  });

  it("tells upstream kpatch from RHEL's with the version either way (docs/kpatch-behaviour.md §2.2, §2.6)", async () => {
    // the probe runs `kpatch force version` first: RHEL's build answers with the version, so one
    // run of kpatch gives both; upstream refuses `force` and is asked `kpatch version` after it
    const facts = await gatherFacts(transport('lab002'));
    expect(facts.kpatch).toEqual({ installed: true, version: '0.9.11', flavor: 'upstream' });
  });

  it('knows a kernel without livepatch, and a host without kpatch', async () => {
    const h = lab.host('lab002');
    h.sim.fault('no-livepatch');
    h.setKpatchInstalled(false);
    try {
      const facts = await gatherFacts(transport('lab002'));
      expect(facts.livepatchSupported).toBe(false);
      expect(facts.kpatch).toEqual({ installed: false });
      expect(facts.kpatchList.rc).toBe(127);
      expect(facts.kernel).toBe('6.14.0-1.fc42.x86_64');
    } finally {
      h.sim.clearFaults();
      h.setKpatchInstalled(true);
    }
  });

  it('lockdown, sig_enforce and Secure Boot come back through the real probe; a missing file is unknown (§5.5)', async () => {
    const h = lab.host('lab001');
    // the simulator's default kernel: lockdown [none], sig_enforce N, no EFI variable (a BIOS boot)
    expect((await gatherFacts(transport('lab001'))).security).toEqual({
      lockdown: 'none',
      sigEnforce: false,
    });
    h.sim.setProfile({ LOCKDOWN: 1, SECURE_BOOT: '1' });
    try {
      const locked = await gatherFacts(transport('lab001'));
      expect(locked.security).toEqual({
        lockdown: 'integrity',
        sigEnforce: false,
        secureBoot: true,
      });
      expect(refusesUnsigned(locked)).toBe(true);
      h.sim.setProfile({ LOCKDOWN: 0, SIG_ENFORCE: 1, SECURE_BOOT: '0' });
      expect((await gatherFacts(transport('lab001'))).security).toEqual({
        lockdown: 'none',
        sigEnforce: true,
        secureBoot: false,
      });
      // a kernel without the lockdown LSM or module signing: no such files, nothing known
      rmSync(join(h.sim.root, 'sys/kernel/security'), { recursive: true });
      rmSync(join(h.sim.root, 'sys/module/module'), { recursive: true });
      const bare = await gatherFacts(transport('lab001'));
      expect(bare.security).toEqual({ secureBoot: false });
      expect(refusesUnsigned(bare)).toBeUndefined();
    } finally {
      h.sim.setProfile({ LOCKDOWN: 0, SIG_ENFORCE: 0, SECURE_BOOT: '' });
    }
  });

  it('stack_order beside replace on kernels that have it (§5.1), renumbered when a patch leaves', async () => {
    const h = lab.host('lab001');
    const root = { env: { KPSIM_UID: '0' } };
    const run = async (cmd: string[]) => {
      const r = await h.sim.run(cmd, root);
      expect(r.code, r.stderr).toBe(0);
    };
    h.sim.setProfile({ STACK_ORDER: 1 });
    try {
      await run(['reboot']); // nothing loaded; kpatch.service loads livepatch-a, installed above
      for (const n of ['c', 'd']) {
        h.sim.makeModule(join(h.sim.root, `var/tmp/livepatch-${n}.ko`), { replace: false });
        await run(['kpatch', 'load', `var/tmp/livepatch-${n}.ko`]);
      }
      const order = async () =>
        (await gatherFacts(transport('lab001'))).patches.map((p) => [p.name, p.stackOrder]);
      expect(await order()).toEqual([
        ['livepatch_a', 1],
        ['livepatch_c', 2],
        ['livepatch_d', 3],
      ]);
      await run(['kpatch', 'force', 'unload', 'livepatch_c']);
      expect(await order()).toEqual([
        ['livepatch_a', 1],
        ['livepatch_d', 2],
      ]);
    } finally {
      h.sim.setProfile({ STACK_ORDER: 0 });
    }
  });

  it('a host whose uname -r is 100 KB long is a facts error that says so (a release is ≤ 128)', async () => {
    const h = lab.host('lab002');
    const release = h.sim.profile.KERNEL_RELEASE;
    h.sim.setProfile({ KERNEL_RELEASE: `6.14.0-${'a'.repeat(100_000)}` });
    try {
      const err = await gatherFacts(transport('lab002')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FactsError);
      expect(err).toMatchObject({ code: 'E_FACTS_FIELD', host: 'lab002', step: 'facts' });
      expect((err as FactsError).message).toMatch(
        /uname -r printed "6\.14\.0-a+…a+" is not a kernel release/,
      );
    } finally {
      h.sim.setProfile({ KERNEL_RELEASE: release });
    }
  });
});
