/**
 * Boots kpfleet's test VM (test/vm/SPEC.md) under QEMU: Debian 12's stock kernel, the initramfs
 * and one of the two root disk templates (`kpatch` or `klp` flavour) that `test/vm/setup.sh` left
 * in the cache, systemd as init, sshd on a loopback port (QEMU user networking, hostfwd). KVM
 * when /dev/kvm opens read-write and the guest gets going; otherwise, or when it hangs, TCG.
 * Every VM has its own copy of the disk, kept across `reboot()`.
 *
 * The QEMU process never outlives the test: it runs in its own process group under a small sh
 * watchdog that kills it when our end of its stdin closes (this process died, even by SIGKILL);
 * `stop()`, `process.on('exit')` and SIGINT/SIGTERM/SIGHUP kill the group; and a record under
 * CACHE/run lets a later boot kill what a dead run left behind.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { connect, createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export type Accel = 'kvm' | 'tcg';

/**
 * Which root disk boots (test/vm/SPEC.md): `kpatch`, with test/vm/kpatch as /usr/sbin/kpatch
 * and upstream's kpatch.service enabled; `klp`, with no kpatch at all.
 */
export type Flavor = 'kpatch' | 'klp';

/** What the next boot's kernel command line adds to the VM's own (`console=ttyS0 …`). */
export interface NextBoot {
  /** Replaces bootVm's `kernelArgs` for that boot (and only that one); `[]` adds nothing. */
  kernelArgs?: readonly string[];
}

