/**
 * A mixed fleet under one project (issue 21 "Done when"): lab hosts and real-sshd fleet hosts,
 * with kpatch (rhel9) and without it (debian-klp, fedora-klp), `manager` left at auto, and one
 * kpatch host moved to klp by its group (`manager: klp`). The built CLI, as a user runs it:
 * `plan` names each host's manager and why; one `apply --yes` converges every host; `plan`,
 * `facts` and `status` then agree. A reboot of the klp hosts (the simulator's `reboot`, as root
 * over SSH) loads their patches through kpfleet-klp.service; the moved host's patch stayed loaded
 * through the move (no load or unload planned or run) and is left only in the klp store. Last, a
 * cumulative patch replaces its predecessor on the Debian hosts: the leftover is rmmod-ed and its
 * file removed from the klp store.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EL9, kpfleetIn, makePatchFile, writeProject } from '../../project.ts';
import type { PatchEntry, ProjectSpec } from '../../project.ts';
import { fleetDown, fleetUp } from '../../../lab/fleet.ts';
import type { Fleet } from '../../../lab/fleet.ts';
import { strictSshOptions, TMP_BASE } from '../../../lab/host-dir.ts';
import { Lab } from '../../../lab/lab.ts';
import { PROFILES } from '../../../lab/profiles.ts';
import type { SimHost } from '../../../lab/sim-host.ts';

const DIR = join(TMP_BASE, `e2e-mixed-${String(process.pid)}`);
const DEB = PROFILES['debian-klp'].KERNEL_RELEASE ?? '';
const FC = PROFILES['fedora-klp'].KERNEL_RELEASE ?? '';
/** Small: the klp loader's own polls are real 1 s sleeps, the simulator's transitions scaled. */
const SIM = { TIME_SCALE: '0.01' };
const KLP_STORE = 'var/lib/kpfleet/klp';
const UNIT = 'kpfleet-klp.service';

let fleet: Fleet;
let lab: Lab;
const kpfleet = kpfleetIn(DIR);

/** One fix, built for each kernel of the fleet; and a cumulative successor of Debian's. */
const FIX_EL9: PatchEntry = {
  name: 'fix-el9',
  module: 'livepatch_fix_el9',
  file: 'patches/livepatch-fix-el9.ko',
  cves: ['CVE-2024-1086'],
};
const FIX_DEB: PatchEntry = {
  name: 'fix-deb',
  module: 'livepatch_fix_deb',
  kernel: DEB,
  file: 'patches/livepatch-fix-deb.ko',
  cves: ['CVE-2024-1086'],
};
const FIX_FC: PatchEntry = {
  name: 'fix-fc',
  module: 'livepatch_fix_fc',
  kernel: FC,
  file: 'patches/livepatch-fix-fc.ko',
  cves: ['CVE-2024-1086'],
};
const FIX_DEB_2: PatchEntry = {
  name: 'fix-deb-2',
  module: 'livepatch_fix_deb_2',
  kernel: DEB,
  file: 'patches/livepatch-fix-deb-2.ko',
  cves: ['CVE-2024-1086', 'CVE-2023-4623'],
  replaces: ['fix-deb'],
};

/**
 * Every host: its name, its simulator, its kernel, the patch of that kernel, and how to reach it
 * with ssh. Lab hosts lab001–lab003 (served in this process by ssh2), fleet hosts f001–f004
 * (OpenSSH sshd, real sudo); lab001 and f001, f004 run rhel9 (kpatch), the others no kpatch.
 */
interface Host {
  name: string;
  sim: SimHost;
  kernel: string;
  patch: PatchEntry;
  ssh: () => string[];
}
const hosts: Host[] = [];
const host = (name: string): Host => {
  const h = hosts.find((x) => x.name === name);
  if (!h) throw new Error(`no host ${name}`);
  return h;
};
const MOVED = 'f004';
const KPATCH_HOSTS = ['lab001', 'f001'];
const KLP_HOSTS = ['lab002', 'lab003', 'f002', 'f003'];
const ALL = [...KPATCH_HOSTS, ...KLP_HOSTS, MOVED].sort();

