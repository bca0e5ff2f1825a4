/**
 * One simulated host's folder, shared by the real-SSH fleet and the in-process lab:
 *   <dir>/root/        the simulator root (lab/SPEC.md), bound over the real paths
 *   <dir>/bin/         the host's commands (links into the simulator), bound over /usr/local/bin
 *   <dir>/sudoers.d/   the host's sudo policy (real sudo on the fleet), bound over /etc/sudoers.d
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { ABSENT_COMMANDS, PROFILES } from './profiles.ts';
import type { ProfileName } from './profiles.ts';
import { createSimHost, SIM_BIN } from './sim-host.ts';
import type { SimHost } from './sim-host.ts';

export const FLEET_USER = 'kpfleet';
/**
 * A second login of the real-SSH fleet, with no sudo rule at all: the read-only user a CI job
 * plans with (docs/security.md "Pull requests").
 */
export const FLEET_READONLY_USER = 'kpfleet-ro';
export const NS_SETUP = new URL('./ns-setup.sh', import.meta.url).pathname;
/** Commands only the lab's hosts get (the fleet has the real ones). */
export const LAB_BIN = new URL('./lab-bin/', import.meta.url).pathname;
/** Where ns-setup.sh shows this folder inside a host's namespace (the repo may be under /tmp). */
const FLEET_IN_NS = '/run/kpsim-fleet';
const FLEET_DIR = new URL('./', import.meta.url).pathname;

/** The path, inside a host's namespace, of a file of test/fleet. */
function inNamespace(path: string): string {
  return join(FLEET_IN_NS, relative(FLEET_DIR, path));
}

function lexists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * `nopasswd`: NOPASSWD: ALL (what kpfleet needs to change a host); `password`: sudo asks for the
 * password; `kpatch-only`: NOPASSWD for kpatch and rmmod alone, the rule people try first
 * (docs/security.md: it does not work, since every step runs under `sh -c`).
 */
export type SudoMode = 'nopasswd' | 'password' | 'kpatch-only';

export interface HostSpec {
  name: string;
  profile: ProfileName;
  /** Extra simulator profile keys (e.g. TIME_SCALE). */
  simProfile?: Record<string, string>;
}

/** Where fleets and labs keep their hosts: not /tmp, which each host gets a private one of. */
export const TMP_BASE = new URL('../test/.tmp/', import.meta.url).pathname;

export function prepareHostDir(
  dir: string,
  spec: HostSpec,
  extraBin: string[] = [],
  owner?: { uid: number; gid: number },
): SimHost {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  const home = join(dir, 'root/home', FLEET_USER);
  mkdirSync(home, { recursive: true, mode: 0o755 });
  if (owner) chownSync(home, owner.uid, owner.gid);
  // the host's own writable folders, as ns-setup.sh makes them: there before the first
  // command, for an SFTP session served in the lab's process (sftp.ts)
  for (const d of ['tmp', 'var/tmp']) {
    mkdirSync(join(dir, 'root', d), { recursive: true });
    chmodSync(join(dir, 'root', d), 0o1777);
  }
  mkdirSync(join(dir, 'root/var/lib/kpfleet'), { recursive: true });
  const sim = createSimHost(join(dir, 'root'), { ...PROFILES[spec.profile], ...spec.simProfile });
  const absent = new Set(ABSENT_COMMANDS[spec.profile] ?? []);
  for (const bin of [SIM_BIN, ...extraBin]) {
    for (const f of readdirSync(bin)) {
      const link = join(dir, 'bin', f);
      if (lexists(link)) unlinkSync(link);
      if (!absent.has(f)) symlinkSync(inNamespace(join(bin, f)), link);
    }
  }
  return sim;
}

/** kpatch present or absent on a host: removed from its PATH, as on a host without it. */
export function setKpatchInstalled(dir: string, installed: boolean): void {
  const link = join(dir, 'bin/kpatch');
  // lstat-based: the link dangles outside the host's namespace.
  const present = lexists(link);
  if (installed && !present) symlinkSync(inNamespace(join(SIM_BIN, 'kpatch')), link);
  if (!installed && present) unlinkSync(link);
}

export function writeSudoers(hostDir: string, mode: SudoMode): void {
  const dir = join(hostDir, 'sudoers.d');
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  chmodSync(dir, 0o750);
  const file = join(dir, FLEET_USER);
  const rule =
    mode === 'nopasswd'
      ? `${FLEET_USER} ALL=(ALL) NOPASSWD: ALL\n`
      : mode === 'kpatch-only'
        ? `${FLEET_USER} ALL=(root) NOPASSWD: /usr/local/bin/kpatch, /usr/sbin/rmmod\n`
        : `Defaults:${FLEET_USER} lecture=never\n${FLEET_USER} ALL=(ALL) ALL\n`;
  writeFileSync(file + '.tmp', rule, { mode: 0o440 });
  chmodSync(file + '.tmp', 0o440);
  execFileSync('mv', ['-f', file + '.tmp', file]); // sudo must never see a half-written file
}

export interface InventoryHost {
  name: string;
  address: string;
  port: number;
  profile: ProfileName;
}

/** An Ansible inventory of simulated hosts: one group per profile, all in `fleet`. */
export function inventoryText(
  hosts: readonly InventoryHost[],
  key: string,
  user = FLEET_USER,
): string {
  const group = (p: string) => p.replace(/-/g, '_');
  const lines = ['# Written by the kpfleet test fleet: one group per host profile.'];
  const byProfile = new Map<string, InventoryHost[]>();
  for (const h of hosts) {
    const list = byProfile.get(h.profile) ?? [];
    list.push(h);
    byProfile.set(h.profile, list);
  }
  for (const [profile, list] of byProfile) {
    lines.push('', `[${group(profile)}]`);
    for (const h of list) {
      lines.push(
        `${h.name} ansible_host=${h.address}${h.port === 22 ? '' : ` ansible_port=${h.port}`}`,
      );
    }
  }
  lines.push('', '[fleet:children]', ...[...byProfile.keys()].map(group));
  lines.push('', '[fleet:vars]', `ansible_user=${user}`, `ansible_ssh_private_key_file=${key}`, '');
  return lines.join('\n');
}

/** A known_hosts line as OpenSSH writes it (`[addr]:port` unless the port is 22). */
export function knownHostsLine(address: string, port: number, publicKey: string): string {
  const [type, blob] = publicKey.trim().split(/\s+/);
  return `${port === 22 ? address : `[${address}]:${port}`} ${type ?? ''} ${blob ?? ''}`;
}

/** OpenSSH client options that reach a simulated host strictly: this key, this known_hosts only. */
export function strictSshOptions(key: string, knownHosts: string): string[] {
  return [
    '-i',
    key,
    '-o',
    `UserKnownHostsFile=${knownHosts}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'IdentitiesOnly=yes',
  ];
}