export interface SshResult {
  /** ssh's exit status: the command's, or 255 when ssh itself failed; null if killed. */
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Vm {
  port: number;
  address: '127.0.0.1';
  user: 'kpfleet';
  /** The client's private key (OpenSSH format, mode 0600). */
  clientKey: string;
  /** `[127.0.0.1]:PORT ssh-ed25519 AAAA…`, for a known_hosts file. */
  knownHostsLine: string;
  accel: Accel;
  flavor: Flavor;
  /** `uname -r` in the VM. */
  kernelRelease: string;
  /** Where the serial console goes. */
  log: string;
  /** Milliseconds from starting QEMU to sshd's banner (the successful attempt only). */
  bootMs: number;
  /** Runs `cmd` as kpfleet through the real OpenSSH client (strict host key checking). */
  ssh(cmd: string, options?: { timeoutMs?: number }): Promise<SshResult>;
  /**
   * Reboots the guest (systemd's `reboot`) and waits until sshd answers again: a fresh QEMU on
   * the same disk and port, with `next.kernelArgs` for that boot when given.
   */
  reboot(next?: NextBoot): Promise<void>;
  /**
   * Resets the machine at once, as a power cut would (QMP `system_reset`): the guest gets no
   * chance to flush its page cache. Then waits until sshd answers again (`next` as for reboot).
   */
  hardReset(next?: NextBoot): Promise<void>;
  /** Runs one QMP command on QEMU's monitor; resolves with its `return` value. */
  qmp(execute: string, args?: Record<string, unknown>): Promise<unknown>;
  /** Kills QEMU and removes the VM's disk copy. Idempotent. */
  stop(): Promise<void>;
}

export interface BootOptions {
  cacheDir: string;
  /** Host port for the guest's port 22 (default: a free one). */
  port?: number;
  memoryMb?: number;
  /** Serial console log (default: in the VM's temporary folder). Appended to. */
  log?: string;
  /** Force an accelerator (default: `KPFLEET_VM_ACCEL`, else KVM when usable, then TCG). */
  accel?: Accel;
  /** The root disk (default `kpatch`). */
  flavor?: Flavor;
  /** Added to the kernel command line of every boot (e.g. `kpatch.enable=0`), unless a reboot says otherwise. */
  kernelArgs?: readonly string[];
}

const USER = 'kpfleet';
const ADDRESS = '127.0.0.1';
const APPEND = 'console=ttyS0 quiet panic=-1';
/** KVM: /init must speak within this (a working KVM gets there in about a second)… */
const KVM_INIT_MS = 10_000;
/** …and sshd must answer within this. */
const KVM_BOOT_MS = 20_000;
/** TCG: a Debian kernel reaches userspace in about 5 s; allow for a busy machine. */
const TCG_BOOT_MS = 60_000;
/** A guest that was told to reboot must have shut down (and QEMU ended) within this. */
const SHUTDOWN_MS = 60_000;
const INIT_MARK = 'kpfleet-vm: init:';
/** A kernel argument passed through -append: one word, nothing QEMU or the kernel would split. */
const KERNEL_ARG = /^[A-Za-z0-9_.,:/=+-]{1,200}$/;

function checkKernelArgs(a: readonly string[]): readonly string[] {
  for (const x of a) {
    if (!KERNEL_ARG.test(x))
      throw new Error(`not a kernel argument vm.ts passes: ${JSON.stringify(x)}`);
  }
  return a;
}
const SSHD_MARK = 'Server listening on';

// The watchdog: QEMU runs in the background with fd 3 (our stdin pipe) closed; a reader waits
// for EOF on that pipe (this process is gone) and then kills QEMU.
const WATCHDOG = [
  'exec 3<&0',
  '"$@" </dev/null 3<&- &',
  'q=$!',
  '( read -r _ <&3; kill -KILL "$q" 2>/dev/null ) &',
  'w=$!',
  'wait "$q"; rc=$?',
  'kill "$w" 2>/dev/null',
  'exit "$rc"',
].join('\n');

interface Running {
  child: ChildProcess;
  /** The watchdog's pid = the process group. */
  pgid: number;
  exited: Promise<void>;
  hasExited: () => boolean;
  stderr: () => string;
}

interface RunRecord {
  owner: number;
  pgid: number;
  dir: string;
}

const live = new Map<number, { dir: string; record: string }>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let handlersInstalled = false;

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function cleanupAllSync(): void {
  for (const [pgid, v] of live) {
    killGroup(pgid);
    rmSync(v.dir, { recursive: true, force: true });
    rmSync(v.record, { force: true });
  }
  live.clear();
}

function onSignal(sig: NodeJS.Signals): void {
  cleanupAllSync();
  uninstallHandlers();
  // nobody else handles it: the default action (exit by that signal), as without us
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', cleanupAllSync);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function uninstallHandlers(): void {
  if (!handlersInstalled) return;
  handlersInstalled = false;
  process.off('exit', cleanupAllSync);
  for (const s of SIGNALS) process.off(s, onSignal);
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Kills the QEMU of runs whose owner process is gone (a SIGKILLed test run). */
function reapLeftovers(runDir: string): void {
  if (!existsSync(runDir)) return;
  for (const f of readdirSync(runDir)) {
    if (!f.endsWith('.json')) continue;
    const path = join(runDir, f);
    let r: RunRecord;
    try {
      r = JSON.parse(readFileSync(path, 'utf8')) as RunRecord;
    } catch {
      rmSync(path, { force: true });
      continue;
    }
    if (alive(r.owner)) continue;
    // the group's leader is our watchdog, QEMU's command line names the VM's folder
    const cmdline = (pid: number): string => {
      try {
        return readFileSync(`/proc/${String(pid)}/cmdline`, 'utf8');
      } catch {
        return '';
      }
    };
    let qemuPid = 0;
    try {
      qemuPid = Number(readFileSync(join(r.dir, 'qemu.pid'), 'utf8').trim());
    } catch {
      // no pidfile: QEMU never started, or the folder is gone
    }
    if (cmdline(r.pgid).includes(r.dir)) killGroup(r.pgid);
    if (qemuPid > 0 && cmdline(qemuPid).includes(r.dir)) {
      try {
        process.kill(qemuPid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(r.dir, { recursive: true, force: true });
    rmSync(path, { force: true });
  }
}

function kvmUsable(): boolean {
  try {
    closeSync(openSync('/dev/kvm', constants.O_RDWR));
    return true;
  } catch {
    return false;
  }
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, ADDRESS, () => {
      const a = srv.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      srv.close(() => {
        done(port);
      });
    });
  });
}

/** Does sshd's banner come back on the forwarded port? (QEMU accepts even when the guest won't.) */
function bannerAnswers(port: number, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((done) => {
    const sock = connect({ host: ADDRESS, port });
    let got = '';
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      done(ok);
    };
    const timer = setTimeout(() => {
      finish(false);
    }, timeoutMs);
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      got += d;
      if (got.includes('\n') || got.length >= 8) finish(got.startsWith('SSH-'));
    });
    sock.on('error', () => {
      finish(false);
    });
    sock.on('close', () => {
      finish(got.startsWith('SSH-'));
    });
  });
}