function spec(debian: PatchEntry, moving: boolean): ProjectSpec {
  return {
    knownHosts: 'known_hosts.mixed',
    patches: [FIX_EL9, FIX_DEB, FIX_FC, FIX_DEB_2],
    groups: {
      all: { loaded: [FIX_EL9.name, debian.name, FIX_FC.name] },
      ...(moving ? { moving: { manager: 'klp' as const } } : {}),
    },
  };
}

function ssh(h: Host, command: string): Promise<{ code: number | null; stdout: string }> {
  return new Promise((done) => {
    const child = spawn('ssh', [...h.ssh(), command], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout });
    });
  });
}

/** The files of a host's klp store for its kernel, and of its kpatch store (any kernel). */
const klpStore = (h: Host): string[] => {
  const d = join(h.sim.root, KLP_STORE, h.kernel);
  return existsSync(d) ? readdirSync(d).sort() : [];
};
const kpatchStore = (h: Host): string[] => h.sim.readSysfs().installed.map((i) => i.file);
/** Enabled and out of transition. */
const live = (h: Host, module: string): boolean => {
  const p = h.sim.readSysfs().patches[module];
  return p?.enabled === '1' && p.transition === '0';
};
/** Where the simulated kernel loaded a module from (its `insmod`'s file). */
const loadedFrom = (h: Host, module: string): string | undefined =>
  /^ko=(.*)$/m.exec(readFileSync(join(h.sim.root, 'var/lib/kpsim/mod', module), 'utf8'))?.[1];
const boots = (h: Host): string => {
  const f = join(h.sim.root, 'var/lib/kpsim/boots');
  return existsSync(f) ? readFileSync(f, 'utf8').trim() : '0';
};

interface AuditLine {
  host: string;
  result: string;
  manager?: string;
  managerReason?: string;
  changes: { action: string; ok: boolean; change: { module?: string; store?: string } }[];
}
const AUDIT = join(DIR, 'state/kpfleet/audit.jsonl');
const auditLines = (): AuditLine[] =>
  existsSync(AUDIT)
    ? readFileSync(AUDIT, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as AuditLine)
    : [];

interface PlanHost {
  host: string;
  status: string;
  manager?: string;
  managerReason?: string;
  changes: { action: string; module?: string; file?: string; store?: string; unit?: string }[];
}
async function planJson(): Promise<{ code: number | null; hosts: PlanHost[]; stderr: string }> {
  const r = await kpfleet(['plan', '--format', 'json', '--detailed-exitcode']);
  return {
    code: r.code,
    stderr: r.stderr,
    hosts: (JSON.parse(r.stdout) as { hosts: PlanHost[] }).hosts,
  };
}

