/**
 * What the benchmarks share: statistics, timing the built CLI as a user runs it (wall, CPU, peak
 * RSS by GNU time), the machine and versions, the project a bench plans and applies, results.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const ROOT = new URL('../', import.meta.url).pathname;
export const EL9 = '5.14.0-362.8.1.el9_3.x86_64';

/**
 * rollout.forks for the scale runs: kpfleet's default. (1,000 at once on this 2-core machine made
 * sshd handshakes miss the 10 s connect timeout: the hosts' CPU, not kpfleet, was the limit.)
 */
export const SCALE_FORKS = 50;

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function stats(xs: readonly number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)] ?? NaN, min: s[0] ?? NaN, max: s.at(-1) ?? NaN };
}

/** One plan at scale (bench/scale.ts → bench/results/scale.json → bench/report.ts). */
export interface ScaleRow {
  where: 'sshd fleet' | 'lab';
  hosts: number;
  upSeconds: number;
  wallSeconds: number;
  cpuSeconds: number;
  cpuMsPerHost: number;
  peakRssMb: number;
  loginsPerHost: { min: number; max: number };
  execsPerHost: { min: number; max: number };
}

export interface Timed {
  /** Seconds, wall clock. */
  wall: number;
  /**
   * Seconds of CPU the whole machine spent meanwhile (/proc/stat): the process measured plus
   * everything it made the simulated hosts do (sshd, sudo, the probe, kpatch), which on a real
   * fleet runs on each host's own CPU.
   */
  machineCpu: number;
  /** Seconds of CPU (user + system) of the whole process. */
  cpu: number;
  rssMb: number;
  status: number;
  stdout: string;
  stderr: string;
}

/** CPU seconds the machine has spent since boot, all cores (/proc/stat, USER_HZ = 100). */
export function machineCpuSeconds(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  // user nice system idle iowait irq softirq steal: everything but idle and iowait
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = cpu
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return (user + nice + system + irq + softirq + steal) / 100;
}

/** Runs the built kpfleet CLI (or another build's `bin`) under GNU time. */
export function timeKpfleet(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
  bin = join(ROOT, 'bin/kpfleet.js'),
): Timed {
  return timeCommand([process.execPath, bin, ...args], cwd, {
    SSH_AUTH_SOCK: '',
    NO_COLOR: '1',
    ...env,
  });
}

/** Runs a command under GNU time: wall, its own CPU (children included), peak RSS. */
export function timeCommand(argv: string[], cwd: string, env: Record<string, string> = {}): Timed {
  const m0 = machineCpuSeconds();
  const t = spawnSync('/usr/bin/time', ['-f', '@@time %e %U %S %M', ...argv], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    maxBuffer: 1 << 30,
  });
  const machineCpu = machineCpuSeconds() - m0;
  const line = t.stderr.split('\n').find((l) => l.startsWith('@@time ')) ?? '';
  const [, e = '', u = '', s = '', m = ''] = line.split(' ');
  return {
    wall: Number(e),
    machineCpu,
    cpu: Number(u) + Number(s),
    rssMb: Number(m) / 1024,
    status: t.status ?? 255,
    stdout: t.stdout,
    stderr: t.stderr.replace(/^@@time .*\n?/m, ''),
  };
}

/**
 * bench/floor.ts over the hosts of STATE_JSON (every host must answer): its seconds, and its own
 * CPU from the first connection to the last close (start-up excluded).
 */
export function runFloor(
  stateJson: string,
  hosts: number,
  probe: boolean,
): { seconds: number; cpuMs: number } {
  const f = JSON.parse(
    execFileSync(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'bench/floor.ts'), stateJson, ...(probe ? ['--probe'] : [])],
      { encoding: 'utf8' },
    ),
  ) as { seconds: number; cpuMs: number; ok: number };
  if (f.ok !== hosts) throw new Error(`floor reached ${String(f.ok)} of ${String(hosts)}`);
  return f;
}

/** `ansible-playbook` on inventory.ini at `forks`, host keys checked against `knownHosts` only. */
export function ansiblePlaybook(playbook: string, forks: number, knownHosts: string): string[] {
  return [
    'ansible-playbook',
    '-i',
    'inventory.ini',
    '-f',
    String(forks),
    '--ssh-common-args',
    `-o UserKnownHostsFile=${knownHosts} -o StrictHostKeyChecking=yes`,
    playbook,
  ];
}

export function ensureAnsible(): void {
  if (spawnSync('ansible-playbook', ['--version']).status === 0) return;
  console.log('installing Ansible (Debian package) for the comparison');
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'ansible'], {
    stdio: 'inherit',
  });
}

export function build(): void {
  execFileSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: 'inherit' });
}

/** Another commit of kpfleet, built beside this one, to compare against (`bin` runs it). */
export interface Baseline {
  ref: string;
  commit: string;
  bin: string;
  remove: () => void;
}

/**
 * Builds `ref` of this repository in a git worktree under test/.tmp, with its own `npm ci` (its
 * lockfile, its install scripts, its build); a reason instead where there is no git history (a
 * tarball) or the install fails. The worktree is removed by `remove`.
 */
export function buildBaseline(ref: string): Baseline | string {
  const git = (args: string[], cwd = ROOT) =>
    execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  let commit: string;
  try {
    commit = git(['rev-parse', '--verify', `${ref}^{commit}`]);
  } catch {
    return `no commit ${ref} in this checkout (a shallow clone or a tarball): no baseline`;
  }
  const dir = join(ROOT, 'test/.tmp', `bench-baseline-${commit.slice(0, 12)}`);
  const remove = () => {
    rmSync(join(dir, 'node_modules'), { recursive: true, force: true });
    spawnSync('git', ['worktree', 'remove', '--force', dir], { cwd: ROOT, stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  };
  remove();
  git(['worktree', 'add', '--detach', dir, commit]);
  // The baseline's own dependencies, from its own lockfile: with this checkout's node_modules it
  // would run with this checkout's patched ssh2 (patches/), and the comparison would be unfair.
  const ci = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  });
  if (ci.status !== 0) {
    remove();
    return `npm ci of ${ref} failed: no baseline (${ci.stderr.trim().split('\n').at(-1) ?? ''})`;
  }
  return { ref, commit, bin: join(dir, 'bin/kpfleet.js'), remove };
}