const sleep = (ms: number): Promise<void> =>
  new Promise((done) => {
    setTimeout(done, ms);
  });

function readFrom(path: string, offset: number): string {
  try {
    const buf = readFileSync(path);
    return buf.subarray(Math.min(offset, buf.length)).toString('latin1');
  } catch {
    return '';
  }
}

const sizeOf = (path: string): number => {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
};

/** The host's boot id: the KVM verdict is kept for as long as the host stays up. */
function hostBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

function startQemu(args: string[], stderrLimit = 8_192): Running {
  const child = spawn(
    'sh',
    ['-c', WATCHDOG, 'kpfleet-vm-watchdog', 'qemu-system-x86_64', ...args],
    {
      detached: true,
      stdio: ['pipe', 'ignore', 'pipe'],
    },
  );
  let err = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    err = (err + d).slice(-stderrLimit);
  });
  let done = false;
  const exited = new Promise<void>((ok) => {
    child.once('exit', () => {
      done = true;
      ok();
    });
    child.once('error', (e) => {
      err += `\n${e.message}`;
      done = true;
      ok();
    });
  });
  // never keep this process alive for the VM's sake; the exit handler kills it
  child.unref();
  for (const s of [child.stdin, child.stderr]) if (s instanceof Socket) s.unref();
  if (child.pid === undefined) throw new Error(`cannot start qemu-system-x86_64: ${err}`);
  return {
    child,
    pgid: child.pid,
    exited,
    hasExited: () => done,
    stderr: () => err,
  };
}

interface Layout {
  kernel: string;
  initrd: string;
  disk: string;
  hostKeyPub: string;
  clientKey: string;
  abi: string;
}

function layout(cacheDir: string, flavor: Flavor): Layout {
  const abiFile = join(cacheDir, 'ABI');
  if (!existsSync(abiFile)) throw new Error(`${abiFile} is missing: run test/vm/setup.sh first`);
  const abi = readFileSync(abiFile, 'utf8').trim();
  const l: Layout = {
    abi,
    // the decompressed ELF (PVH boot) when setup made one, unless KPFLEET_VM_KERNEL=bzimage
    kernel: ((): string => {
      const elf = join(cacheDir, 'kernel', abi, 'vmlinux');
      return process.env.KPFLEET_VM_KERNEL !== 'bzimage' && existsSync(elf)
        ? elf
        : join(cacheDir, 'kernel', abi, 'vmlinuz');
    })(),
    initrd: join(cacheDir, 'initramfs.cpio.gz'),
    disk: join(cacheDir, `disk-${flavor}.img`),
    hostKeyPub: join(cacheDir, 'keys', 'ssh_host_ed25519_key.pub'),
    clientKey: join(cacheDir, 'keys', 'client_ed25519'),
  };
  for (const p of [l.kernel, l.initrd, l.disk, l.hostKeyPub, l.clientKey]) {
    if (!existsSync(p)) throw new Error(`${p} is missing: run test/vm/setup.sh first`);
  }
  return l;
}

