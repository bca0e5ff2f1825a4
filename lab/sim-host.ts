/**
 * Test helper for the kpatch host simulator (lab/sim, described in lab/SPEC.md).
 * One SimHost is one simulated host rooted at a directory (KPSIM_ROOT).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of the simulator's bin directory (put it first in PATH). */
export const SIM_BIN: string = resolve(dirname(fileURLToPath(import.meta.url)), 'sim', 'bin');

/** Profile keys (SPEC.md "Profile"). */
export interface SimProfile {
  KPATCH_VERSION: string;
  KPATCH_FLAVOR: 'rhel' | 'upstream';
  KERNEL_RELEASE: string;
  ARCH: string;
  LIVEPATCH: 0 | 1;
  KPATCH_INSTALLED: 0 | 1;
  TIME_SCALE: number;
  TRANSITION_SECONDS: number;
  KERNEL_MODEL: '5.1' | 'pre5.1';
  SIGNAL_ATTR: 0 | 1;
  REPLACE_ATTR: 0 | 1;
  STACK_ORDER: 0 | 1;
  SIG_ENFORCE: 0 | 1;
  LOCKDOWN: 0 | 1;
  SH_FLAVOR: 'bash' | 'dash';
  SYSTEMCTL: 0 | 1;
  KPATCH_UNIT: 0 | 1;
  COLUMN: 0 | 1;
  HOSTNAME_SIM: string;
  KERNEL_VERSION_STRING: string;
  INSTALLED_KERNELS: string;
  KPATCH_PKG_RELEASE: string;
  STALLED_PID: number;
  STALLED_COMM: string;
  CMDLINE: string;
  /** Real seconds between two looks of the sysfs watcher at the patches' `enabled` files. */
  SYSFSD_INTERVAL: number;
  /** The SecureBoot EFI variable: '' none (a BIOS boot), '0' off, '1' on. */
  SECURE_BOOT: '' | '0' | '1';
}

export const DEFAULT_PROFILE: SimProfile = {
  KPATCH_VERSION: '0.9.7',
  KPATCH_FLAVOR: 'rhel',
  KERNEL_RELEASE: '5.14.0-362.8.1.el9_3.x86_64',
  ARCH: 'x86_64',
  LIVEPATCH: 1,
  KPATCH_INSTALLED: 1,
  TIME_SCALE: 1,
  TRANSITION_SECONDS: 1,
  KERNEL_MODEL: '5.1',
  SIGNAL_ATTR: 0,
  REPLACE_ATTR: 0,
  STACK_ORDER: 0,
  SIG_ENFORCE: 0,
  LOCKDOWN: 0,
  SH_FLAVOR: 'bash',
  SYSTEMCTL: 1,
  KPATCH_UNIT: 1,
  COLUMN: 1,
  HOSTNAME_SIM: 'kpsim',
  KERNEL_VERSION_STRING: '#1 SMP PREEMPT_DYNAMIC Thu Oct 19 10:00:00 UTC 2023',
  INSTALLED_KERNELS: '',
  KPATCH_PKG_RELEASE: '',
  STALLED_PID: 2171,
  STALLED_COMM: 'qemu-kvm',
  CMDLINE: '',
  SYSFSD_INTERVAL: 0.1,
  SECURE_BOOT: '',
};

export type FaultName =
  | 'stall'
  | 'stall-unload'
  | 'insmod-error'
  | 'busy'
  | 'no-livepatch'
  | 'no-kpatch'
  | 'sudo-password'
  | 'drop'
  | 'hang'
  | 'disk-full'
  | 'reset-on-load'
  | 'post-fail';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  stdin?: string;
  timeoutMs?: number;
  env?: Record<string, string>;
  cwd?: string;
}

export interface ModuleOptions {
  name?: string;
  kernel?: string;
  replace?: boolean;
  livepatch?: boolean;
  functions?: string[];
  cves?: string[];
  description?: string;
  signed?: boolean;
  vermagic?: string;
}

