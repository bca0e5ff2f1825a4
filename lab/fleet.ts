/**
 * The real-SSH test fleet: N simulated kpatch hosts on loopback, each a real OpenSSH sshd in its
 * own mount namespace (ns-setup.sh) with its own address, host key and simulator root, reached
 * as a non-root user with real sudo. Needs root (sshd privilege separation, namespaces, sudo).
 *
 * Layout of the fleet folder (default test/.tmp/fleet):
 *   state.json              what `status` and `down` read
 *   client/id_ed25519       the client key (generated here; never committed)
 *   known_hosts             every host's key, as OpenSSH writes them
 *   inventory.ini           an Ansible inventory of the fleet
 *   sudo-password           the login user's password (for the sudo-with-password variant)
 *   hosts/<name>/           sshd_config, host key, log, bin/ (its commands), sudoers.d/, root/
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
  openSync,
  closeSync,
} from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import {
  FLEET_READONLY_USER,
  FLEET_USER,
  inventoryText,
  knownHostsLine,
  NS_SETUP,
  prepareHostDir,
  setKpatchInstalled,
  strictSshOptions,
  TMP_BASE,
  writeSudoers,
} from './host-dir.ts';
import type { SudoMode } from './host-dir.ts';
import type { ProfileName } from './profiles.ts';
import { openSimHost } from './sim-host.ts';
import type { SimHost } from './sim-host.ts';

export { FLEET_USER };
export type { SudoMode };

export const DEFAULT_FLEET_DIR = join(TMP_BASE, 'fleet');

export interface FleetOptions {
  hosts: number;
  dir?: string;
  /** Profiles assigned round-robin (default: rhel9). */
  profiles?: ProfileName[];
  /** Extra simulator profile keys for every host (e.g. TIME_SCALE). */
  simProfile?: Record<string, string>;
  sudo?: SudoMode;
  /** Second octet of the hosts' 127.x.y.z addresses, so fleets can run side by side (default 77). */
  subnet?: number;
  /** Host name prefix (default h). */
  prefix?: string;
  /**
   * sshd's LogLevel (default ERROR). VERBOSE logs each login ("Accepted publickey") and each
   * session ("Starting session: command"), in hosts/<name>/sshd.log: tests count them.
   */
  logLevel?: 'ERROR' | 'INFO' | 'VERBOSE';
}

export interface FleetHostState {
  name: string;
  address: string;
  port: number;
  profile: ProfileName;
  pid: number;
  /** The mount namespace (`mnt:[inode]`) every process of this host lives in. */
  mntns: string;
}

export interface FleetState {
  version: 1;
  dir: string;
  user: string;
  key: string;
  knownHosts: string;
  inventory: string;
  hosts: FleetHostState[];
}

export class FleetHost {
  readonly state: FleetHostState;
  readonly dir: string;
  readonly sim: SimHost;
  constructor(state: FleetHostState, dir: string, sim: SimHost) {
    this.state = state;
    this.dir = dir;
    this.sim = sim;
  }
  get name(): string {
    return this.state.name;
  }
  get address(): string {
    return this.state.address;
  }
  /**
   * Switches a fault on this host in one line (lab/SPEC.md "Hosts on the fleet and in the
   * lab"): the simulator's, plus `hang` (every process stopped) and `disk-full` (the places an
   * upload can go become full, in the host's live namespace).
   */
  fault(name: string, arg?: string): void {
    if (name === 'hang') {
      this.hang();
      return;
    }
    this.sim.fault(name, arg);
    if (name === 'disk-full') this.inNamespace(DISK_FULL_ON);
  }
  clearFaults(): void {
    const full = existsSync(join(this.sim.root, 'var/lib/kpsim/faults/disk-full'));
    this.sim.clearFaults();
    if (full) this.inNamespace(DISK_FULL_OFF);
    this.resume();
  }
  private inNamespace(script: string): void {
    execFileSync('nsenter', ['-t', String(this.state.pid), '-m', 'sh', '-c', script], {
      stdio: 'pipe',
    });
  }
  /** Real sudo on this host: without a password, or asking for one (it then fails under -n). */
  setSudo(mode: SudoMode): void {
    writeSudoers(this.dir, mode);
  }
  /** kpatch present or absent on this host (removes it from the host's PATH, as on a bare host). */
  setKpatchInstalled(installed: boolean): void {
    setKpatchInstalled(this.dir, installed);
  }
  /** Every process of this host (its sshd, sessions, background transitions). */
  pids(): number[] {
    return processesInNamespace(this.state.mntns);
  }
  /** The host stops answering (every process stopped), as a hung machine does; `resume` undoes. */
  hang(): void {
    for (const pid of this.pids()) signal(pid, 'SIGSTOP');
  }
  resume(): void {
    for (const pid of this.pids()) signal(pid, 'SIGCONT');
  }
}