/** One QMP command over QEMU's monitor socket: the greeting, qmp_capabilities, the command. */
function qmpCommand(
  socket: string,
  execute: string,
  args: Record<string, unknown> | undefined,
  timeoutMs = 10_000,
): Promise<unknown> {
  return new Promise((done, fail) => {
    const sock = connect(socket);
    let buf = '';
    let sent = 0;
    const timer = setTimeout(() => {
      sock.destroy();
      fail(new Error(`QMP ${execute}: no answer in ${String(timeoutMs)} ms`));
    }, timeoutMs);
    const finish = (e: Error | undefined, v?: unknown): void => {
      clearTimeout(timer);
      sock.destroy();
      if (e) fail(e);
      else done(v);
    };
    const send = (o: object): void => {
      sock.write(JSON.stringify(o) + '\n');
    };
    sock.setEncoding('utf8');
    sock.on('error', (e) => {
      finish(e);
    });
    sock.on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const msg = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
        buf = buf.slice(nl + 1);
        if ('event' in msg) continue;
        if ('error' in msg) {
          finish(new Error(`QMP ${execute}: ${JSON.stringify(msg.error)}`));
          return;
        }
        if ('QMP' in msg) {
          send({ execute: 'qmp_capabilities' });
        } else if (sent === 0) {
          sent = 1;
          send(args === undefined ? { execute } : { execute, arguments: args });
        } else {
          finish(undefined, msg.return);
          return;
        }
      }
    });
  });
}