export function machine(): Record<string, unknown> {
  const ansible = spawnSync('ansible', ['--version'], { encoding: 'utf8' });
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? '',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    ansible: ansible.status === 0 ? ansible.stdout.split('\n')[0] : 'not installed',
    openssh: spawnSync('ssh', ['-V'], { encoding: 'utf8' }).stderr.trim(),
  };
}

/**
 * The project both jobs use: one patch (`livepatch_cve`, a .ko with its sha256) that every host
 * must have loaded. `makeModule` writes the .ko (the simulator's module format).
 */
export function writeProject(
  dir: string,
  makeModule: (path: string) => void,
  opts: { forks: number; patchState?: 'loaded' | 'absent' },
): { ko: string; sha256: string } {
  const ko = join(dir, 'livepatch-cve.ko');
  makeModule(ko);
  const sha256 = createHash('sha256').update(readFileSync(ko)).digest('hex');
  writeFileSync(
    join(dir, 'kpfleet.yml'),
    [
      'inventory: inventory.ini',
      'connection: { known_hosts: known_hosts, ssh_config: false }',
      `rollout: { forks: ${String(Math.min(opts.forks, 1000))} }`,
      'patches:',
      `  cve: { module: livepatch_cve, kernel: ${EL9}, file: livepatch-cve.ko, sha256: ${sha256} }`,
      'groups:',
      `  all: { ${opts.patchState ?? 'loaded'}: [cve] }`,
      '',
    ].join('\n'),
  );
  return { ko, sha256 };
}

/** What a result was measured on: the commit, whether the checkout had changes, the load. */
export interface Measured {
  commit: string;
  /** Files changed in the checkout beyond the bench's own output (then not a clean clone). */
  changed: number;
  /** The machine's 1-minute load average when the result was written. */
  load1m: number;
}

function measured(): Measured {
  const git = (args: string[]) =>
    execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  let commit = 'unknown (not a git checkout)';
  let changed = 0;
  try {
    commit = git(['rev-parse', 'HEAD']).trim();
    changed = git(['status', '--porcelain', '--', '.', ':!bench/results', ':!docs/benchmarks.md'])
      .split('\n')
      .filter(Boolean).length;
  } catch {
    // a tarball: said as it is
  }
  return { commit, changed, load1m: Number(loadavg()[0]?.toFixed(2)) };
}

/** Writes `bench/results/NAME` with what it was measured on (`measured`). */
export function writeResult(name: string, result: object): void {
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(
    join(ROOT, 'bench/results', name),
    JSON.stringify({ ...result, measured: measured() }, null, 2) + '\n',
  );
}

export function readResult(name: string): unknown {
  try {
    return JSON.parse(readFileSync(join(ROOT, 'bench/results', name), 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** The range of a per-host count: {min: 1, max: 1} is "exactly one each". */
export const range = (xs: readonly number[]): { min: number; max: number } => ({
  min: Math.min(...xs),
  max: Math.max(...xs),
});

/**
 * What bench/lab-server.ts counted per host since the last `counts`: logins, exec channels, SFTP
 * (subsystem) channels; whether the shared host (replay) has the bench's patch loaded; commands
 * run for real and replayed since the last reset.
 */
export interface LabCounts {
  connections: number[];
  execs: number[];
  subsystems: number[];
  loaded: boolean;
  real: number;
  replayed: number;
}

/** bench/lab-server.ts running N lab hosts in DIR, in its own process. */
export interface LabServer {
  /** Seconds the lab took to start. */
  startSeconds: number;
  /** Connections, execs and SFTP (subsystem) sessions per host since the last call. */
  counts(): Promise<LabCounts>;
  /** Cuts every connection, puts the shared host back to "never had the patch", forgets the recordings. */
  reset(): Promise<void>;
  /** A lab started with shards: only shard `index`'s hosts listen from now on. */
  serve(index: number): Promise<{ hosts: number; seconds: number }>;
  /** Closes every host and waits for the process; then removes DIR. */
  stop(): Promise<void>;
}

/**
 * Starts bench/lab-server.ts and waits until its hosts answer; with `shards`, no host listens
 * until `serve` names a shard.
 */
export async function startLabServer(n: number, dir: string, shards?: number): Promise<LabServer> {
  const args = [String(n), dir, ...(shards !== undefined ? [String(shards)] : [])];
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'bench/lab-server.ts'), ...args],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<unknown> => JSON.parse(String((await lines.next()).value));
  try {
    const ready = (await next()) as { startSeconds: number };
    return {
      startSeconds: ready.startSeconds,
      counts: async () => {
        child.stdin.write('counts\n');
        return (await next()) as LabCounts;
      },
      reset: async () => {
        child.stdin.write('reset\n');
        await next();
      },
      serve: async (index) => {
        child.stdin.write(`serve ${String(index)}\n`);
        return (await next()) as { hosts: number; seconds: number };
      },
      stop: async () => {
        const exited = new Promise((res) => child.once('exit', res));
        child.stdin.end();
        // its hosts close at stdin's end; a lab that does not is killed after a minute
        const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
        await exited;
        clearTimeout(killer);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    child.kill();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