beforeAll(async () => {
  fleet = await fleetUp({
    hosts: 4,
    dir: DIR,
    subnet: 121,
    prefix: 'f',
    profiles: ['rhel9', 'debian-klp', 'fedora-klp', 'rhel9'],
    simProfile: SIM,
  });
  lab = await Lab.start({
    hosts: 3,
    profiles: ['rhel9', 'debian-klp', 'fedora-klp'],
    simProfile: SIM,
  });
  const patchOf = (kernel: string): PatchEntry =>
    kernel === DEB ? FIX_DEB : kernel === FC ? FIX_FC : FIX_EL9;
  for (const h of lab.hosts) {
    const kernel = h.sim.profile.KERNEL_RELEASE;
    hosts.push({
      name: h.name,
      sim: h.sim,
      kernel,
      patch: patchOf(kernel),
      ssh: () => [
        ...strictSshOptions(lab.keyPath, lab.knownHostsPath),
        '-p',
        String(h.port),
        `${lab.user}@${h.address}`,
      ],
    });
  }
  for (const h of fleet.hosts) {
    const kernel = h.sim.profile.KERNEL_RELEASE;
    hosts.push({
      name: h.name,
      sim: h.sim,
      kernel,
      patch: patchOf(kernel),
      ssh: () => fleet.sshArgs(h.name),
    });
  }
  // one project over both: an inventory naming each host with its own key, one known_hosts
  writeFileSync(
    join(DIR, 'known_hosts.mixed'),
    readFileSync(lab.knownHostsPath, 'utf8') + readFileSync(fleet.state.knownHosts, 'utf8'),
  );
  writeFileSync(
    join(DIR, 'inventory.ini'),
    [
      '[lab]',
      ...lab.hosts.map((h) => `${h.name} ansible_host=${h.address} ansible_port=${String(h.port)}`),
      '',
      '[fleet]',
      ...fleet.hosts.map((h) => `${h.name} ansible_host=${h.address}`),
      '',
      '[moving]',
      MOVED,
      '',
      '[lab:vars]',
      `ansible_ssh_private_key_file=${lab.keyPath}`,
      '',
      '[fleet:vars]',
      `ansible_ssh_private_key_file=${fleet.state.key}`,
      '',
      '[all:vars]',
      'ansible_user=kpfleet',
      '',
    ].join('\n'),
  );
  const builder = fleet.hosts[0];
  for (const p of [FIX_EL9, FIX_DEB, FIX_FC, FIX_DEB_2]) makePatchFile(builder, DIR, p);
}, 180_000);

afterAll(async () => {
  try {
    // undefined when the fleet did not come up
    await (lab as Lab | undefined)?.close();
  } finally {
    await fleetDown(DIR);
  }
});