function runSsh(args: string[], timeoutMs: number): Promise<SshResult> {
  return new Promise((done) => {
    const env = { ...process.env };
    delete env.SSH_AUTH_SOCK;
    const child = spawn('ssh', args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n(vm.ts: ssh killed after ${String(timeoutMs)} ms)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      done({ code: null, stdout, stderr: `${stderr}${e.message}` });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

export async function bootVm(opts: BootOptions): Promise<Vm> {
  const cacheDir = resolve(opts.cacheDir);
  const flavor: Flavor = opts.flavor ?? 'kpatch';
  const l = layout(cacheDir, flavor);
  const defaultArgs = checkKernelArgs(opts.kernelArgs ?? []);
  const runDir = join(cacheDir, 'run');
  mkdirSync(runDir, { recursive: true });
  reapLeftovers(runDir);

  const dir = mkdtempSync(join(tmpdir(), 'kpfleet-vm-'));
  const disk = join(dir, 'disk.img');
  // sparse, as the template is: most of the disk is free space (copyFileSync writes every block)
  execFileSync('cp', ['--sparse=always', l.disk, disk]);
  const log = resolve(opts.log ?? join(dir, 'serial.log'));
  const knownHosts = join(dir, 'known_hosts');
  const qmpSocket = join(dir, 'qmp.sock');
  const hostKey = readFileSync(l.hostKeyPub, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  const record = join(runDir, `${String(process.pid)}-${dir.slice(dir.lastIndexOf('-') + 1)}.json`);

  const fromEnv = process.env.KPFLEET_VM_ACCEL;
  if (fromEnv !== undefined && fromEnv !== '' && fromEnv !== 'kvm' && fromEnv !== 'tcg') {
    throw new Error(`KPFLEET_VM_ACCEL must be kvm or tcg, not ${fromEnv}`);
  }
  const forced: Accel | undefined =
    opts.accel ?? (fromEnv === 'kvm' || fromEnv === 'tcg' ? fromEnv : undefined);
  const verdictFile = join(cacheDir, 'kvm-verdict');
  const bootId = hostBootId();
  const knownBroken = (): boolean => {
    try {
      return readFileSync(verdictFile, 'utf8').trim() === `${bootId} broken`;
    } catch {
      return false;
    }
  };
  const plan: Accel[] =
    forced !== undefined ? [forced] : kvmUsable() && !knownBroken() ? ['kvm', 'tcg'] : ['tcg'];

  let running: Running | undefined;
  let port = 0;
  let accel: Accel = 'tcg';
  let bootMs = 0;
  const failures: string[] = [];

  const args = (a: Accel, p: number, extra: readonly string[]): string[] => [
    '-name',
    'kpfleet-vm',
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-accel',
    a,
    ...(a === 'kvm' ? ['-cpu', 'host', '-smp', '2'] : ['-smp', '1']),
    '-m',
    String(opts.memoryMb ?? 512),
    '-kernel',
    l.kernel,
    '-initrd',
    l.initrd,
    '-append',
    [APPEND, ...extra].join(' '),
    '-chardev',
    `file,id=serial0,path=${log},append=on`,
    '-serial',
    'chardev:serial0',
    '-netdev',
    `user,id=net0,hostfwd=tcp:${ADDRESS}:${String(p)}-:22`,
    '-device',
    'virtio-net-pci,netdev=net0,romfile=',
    '-drive',
    `file=${disk},format=raw,if=virtio`,
    '-device',
    'virtio-rng-pci',
    '-pidfile',
    join(dir, 'qemu.pid'),
    // a guest reset (its reboot, or QMP system_reset) ends QEMU, and reboot()/hardReset() start
    // a fresh one on the same disk: under TCG a warm reset in the same process boots slowly
    // (SPEC.md "Reboot")
    '-action',
    'reboot=shutdown',
    '-qmp',
    `unix:${qmpSocket},server=on,wait=off`,
  ];

  const untrack = (r: Running): void => {
    live.delete(r.pgid);
    if (live.size === 0) uninstallHandlers();
  };
  const kill = async (r: Running): Promise<void> => {
    killGroup(r.pgid);
    await Promise.race([r.exited, sleep(5_000)]);
    untrack(r);
  };

  /** Waits for sshd in the guest: the serial log's marks after `offset`, then the banner. */
  const waitForSshd = async (
    r: Running,
    p: number,
    offset: number,
    a: Accel,
    t0: number,
  ): Promise<string | undefined> => {
    const total = a === 'kvm' ? KVM_BOOT_MS : TCG_BOOT_MS;
    for (;;) {
      const elapsed = performance.now() - t0;
      if (r.hasExited()) {
        return `qemu exited: ${r.stderr().trim().split('\n').slice(-3).join(' / ') || '(no message)'}`;
      }
      const out = readFrom(log, offset);
      if (a === 'kvm' && elapsed > KVM_INIT_MS && !out.includes(INIT_MARK)) {
        return `the guest did not reach /init in ${String(KVM_INIT_MS / 1000)} s (KVM hangs?)`;
      }
      if (elapsed > total) {
        return `sshd did not answer in ${String(total / 1000)} s (serial log: ${log})`;
      }
      if (out.includes(SSHD_MARK) && (await bannerAnswers(p))) return undefined;
      await sleep(200);
    }
  };

  /** Starts QEMU on port `p` and waits for sshd (the first boot, or the boot after a reset). */
  const launch = async (
    a: Accel,
    p: number,
    extra: readonly string[],
  ): Promise<{ r: Running; why: string | undefined; ms: number }> => {
    installHandlers();
    appendFileSync(
      log,
      `\n=== kpfleet vm.ts: qemu -accel ${a}, ${flavor} disk, port ${String(p)}${extra.length > 0 ? `, kernel args ${extra.join(' ')}` : ''}, ${new Date().toISOString()}\n`,
    );
    const offset = sizeOf(log);
    const t0 = performance.now();
    const r = startQemu(args(a, p, extra));
    live.set(r.pgid, { dir, record });
    writeFileSync(
      record,
      JSON.stringify({ owner: process.pid, pgid: r.pgid, dir } satisfies RunRecord),
    );
    const why = await waitForSshd(r, p, offset, a, t0);
    return { r, why, ms: Math.round(performance.now() - t0) };
  };

  for (const a of plan) {
    for (let tries = 0; ; tries++) {
      port = opts.port ?? (await freePort());
      const { r, why, ms } = await launch(a, port, defaultArgs);
      if (why === undefined) {
        running = r;
        accel = a;
        bootMs = ms;
        break;
      }
      await kill(r);
      // someone took the port between our probe and QEMU's bind: another one
      if (
        /host forwarding rule|Address already in use/i.test(why) &&
        opts.port === undefined &&
        tries < 3
      ) {
        continue;
      }
      failures.push(`${a}: ${why}`);
      break;
    }
    if (running) break;
    if (a === 'kvm') writeFileSync(verdictFile, `${bootId} broken\n`);
  }
  if (!running) {
    rmSync(dir, { recursive: true, force: true });
    rmSync(record, { force: true });
    if (live.size === 0) uninstallHandlers();
    throw new Error(`the test VM did not boot: ${failures.join('; ')}`);
  }
  if (accel === 'kvm') writeFileSync(verdictFile, `${bootId} works\n`);
  writeFileSync(knownHosts, `[${ADDRESS}]:${String(port)} ${hostKey}\n`);

  const sshArgs = (cmd: string): string[] => [
    '-F',
    '/dev/null',
    '-i',
    l.clientKey,
    '-p',
    String(port),
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${knownHosts}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'ConnectTimeout=10',
    '-o',
    'ServerAliveInterval=5',
    '-o',
    'ServerAliveCountMax=6',
    '-o',
    'LogLevel=ERROR',
    `${USER}@${ADDRESS}`,
    '--',
    cmd,
  ];
  const ssh = (cmd: string, o: { timeoutMs?: number } = {}): Promise<SshResult> =>
    runSsh(sshArgs(cmd), o.timeoutMs ?? 180_000);

  const current: { r: Running } = { r: running };
  let stopped = false;

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await kill(current.r);
    rmSync(dir, { recursive: true, force: true });
    rmSync(record, { force: true });
  };

  const uname = await ssh('uname -r', { timeoutMs: 30_000 });
  if (uname.code !== 0) {
    await stop();
    throw new Error(
      `ssh to the test VM failed (exit ${String(uname.code)}): ${uname.stderr.trim()}`,
    );
  }
  const kernelRelease = uname.stdout.trim();

  const reboot = async (next: NextBoot = {}): Promise<void> => {
    if (stopped) throw new Error('the VM is stopped');
    const bootIdOf = async (): Promise<string> => {
      const b = await ssh('cat /proc/sys/kernel/random/boot_id', { timeoutMs: 15_000 });
      return b.code === 0 ? b.stdout.trim() : '';
    };
    const before = await bootIdOf();
    if (before === '') throw new Error('cannot read the guest boot id before reboot');
    // the connection may drop before ssh sees the exit status: that is fine
    await powerCycle(() => ssh('sudo -n /sbin/reboot', { timeoutMs: 15_000 }), 'reboot', next);
    const after = await bootIdOf();
    if (after === '' || after === before) {
      throw new Error(`the test VM did not reboot (boot id ${before} → ${after || 'unreadable'})`);
    }
  };

  const qmp = (execute: string, a?: Record<string, unknown>): Promise<unknown> =>
    qmpCommand(qmpSocket, execute, a);

  /**
   * The guest resets (`trigger`); with `-action reboot=shutdown` that ends QEMU, and a fresh
   * QEMU boots the same disk on the same port, as a first boot does.
   */
  const powerCycle = async (
    trigger: () => Promise<unknown>,
    what: string,
    next: NextBoot,
  ): Promise<void> => {
    const extra = checkKernelArgs(next.kernelArgs ?? defaultArgs);
    const old = current.r;
    await trigger();
    await Promise.race([old.exited, sleep(SHUTDOWN_MS)]);
    if (!old.hasExited()) {
      throw new Error(
        `the test VM did not go down within ${String(SHUTDOWN_MS / 1000)} s of ${what}`,
      );
    }
    untrack(old);
    const { r, why } = await launch(accel, port, extra);
    current.r = r;
    if (why !== undefined) throw new Error(`the test VM did not come back after ${what}: ${why}`);
  };

  const hardReset = async (next: NextBoot = {}): Promise<void> => {
    if (stopped) throw new Error('the VM is stopped');
    // QEMU may end before it answers: whether it went down is what counts
    await powerCycle(() => qmp('system_reset').catch(() => undefined), 'QMP system_reset', next);
  };

  return {
    port,
    address: ADDRESS,
    user: USER,
    clientKey: l.clientKey,
    knownHostsLine: `[${ADDRESS}]:${String(port)} ${hostKey}`,
    accel,
    flavor,
    kernelRelease,
    log,
    bootMs,
    ssh,
    reboot,
    hardReset,
    qmp,
    stop,
  };
}