export class Fleet {
  readonly state: FleetState;
  readonly hosts: FleetHost[];
  constructor(state: FleetState) {
    this.state = state;
    this.hosts = state.hosts.map(
      (h) =>
        new FleetHost(
          h,
          join(state.dir, 'hosts', h.name),
          openSimHost(join(state.dir, 'hosts', h.name, 'root')),
        ),
    );
  }
  host(name: string): FleetHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host ${name} in the fleet at ${this.state.dir}`);
    return h;
  }
  /** `ssh` arguments that reach a host from a plain shell, strict host key checking included. */
  sshArgs(host: string): string[] {
    const h = this.host(host);
    return [
      ...strictSshOptions(this.state.key, this.state.knownHosts),
      '-p',
      String(h.state.port),
      `${this.state.user}@${h.address}`,
    ];
  }
  async down(): Promise<void> {
    await fleetDown(this.state.dir);
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

const OWN_MNTNS = readlinkSync('/proc/self/ns/mnt');
const FULL_DIRS = '/tmp /var/tmp /var/lib/kpfleet /home/*';
const DISK_FULL_ON = `for d in ${FULL_DIRS}; do mount -t tmpfs -o size=4k,mode=1777 kpsim-full "$d"; done`;
const DISK_FULL_OFF = `for d in ${FULL_DIRS}; do umount "$d"; done`;

/** Every process in each of these mount namespaces, from one scan of /proc. */
function processesByNamespace(namespaces: Iterable<string>): Map<string, number[]> {
  const wanted = new Map<string, number[]>();
  for (const ns of namespaces) {
    // A host's namespace is never ours: were it, "every process of the host" would be the machine.
    if (ns === OWN_MNTNS)
      throw new Error(`refusing to act on this machine's own mount namespace (${ns})`);
    wanted.set(ns, []);
  }
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      wanted.get(readlinkSync(`/proc/${entry}/ns/mnt`))?.push(Number(entry));
    } catch {
      // exited meanwhile, or not ours to read
    }
  }
  return wanted;
}