export interface PackageOptions {
  kernel?: string;
  version: string;
  release: string;
  cves?: string[];
  functions?: string[];
  replace?: boolean;
}

export interface PatchState {
  enabled: string;
  transition: string;
  replace?: string;
  stackOrder?: string;
  /** object → "func,sympos" entries */
  objects: Record<string, string[]>;
}

export interface SysfsState {
  /** /sys/kernel/livepatch exists */
  livepatch: boolean;
  patches: Record<string, PatchState>;
  /** /sys/module/<m>/refcnt */
  modules: Record<string, { refcnt: string }>;
  tainted: number;
  /** /var/lib/kpatch/<kver>/<file> */
  installed: { kernel: string; file: string }[];
}

export interface SimHost {
  readonly root: string;
  readonly profile: SimProfile;
  /** Switches a fault on (SPEC.md "Faults"); unknown names are refused by kpsim. */
  fault(name: FaultName | (string & {}), arg?: string | number): void;
  clearFaults(): void;
  /** Kills this host's detached transition completers (the transitions then never complete). */
  killBackground(): void;
  setProfile(changes: Partial<SimProfile>): void;
  run(cmd: string[] | string, opts?: RunOptions): Promise<RunResult>;
  makeModule(path: string, opts?: ModuleOptions): string;
  addPackage(opts: PackageOptions): string;
  readSysfs(): SysfsState;
}

function profileArgs(p: Partial<SimProfile>): string[] {
  return Object.entries(p).map(([k, v]) => `${k}=${String(v)}`);
}

function kpsimSync(root: string, args: string[]): string {
  const r = spawnSync(join(SIM_BIN, 'kpsim'), args, {
    env: { ...process.env, KPSIM_ROOT: root },
    encoding: 'utf8',
  });
  if (r.status !== 0) {
    throw new Error(`kpsim ${args.join(' ')} failed (${String(r.status)}): ${r.stderr}`);
  }
  return r.stdout;
}