describe('a mixed fleet: lab and real-sshd hosts, with and without kpatch', () => {
  it('before: the host to be moved runs its patch under kpatch (an earlier kpfleet run)', async () => {
    writeProject(DIR, spec(FIX_DEB, false), 'before.yml');
    const r = await kpfleet(['apply', '--yes', '-c', 'before.yml', '--limit', MOVED]);
    expect(r.code, r.output).toBe(0);
    const h = host(MOVED);
    expect(live(h, FIX_EL9.module)).toBe(true);
    expect(kpatchStore(h)).toEqual(['livepatch-fix-el9.ko']);
    expect(klpStore(h)).toEqual([]);
    expect(loadedFrom(h, FIX_EL9.module)).toBe(`/var/lib/kpatch/${EL9}/livepatch-fix-el9.ko`);
  });

  it("plan names each host's manager and why; the move installs into the klp store and loads nothing", async () => {
    writeProject(DIR, spec(FIX_DEB, true));
    const text = await kpfleet(['plan', '--detailed']);
    expect(text.code, text.output).toBe(0);
    const plan = await planJson();
    expect(plan.code, plan.stderr).toBe(2);
    const byHost = new Map(plan.hosts.map((h) => [h.host, h]));
    expect([...byHost.keys()].sort()).toEqual(ALL);
    for (const name of KPATCH_HOSTS)
      expect(byHost.get(name), name).toMatchObject({
        status: 'changes',
        manager: 'kpatch',
        managerReason: 'auto: kpatch 0.9.7 is installed',
      });
    for (const name of KLP_HOSTS)
      expect(byHost.get(name), name).toMatchObject({
        status: 'changes',
        manager: 'klp',
        managerReason: 'auto: no kpatch utility',
      });
    expect(byHost.get(MOVED)).toMatchObject({
      status: 'changes',
      manager: 'klp',
      managerReason: 'group moving',
    });
    // the text says the same, host by host
    for (const [name, words] of [
      ['lab001', 'kpatch (auto: kpatch 0.9.7 is installed)'],
      ['f001', 'kpatch (auto: kpatch 0.9.7 is installed)'],
      ['lab002', 'klp (auto: no kpatch utility)'],
      ['f003', 'klp (auto: no kpatch utility)'],
      [MOVED, 'klp (group moving)'],
    ] as const)
      expect(text.stdout).toMatch(
        new RegExp(`^${name}  [^\\n]*\\n  manager ${words.replace(/[().]/g, '\\$&')}$`, 'm'),
      );
    expect(text.stdout).toMatch(/^Managers: kpatch on 2 hosts, klp on 5 hosts$/m);

    // klp hosts: the file into the klp store, kpfleet's unit, then the load from the store
    for (const name of KLP_HOSTS) {
      const h = host(name);
      expect(
        byHost.get(name)?.changes.map((c) => [c.action, c.module ?? c.unit ?? '', c.file ?? '']),
        name,
      ).toEqual([
        ['upload', h.patch.module, ''],
        ['install', h.patch.module, expect.stringContaining('/.kpfleet/stage/')],
        ['enable-service', UNIT, ''],
        ['load', h.patch.module, `/var/lib/kpfleet/klp/${h.kernel}/${h.patch.module}.ko`],
      ]);
    }
    // kpatch hosts: as ever (the install enables kpatch.service); nothing for another kernel,
    // since each host's installed kernels are its own (lab: /lib/modules of the host)
    for (const name of KPATCH_HOSTS)
      expect(
        byHost.get(name)?.changes.map((c) => [c.action, c.module ?? '']),
        name,
      ).toEqual([
        ['upload', FIX_EL9.module],
        ['install', FIX_EL9.module],
        ['load', FIX_EL9.module],
      ]);
    // the move: installed for klp, its unit, the kpatch copy removed; no unload, no load
    expect(
      byHost.get(MOVED)?.changes.map((c) => [c.action, c.module ?? c.unit ?? '', c.store ?? '']),
    ).toEqual([
      ['upload', FIX_EL9.module, ''],
      ['install', FIX_EL9.module, ''],
      ['enable-service', UNIT, ''],
      ['uninstall', FIX_EL9.module, ''],
    ]);
    expect(text.stdout).toContain(
      `the host's manager is klp, and /var/lib/kpatch/${EL9}/livepatch-fix-el9.ko is the kpatch manager's copy`,
    );
  });

  it("one apply converges every host (exit 0); the moved host's patch is never unloaded or loaded again", async () => {
    const moved = host(MOVED);
    const bootsBefore = boots(moved);
    const auditBefore = auditLines().length;
    const r = await kpfleet(['apply', '--yes', '--report', 'report.json']);
    expect(r.code, r.output).toBe(0);
    const report = JSON.parse(readFileSync(join(DIR, 'report.json'), 'utf8')) as {
      hosts: { host: string; outcome: string }[];
    };
    expect(report.hosts.map((h) => [h.host, h.outcome]).sort()).toEqual(
      ALL.map((n) => [n, 'changed']),
    );
    for (const h of hosts) {
      expect(live(h, h.patch.module), h.name).toBe(true);
      const file = (h.patch.file ?? '').replace('patches/', '');
      if (KPATCH_HOSTS.includes(h.name)) {
        expect(kpatchStore(h), h.name).toEqual([file]);
        expect(klpStore(h), h.name).toEqual([]);
      } else {
        // the klp store names a module `<module>.ko` (docs/klp-behaviour.md §K.1)
        expect(klpStore(h), h.name).toEqual([`${h.patch.module}.ko`]);
        expect(kpatchStore(h), h.name).toEqual([]);
        // enabled: its link in multi-user.target.wants (to the unit's path on the host)
        expect(
          readlinkSync(join(h.sim.root, 'etc/systemd/system/multi-user.target.wants', UNIT)),
          h.name,
        ).toBe(`/etc/systemd/system/${UNIT}`);
      }
    }
    // the move: still the module kpatch loaded before (from kpatch's store), no reboot between
    expect(loadedFrom(moved, FIX_EL9.module)).toBe(`/var/lib/kpatch/${EL9}/livepatch-fix-el9.ko`);
    expect(boots(moved)).toBe(bootsBefore);
    // the audit log: each host's manager, and on the moved host no load and no unload
    const records = auditLines().slice(auditBefore);
    const ends = records.filter((x) => x.result !== 'started');
    expect(ends.map((x) => [x.host, x.result, x.manager]).sort()).toEqual(
      ALL.map((n) => [n, 'changed', KPATCH_HOSTS.includes(n) ? 'kpatch' : 'klp']),
    );
    const movedEnd = ends.find((x) => x.host === MOVED);
    expect(movedEnd?.managerReason).toBe('group moving');
    expect(movedEnd?.changes.map((c) => [c.action, c.ok])).toEqual([
      ['upload', true],
      ['install', true],
      ['enable-service', true],
      ['uninstall', true],
    ]);
  });

  it('then plan says converged everywhere, and facts and status agree on each manager', async () => {
    const plan = await planJson();
    expect(plan.code, plan.stderr).toBe(0);
    const managers = Object.fromEntries(
      plan.hosts.map((h) => [h.host, [h.status, h.manager, h.managerReason]]),
    );
    const expected = Object.fromEntries(
      ALL.map((n) => [
        n,
        [
          'converged',
          ...(KPATCH_HOSTS.includes(n)
            ? ['kpatch', 'auto: kpatch 0.9.7 is installed']
            : n === MOVED
              ? ['klp', 'group moving']
              : ['klp', 'auto: no kpatch utility']),
        ],
      ]),
    );
    expect(managers).toEqual(expected);

    const facts = await kpfleet(['facts', '--json']);
    expect(facts.code, facts.stderr).toBe(0);
    const fj = JSON.parse(facts.stdout) as {
      hosts: {
        host: string;
        manager: { manager: string; reason: string };
        facts: { kernels: string[]; klp?: { store: { module: string }[] } };
      }[];
    };
    for (const fh of fj.hosts) {
      const h = host(fh.host);
      expect([fh.manager.manager, fh.manager.reason], fh.host).toEqual(
        (expected[fh.host] ?? []).slice(1),
      );
      // the host's own installed kernels, not the test machine's
      expect(fh.facts.kernels, fh.host).toEqual([h.kernel]);
      expect(
        (fh.facts.klp?.store ?? []).map((i) => i.module),
        fh.host,
      ).toEqual(KPATCH_HOSTS.includes(fh.host) ? [] : [h.patch.module]);
    }
    // the text: the manager, and what the klp manager keeps (its store, its unit)
    const text = await kpfleet(['facts', '--limit', `${MOVED}:f002`]);
    expect(text.code, text.stderr).toBe(0);
    const block = (name: string): string =>
      new RegExp(`^${name}  [^]*?\\n\\n`, 'm').exec(text.stdout)?.[0] ?? '';
    expect(block(MOVED)).toContain(
      'manager klp (group moving); auto would choose kpatch (auto: kpatch 0.9.7 is installed)',
    );
    expect(block(MOVED)).toMatch(
      new RegExp(
        `^  installed  livepatch_fix_el9  ${EL9.replace(/\./g, '\\.')}/livepatch_fix_el9\\.ko sha256 \\w{12}… \\(klp store\\)$`,
        'm',
      ),
    );
    expect(block(MOVED)).toMatch(
      /^ {2}kpatch\.service: enabled\n {2}kpfleet-klp\.service: enabled$/m,
    );
    expect(block('f002')).toMatch(
      /^ {2}installed {2}livepatch_fix_deb {2}6\.1\.0-56-amd64\/livepatch_fix_deb\.ko sha256 \w{12}… \(klp store\)$/m,
    );
    expect(block('f002')).toMatch(
      /^ {2}kpatch\.service: absent\n {2}kpfleet-klp\.service: enabled$/m,
    );

    const status = await kpfleet(['status', '--format', 'json']);
    expect(status.code, status.stderr).toBe(0);
    const sj = JSON.parse(status.stdout) as {
      hosts: { host: string; state: string; manager?: string; managerReason?: string }[];
    };
    expect(
      Object.fromEntries(sj.hosts.map((h) => [h.host, [h.state, h.manager, h.managerReason]])),
    ).toEqual(
      Object.fromEntries(
        Object.entries(expected).map(([n, [, m, why]]) => [n, ['protected', m, why]]),
      ),
    );
  });

  it("a reboot of the klp hosts loads their patches through kpfleet-klp.service; the moved host's only from the klp store", async () => {
    const rebooted = [...KLP_HOSTS, MOVED].map(host);
    const before = new Map(rebooted.map((h) => [h.name, boots(h)]));
    const results = await Promise.all(rebooted.map((h) => ssh(h, 'sudo -n reboot')));
    results.forEach((r, i) => expect(r, rebooted[i]?.name).toMatchObject({ code: 0 }));
    for (const h of rebooted) {
      expect(Number(boots(h)), h.name).toBe(Number(before.get(h.name)) + 1);
      expect(live(h, h.patch.module), h.name).toBe(true);
      expect(loadedFrom(h, h.patch.module), h.name).toBe(
        `/var/lib/kpfleet/klp/${h.kernel}/${h.patch.module}.ko`,
      );
      const unit = await ssh(h, `systemctl is-active ${UNIT}`);
      expect(unit.stdout, h.name).toBe('active\n');
    }
    // the moved host: kpatch.service is left enabled (§K.6) and had nothing to load
    const moved = host(MOVED);
    expect(kpatchStore(moved)).toEqual([]);
    expect(klpStore(moved)).toEqual(['livepatch_fix_el9.ko']);
    expect((await ssh(moved, 'systemctl is-enabled kpatch.service')).stdout).toBe('enabled\n');

    const plan = await planJson();
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.hosts.map((h) => h.status)).toEqual(ALL.map(() => 'converged'));
  });

  it('a cumulative patch replaces its predecessor on the klp hosts: the leftover rmmod-ed, its file gone from the klp store', async () => {
    writeProject(DIR, spec(FIX_DEB_2, true));
    const debian = hosts.filter((h) => h.kernel === DEB);
    expect(debian.map((h) => h.name).sort()).toEqual(['f002', 'lab002']);
    const plan = await planJson();
    expect(plan.code, plan.stderr).toBe(2);
    for (const ph of plan.hosts) {
      if (!debian.some((h) => h.name === ph.host)) {
        expect(ph.status, ph.host).toBe('converged');
        continue;
      }
      expect(
        ph.changes.map((c) => [c.action, c.module ?? '', c.store ?? '']),
        ph.host,
      ).toEqual([
        ['upload', FIX_DEB_2.module, ''],
        ['install', FIX_DEB_2.module, ''],
        ['load', FIX_DEB_2.module, ''],
        ['unload', FIX_DEB.module, ''],
        ['uninstall', FIX_DEB.module, 'klp'],
      ]);
    }
    const r = await kpfleet(['apply', '--yes']);
    expect(r.code, r.output).toBe(0);
    for (const h of debian) {
      expect(live(h, FIX_DEB_2.module), h.name).toBe(true);
      const s = h.sim.readSysfs();
      expect(s.patches[FIX_DEB.module], h.name).toBeUndefined();
      expect(s.modules[FIX_DEB.module], h.name).toBeUndefined(); // the leftover: rmmod-ed
      expect(klpStore(h), h.name).toEqual(['livepatch_fix_deb_2.ko']);
    }
    const again = await planJson();
    expect(again.code, again.stderr).toBe(0);
    // and what a reboot loads is the successor alone
    const h = host('f002');
    expect((await ssh(h, 'sudo -n reboot')).code).toBe(0);
    expect(Object.keys(h.sim.readSysfs().patches)).toEqual([FIX_DEB_2.module]);
    expect(live(h, FIX_DEB_2.module)).toBe(true);
  });
});