function processesInNamespace(mntns: string): number[] {
  return processesByNamespace([mntns]).get(mntns) ?? [];
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function have(cmd: string): boolean {
  try {
    run('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}

/** openssh-server and sudo from Debian's packages, and the login user; root only. */
export function ensurePrerequisites(): void {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'the real-SSH fleet needs root (sshd, mount namespaces, sudo); the in-process lab does not',
    );
  }
  const missing = [
    ...(existsSync('/usr/sbin/sshd') ? [] : ['openssh-server']),
    ...(have('sudo') ? [] : ['sudo']),
  ];
  if (missing.length) {
    process.stderr.write(`fleet: installing ${missing.join(' ')} (apt-get)\n`);
    execFileSync(
      'sh',
      [
        '-c',
        `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${missing.join(' ')}`,
      ],
      { stdio: 'inherit' },
    );
  }
  for (const user of [FLEET_USER, FLEET_READONLY_USER]) {
    try {
      run('id', [user]);
    } catch {
      run('useradd', ['--create-home', '--shell', '/bin/bash', user]);
    }
  }
  // no password, but not locked: sshd (without PAM) refuses a locked account even a key login
  run('usermod', ['-p', '*', FLEET_READONLY_USER]);
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
}

function addressOf(subnet: number, i: number): string {
  return `127.${subnet}.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

async function waitForPort(address: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((res) => {
      const s = connect({ host: address, port });
      s.once('connect', () => {
        s.destroy();
        res(true);
      });
      s.once('error', () => res(false));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`sshd on ${address}:${port} did not start listening`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** In the host's namespace its folder is /run/kpsim-host (ns-setup.sh), wherever it really is. */
const IN_NS = '/run/kpsim-host';

function sshdConfig(address: string, port: number, logLevel = 'ERROR'): string {
  return [
    `ListenAddress ${address}:${port}`,
    `HostKey ${IN_NS}/ssh_host_ed25519_key`,
    `PidFile ${IN_NS}/sshd.pid`,
    `AuthorizedKeysFile ${IN_NS}/authorized_keys`,
    'StrictModes no',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    `AllowUsers ${FLEET_USER} ${FLEET_READONLY_USER}`,
    'PermitRootLogin no',
    'MaxStartups 1000:30:2000',
    'LoginGraceTime 30',
    'Subsystem sftp /usr/local/bin/kpsim-sftp',
    'PrintMotd no',
    'PrintLastLog no',
    'UseDNS no',
    `LogLevel ${logLevel}`,
    '',
  ].join('\n');
}

/** Starts N hosts. Returns when every sshd accepts connections. */
export async function fleetUp(opts: FleetOptions): Promise<Fleet> {
  ensurePrerequisites();
  const dir = resolve(opts.dir ?? DEFAULT_FLEET_DIR);
  if (existsSync(join(dir, 'state.json'))) await fleetDown(dir);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'client'), { recursive: true });
  mkdirSync(join(dir, 'hosts'), { recursive: true });
  const key = join(dir, 'client/id_ed25519');
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'kpfleet-test-fleet', '-f', key]);
  writeFileSync(join(dir, 'client/authorized_keys'), readFileSync(key + '.pub'));
  const password = randomBytes(12).toString('base64url');
  writeFileSync(join(dir, 'sudo-password'), password + '\n', { mode: 0o600 });
  execFileSync('chpasswd', [], { input: `${FLEET_USER}:${password}\n` });

  const subnet = opts.subnet ?? 77;
  const prefix = opts.prefix ?? 'h';
  const width = Math.max(3, String(opts.hosts).length);
  const profiles = opts.profiles?.length ? opts.profiles : (['rhel9'] as ProfileName[]);
  const port = 22;
  const owner = {
    uid: Number(run('id', ['-u', FLEET_USER])),
    gid: Number(run('id', ['-g', FLEET_USER])),
  };
  const readonly = {
    uid: Number(run('id', ['-u', FLEET_READONLY_USER])),
    gid: Number(run('id', ['-g', FLEET_READONLY_USER])),
  };
  const hosts: FleetHostState[] = [];
  const known: string[] = [];

  const spawned: number[] = [];
  const startOne = async (i: number): Promise<void> => {
    const name = `${prefix}${String(i + 1).padStart(width, '0')}`;
    const address = addressOf(subnet, i);
    const profile = profiles[i % profiles.length] ?? 'rhel9';
    const hostDir = join(dir, 'hosts', name);
    prepareHostDir(
      hostDir,
      { name, profile, ...(opts.simProfile ? { simProfile: opts.simProfile } : {}) },
      [],
      owner,
    );
    writeSudoers(hostDir, opts.sudo ?? 'nopasswd');
    // the read-only user: a home of its own on this host, and no sudo rule
    const roHome = join(hostDir, 'root/home', FLEET_READONLY_USER);
    mkdirSync(roHome, { recursive: true, mode: 0o755 });
    chownSync(roHome, readonly.uid, readonly.gid);
    const hostKey = join(hostDir, 'ssh_host_ed25519_key');
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', hostKey]);
    const cfg = join(hostDir, 'sshd_config');
    writeFileSync(cfg, sshdConfig(address, port, opts.logLevel));
    copyFileSync(join(dir, 'client/authorized_keys'), join(hostDir, 'authorized_keys'));
    const log = openSync(join(hostDir, 'sshd.log'), 'a');
    const child = spawn(
      'unshare',
      [
        '-m',
        '--propagation',
        'private',
        NS_SETUP,
        hostDir,
        '--',
        '/usr/sbin/sshd',
        '-D',
        '-e',
        '-f',
        `${IN_NS}/sshd_config`,
      ],
      { detached: true, stdio: ['ignore', log, log] },
    );
    closeSync(log);
    child.unref();
    const pid = child.pid;
    if (pid === undefined) throw new Error(`could not start sshd for ${name}`);
    spawned.push(pid);
    // a deadline for a start on a loaded machine, not a timing check
    await waitForPort(address, port, 60_000);
    const mntns = readlinkSync(`/proc/${pid}/ns/mnt`);
    if (mntns === OWN_MNTNS) throw new Error(`sshd for ${name} is not in a namespace of its own`);
    known[i] = knownHostsLine(address, port, readFileSync(hostKey + '.pub', 'utf8'));
    hosts[i] = { name, address, port, profile, pid, mntns };
  };

  // Bounded parallelism: ssh-keygen and sshd start-up are CPU-bound on a 2-core machine. After
  // a failure no host is started, the ones in flight are waited for, and every sshd started is
  // stopped: a fleet that did not come up leaves no process behind (its state names none).
  let next = 0;
  let failed = false;
  const workers = Array.from({ length: Math.min(8, opts.hosts) }, async () => {
    while (!failed && next < opts.hosts) {
      try {
        await startOne(next++);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  });
  const ended = await Promise.allSettled(workers);
  const failure = ended.find((r) => r.status === 'rejected');
  if (failure) {
    for (const pid of spawned) signal(-pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw failure.reason;
  }
  {
    const state: FleetState = {
      version: 1,
      dir,
      user: FLEET_USER,
      key,
      knownHosts: join(dir, 'known_hosts'),
      inventory: join(dir, 'inventory.ini'),
      hosts: hosts.filter(Boolean),
    };
    writeFileSync(join(dir, 'state.json'), JSON.stringify(state, null, 2) + '\n');
  }
  writeFileSync(join(dir, 'known_hosts'), known.join('\n') + '\n');
  writeFileSync(join(dir, 'inventory.ini'), inventoryText(hosts, key));
  return new Fleet(readState(dir));
}

export function readState(dir: string = DEFAULT_FLEET_DIR): FleetState {
  return JSON.parse(readFileSync(join(resolve(dir), 'state.json'), 'utf8')) as FleetState;
}

export function attachFleet(dir: string = DEFAULT_FLEET_DIR): Fleet {
  return new Fleet(readState(dir));
}

/** Stops every process of every host and removes the fleet folder. */
export async function fleetDown(dir: string = DEFAULT_FLEET_DIR): Promise<{ killed: number }> {
  const full = resolve(dir);
  if (!existsSync(join(full, 'state.json'))) {
    rmSync(full, { recursive: true, force: true });
    return { killed: 0 };
  }
  const state = readState(full);
  const namespaces = new Set(state.hosts.map((h) => h.mntns));
  let killed = 0;
  for (let round = 0; round < 50; round++) {
    const pids = [...processesByNamespace(namespaces).values()].flat();
    if (pids.length === 0) break;
    for (const pid of pids) {
      signal(pid, 'SIGKILL');
      killed++;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const left = [...processesByNamespace(namespaces).values()].flat();
  if (left.length) throw new Error(`fleet down: processes still running: ${left.join(', ')}`);
  rmSync(full, { recursive: true, force: true });
  return { killed };
}

export function fleetStatus(
  dir: string = DEFAULT_FLEET_DIR,
): { host: FleetHostState; processes: number }[] {
  const state = readState(dir);
  const byNs = processesByNamespace(state.hosts.map((h) => h.mntns));
  return state.hosts.map((host) => ({ host, processes: byNs.get(host.mntns)?.length ?? 0 }));
}
