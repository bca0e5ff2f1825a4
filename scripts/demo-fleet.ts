/**
 * The demo's fleet and project (`npm start`, and the README tour's test): the in-process lab
 * (lab/lab.ts) with 12 simulated kpatch hosts, each its own SSH server on loopback, and a
 * kpfleet project folder written for them. Three groups (web, db, batch); two kernel releases the
 * patches cover (RHEL 9 and RHEL 8); batch04 rebooted into a newer kernel nothing covers yet;
 * db02 running a hotfix module nobody declared.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Lab } from '../lab/lab.ts';
import { PROFILES } from '../lab/profiles.ts';
import type { ProfileName } from '../lab/profiles.ts';

export const ROOT = new URL('../', import.meta.url).pathname;
export const EL9 = PROFILES.rhel9.KERNEL_RELEASE ?? '';
export const EL8 = PROFILES.rhel8.KERNEL_RELEASE ?? '';
export const EL9_NEWER = PROFILES['rhel9-cve'].KERNEL_RELEASE ?? '';
export const UNMANAGED_ON = 'db02';
export const UNCOVERED = 'batch04';

/** name, group, profile: host i of the lab gets HOSTS[i] (the lab assigns profiles round-robin). */
export const HOSTS: readonly (readonly [string, string, ProfileName])[] = [
  ['web01', 'web', 'rhel9'],
  ['web02', 'web', 'rhel9'],
  ['web03', 'web', 'rhel9'],
  ['web04', 'web', 'rhel9'],
  ['web05', 'web', 'rhel9'],
  ['db01', 'db', 'rhel8'],
  ['db02', 'db', 'rhel8'],
  ['db03', 'db', 'rhel8'],
  ['batch01', 'batch', 'rhel9'],
  ['batch02', 'batch', 'rhel9'],
  ['batch03', 'batch', 'rhel9'],
  [UNCOVERED, 'batch', 'rhel9-cve'],
];

export interface DemoFleet {
  lab: Lab;
  project: string;
  close(): Promise<void>;
}

/** Starts the lab and writes the project into `project` (emptied first). */
/** The day `n` days before today (UTC), YYYY-MM-DD: release dates that age with the demo. */
function daysAgo(n: number): string {
  return new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10);
}