function readTrim(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

function dirs(path: string): string[] {
  try {
    return readdirSync(path).filter((n) => statSync(join(path, n)).isDirectory());
  } catch {
    return [];
  }
}

/**
 * Whether a kpfleet run holds the host's lock: a flock on `var/lib/kpfleet/locks/run.lock` (src/apply/
 * lock.ts). The simulator root is bound into the host's namespace, so a lock taken there is on
 * this same file.
 */
export function lockHeld(root: string): boolean {
  const file = join(root, 'var/lib/kpfleet/locks/run.lock');
  if (!existsSync(file)) return false;
  return spawnSync('flock', ['-n', file, 'true']).status !== 0;
}

/** Reads a host's state the way kpfleet's probe does: plain files at the real paths. */
export function readSysfs(root: string): SysfsState {
  const lp = join(root, 'sys/kernel/livepatch');
  const patches: Record<string, PatchState> = {};
  for (const m of dirs(lp)) {
    const d = join(lp, m);
    const objects: Record<string, string[]> = {};
    for (const o of dirs(d)) objects[o] = dirs(join(d, o)).sort();
    const st: PatchState = {
      enabled: readTrim(join(d, 'enabled')),
      transition: readTrim(join(d, 'transition')),
      objects,
    };
    if (existsSync(join(d, 'replace'))) st.replace = readTrim(join(d, 'replace'));
    if (existsSync(join(d, 'stack_order'))) st.stackOrder = readTrim(join(d, 'stack_order'));
    patches[m] = st;
  }
  const modules: Record<string, { refcnt: string }> = {};
  const sm = join(root, 'sys/module');
  // only loaded modules: /sys/module/module holds the kernel's own parameters (sig_enforce)
  for (const m of dirs(sm)) {
    if (existsSync(join(sm, m, 'refcnt'))) modules[m] = { refcnt: readTrim(join(sm, m, 'refcnt')) };
  }
  const installed: { kernel: string; file: string }[] = [];
  const vlk = join(root, 'var/lib/kpatch');
  for (const k of dirs(vlk)) {
    for (const f of readdirSync(join(vlk, k)).sort()) installed.push({ kernel: k, file: f });
  }
  return {
    livepatch: existsSync(lp),
    patches,
    modules,
    tainted: Number(readTrim(join(root, 'proc/sys/kernel/tainted')) || '0'),
    installed,
  };
}

/** Creates (or re-profiles) a simulated host under `root` and lays out its files. */
export function createSimHost(root: string, profile: Partial<SimProfile> = {}): SimHost {
  const abs = resolve(root);
  mkdirSync(abs, { recursive: true });
  const full: SimProfile = { ...DEFAULT_PROFILE, ...profile };
  kpsimSync(abs, ['init', ...profileArgs(full)]);
  const os = osReleaseFor(full.KERNEL_RELEASE);
  if (os !== undefined) {
    mkdirSync(join(abs, 'etc'), { recursive: true });
    writeFileSync(join(abs, 'etc/os-release'), os);
  }
  return simHostAt(abs, full);
}

/**
 * The /etc/os-release a host booted into `kernel` would have: a RHEL kernel (`.el9_3.`) on Red
 * Hat Enterprise Linux 9.3, a Fedora kernel (`.fc42.`) on Fedora 42. ns-setup.sh shows it at
 * /etc/os-release inside the host's namespace; a Debian kernel (`6.1.0-56-amd64`) on Debian 12;
 * other kernels keep this machine's.
 */
export function osReleaseFor(kernel: string): string | undefined {
  const el = /\.el(\d+)(?:_(\d+))?\./.exec(kernel);
  if (el !== null) {
    const version = el[2] === undefined ? (el[1] ?? '') : `${el[1] ?? ''}.${el[2]}`;
    return [
      'NAME="Red Hat Enterprise Linux"',
      `VERSION_ID="${version}"`,
      'ID="rhel"',
      'ID_LIKE="fedora"',
      `PRETTY_NAME="Red Hat Enterprise Linux ${version}"`,
      `CPE_NAME="cpe:/o:redhat:enterprise_linux:${version}"`,
      '',
    ].join('\n');
  }
  const fc = /\.fc(\d+)\./.exec(kernel);
  if (fc !== null) {
    const version = fc[1] ?? '';
    return [
      'NAME="Fedora Linux"',
      `VERSION_ID=${version}`,
      'ID=fedora',
      `PRETTY_NAME="Fedora Linux ${version}"`,
      '',
    ].join('\n');
  }
  // Debian's own kernels: `6.1.0-56-amd64` is bookworm's ABI (docs/kpatch-behaviour.md §7.2)
  const deb = /^(\d+)\.(\d+)\.\d+-\d+-(?:amd64|arm64|cloud-amd64|rt-amd64)$/.exec(kernel);
  const debian = deb === null ? undefined : DEBIAN_BY_KERNEL[`${deb[1] ?? ''}.${deb[2] ?? ''}`];
  if (debian !== undefined) {
    return [
      `PRETTY_NAME="Debian GNU/Linux ${debian.version} (${debian.codename})"`,
      'NAME="Debian GNU/Linux"',
      `VERSION_ID="${debian.version}"`,
      `VERSION="${debian.version} (${debian.codename})"`,
      `VERSION_CODENAME=${debian.codename}`,
      'ID=debian',
      '',
    ].join('\n');
  }
  return undefined;
}

/** The Debian release whose stock kernel is this major.minor. */
const DEBIAN_BY_KERNEL: Record<string, { version: string; codename: string } | undefined> = {
  '5.10': { version: '11', codename: 'bullseye' },
  '6.1': { version: '12', codename: 'bookworm' },
  '6.12': { version: '13', codename: 'trixie' },
};

/** A handle on a host that already exists under `root` (its state is left as it is). */
export function openSimHost(root: string): SimHost {
  const abs = resolve(root);
  const r = spawnSync(
    'bash',
    [
      '-c',
      'source "$1" && for k in ${!2}; do printf "%s=%s\\0" "$k" "${!k}"; done',
      '_',
      join(abs, 'var/lib/kpsim/profile'),
      'KEYS',
    ],
    { encoding: 'utf8', env: { ...process.env, KEYS: Object.keys(DEFAULT_PROFILE).join(' ') } },
  );
  if (r.status !== 0) throw new Error(`no simulated host at ${abs}: ${r.stderr}`);
  const read: Record<string, string> = {};
  for (const kv of r.stdout.split('\0').filter(Boolean)) {
    const i = kv.indexOf('=');
    read[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const full = { ...DEFAULT_PROFILE } as Record<string, unknown>;
  for (const [k, v] of Object.entries(read)) {
    full[k] = typeof full[k] === 'number' ? Number(v) : v;
  }
  return simHostAt(abs, full as unknown as SimProfile);
}

function simHostAt(abs: string, full: SimProfile): SimHost {
  const faultDir = join(abs, 'var/lib/kpsim/faults');

  const host: SimHost = {
    root: abs,
    profile: full,
    fault(name, arg) {
      kpsimSync(abs, ['fault', name, ...(arg === undefined ? [] : [String(arg)])]);
    },
    clearFaults() {
      kpsimSync(abs, ['fault', 'clear']);
    },
    killBackground() {
      kpsimSync(abs, ['kill-background']);
    },
    setProfile(changes) {
      Object.assign(full, changes);
      kpsimSync(abs, ['set', ...profileArgs(changes)]);
    },
    run(cmd, opts = {}) {
      const argv = typeof cmd === 'string' ? ['bash', '-c', cmd] : cmd;
      const [file, ...args] = argv;
      if (file === undefined) return Promise.reject(new Error('empty command'));
      return new Promise((done, fail) => {
        const child = spawn(file, args, {
          cwd: opts.cwd ?? abs,
          env: {
            ...process.env,
            ...opts.env,
            KPSIM_ROOT: abs,
            PATH: `${SIM_BIN}:${process.env.PATH ?? ''}`,
          },
          stdio: ['pipe', 'pipe', 'pipe'],
          detached: true,
        });
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
        child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
        const timer =
          opts.timeoutMs === undefined
            ? undefined
            : setTimeout(() => {
                try {
                  if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
                } catch {
                  /* already gone */
                }
              }, opts.timeoutMs);
        child.on('error', fail);
        child.on('close', (code, signal) => {
          if (timer) clearTimeout(timer);
          done({ code, signal, stdout, stderr });
        });
        child.stdin.on('error', () => undefined);
        child.stdin.end(opts.stdin ?? '');
      });
    },
    makeModule(path, opts = {}) {
      const out = resolve(abs, path);
      const a = ['mkko', '-o', out];
      if (opts.name !== undefined) a.push('--name', opts.name);
      a.push('--kernel', opts.kernel ?? full.KERNEL_RELEASE);
      if (opts.replace === false) a.push('--no-replace');
      if (opts.livepatch === false) a.push('--not-livepatch');
      if (opts.functions) a.push('--functions', opts.functions.join(','));
      if (opts.cves) a.push('--cves', opts.cves.join(','));
      if (opts.description !== undefined) a.push('--description', opts.description);
      if (opts.signed) a.push('--signed');
      if (opts.vermagic !== undefined) a.push('--vermagic', opts.vermagic);
      kpsimSync(abs, a);
      return out;
    },
    addPackage(opts) {
      const a = ['pkg', 'add', '--version', opts.version, '--release', opts.release];
      a.push('--kernel', opts.kernel ?? full.KERNEL_RELEASE);
      if (opts.cves) a.push('--cves', opts.cves.join(','));
      if (opts.functions) a.push('--functions', opts.functions.join(','));
      if (opts.replace === false) a.push('--no-replace');
      return kpsimSync(abs, a).trim();
    },
    readSysfs() {
      return readSysfs(abs);
    },
  };
  // Faults are plain files: a harness may also write them directly.
  mkdirSync(faultDir, { recursive: true });
  writeFileSync(join(abs, 'var/lib/kpsim/.created-by'), 'sim-host.ts\n');
  return host;
}