export async function startDemoFleet(project: string): Promise<DemoFleet> {
  rmSync(project, { recursive: true, force: true });
  mkdirSync(join(project, 'patches'), { recursive: true });
  const lab = await Lab.start({
    hosts: HOSTS.length,
    dir: join(project, '.lab'),
    profiles: HOSTS.map(([, , p]) => p),
    simProfile: { TIME_SCALE: '0.05' }, // kpatch's waits pass 20× faster than real time
    sftp: 'in-process', // alike on every machine: one with only the OpenSSH client has no sftp-server
  });
  const close = async () => {
    await lab.close();
    rmSync(join(project, '.lab'), { recursive: true, force: true });
  };
  try {
    writeProject(lab, project);
    // a hotfix a vendor engineer loaded on db02 by hand: nothing declares it
    const db02 = lab.hosts[HOSTS.findIndex(([n]) => n === UNMANAGED_ON)];
    if (!db02) throw new Error(`no ${UNMANAGED_ON} in the lab`);
    db02.sim.makeModule(join(db02.sim.root, 'var/tmp/vendor-hotfix.ko'), {
      name: 'vendor_hotfix',
      kernel: EL8,
      replace: false,
    });
    for (const cmd of ['install', 'load']) {
      const r = await db02.sim.run(['kpatch', cmd, 'var/tmp/vendor-hotfix.ko']);
      if (r.code !== 0) throw new Error(`preparing ${UNMANAGED_ON}: kpatch ${cmd}: ${r.stderr}`);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { lab, project, close };
}

function writeProject(lab: Lab, project: string): void {
  const first = lab.hosts[0];
  if (!first) throw new Error('the lab has no hosts');
  // the patch modules, as a build pipeline would put them beside kpfleet.yml
  const sums = new Map<string, string>();
  for (const [file, name, kernel] of [
    ['el9/kpatch-cve-2024-1086.ko', 'kpatch_cve_2024_1086', EL9],
    ['el9/kpatch-nf-tables-fix.ko', 'kpatch_nf_tables_fix', EL9],
    ['el8/kpatch-cve-2024-1086.ko', 'kpatch_cve_2024_1086', EL8],
  ] as const) {
    const path = join(project, 'patches', file);
    mkdirSync(join(path, '..'), { recursive: true });
    // built with `kpatch-build --no-replace`: independent patches that stack (an atomic-replace
    // build would retire every patch loaded before it; kpfleet.yml declares those with `replaces`)
    first.sim.makeModule(path, { name, kernel, cves: ['CVE-2024-1086'], replace: false });
    sums.set(file, createHash('sha256').update(readFileSync(path)).digest('hex'));
  }

  const byGroup = new Map<string, string[]>();
  lab.hosts.forEach((h, i) => {
    const [name = '', group = ''] = HOSTS[i] ?? [];
    byGroup.set(group, [
      ...(byGroup.get(group) ?? []),
      `${name} ansible_host=${h.address} ansible_port=${String(h.port)}`,
    ]);
  });
  writeFileSync(
    join(project, 'inventory.ini'),
    [
      '# The demo fleet: an Ansible inventory, read by kpfleet as it is.',
      ...[...byGroup].flatMap(([g, lines]) => ['', `[${g}]`, ...lines]),
      '',
      '[all:vars]',
      `ansible_user=${lab.user}`,
      `ansible_ssh_private_key_file=${lab.keyPath}`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(project, 'known_hosts'), readFileSync(lab.knownHostsPath));
  writeFileSync(
    join(project, 'kpfleet.yml'),
    `# yaml-language-server: $schema=${relative(project, join(ROOT, 'schemas/kpfleet.schema.json'))}
# What the fleet must run. kpfleet reads every host, plans, and converges it to this.
inventory: inventory.ini
connection:
  known_hosts: known_hosts # the demo's; your own ~/.ssh/known_hosts by default
  ssh_config: false
  become: sudo
rollout:
  forks: 12
  waves: [1, 50%, 100%] # one canary host, then half the fleet, then the rest
  max_failures: 0 # any failure halts the later waves
patch_defaults:
  support: 365d # how long after its release a live patch is supported (kpfleet status: covered until)
patches:
  el9-cve-2024-1086:
    module: kpatch_cve_2024_1086
    kernel: ${EL9}
    file: patches/el9/kpatch-cve-2024-1086.ko
    sha256: ${sums.get('el9/kpatch-cve-2024-1086.ko') ?? ''}
    cves: [CVE-2024-1086]
    released: ${daysAgo(20)}
  el9-nf-tables-fix:
    module: kpatch_nf_tables_fix
    kernel: ${EL9}
    file: patches/el9/kpatch-nf-tables-fix.ko
    sha256: ${sums.get('el9/kpatch-nf-tables-fix.ko') ?? ''}
  el8-cve-2024-1086:
    module: kpatch_cve_2024_1086
    kernel: ${EL8}
    file: patches/el8/kpatch-cve-2024-1086.ko
    sha256: ${sums.get('el8/kpatch-cve-2024-1086.ko') ?? ''}
    cves: [CVE-2024-1086]
    released: ${daysAgo(80)}
    support: 90d # this one's own window: the db hosts are covered for ten more days
groups:
  all:
    uncovered_kernel: warn # a host whose kernel no declared patch fits: reported, not failed
    unmanaged: keep # modules nothing declares: reported and left alone (or: remove)
  web:
    loaded: [el9-cve-2024-1086, el9-nf-tables-fix]
  batch:
    loaded: [el9-cve-2024-1086]
  db:
    loaded: [el8-cve-2024-1086]
`,
  );
}
