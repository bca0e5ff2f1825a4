/**
 * The in-process lab: the same simulated hosts as the real-SSH fleet, served by ssh2's Server in
 * this Node process, so the demo and fast tests need nothing beyond `npm ci`. Each host listens
 * on its own loopback port with its own host key; every command that arrives runs for real
 * (`/bin/sh -c`) in a fresh mount namespace that presents the host's state at the real paths
 * (ns-setup.sh), as root in that namespace; `sudo` is a shim (lab-bin/sudo). SFTP is the real
 * OpenSSH sftp-server, run the same way, where this machine has one; otherwise (a machine with
 * only the OpenSSH client), for the demo, and in replay mode, it is served in this process
 * (sftp.ts). Faults: the simulator's (SPEC.md), plus `hang` (the
 * host stops answering) and `drop` (the connection is cut during a command).
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess, ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server as NetServer, Socket } from 'node:net';
import { join } from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import ssh2 from 'ssh2';
import type { AuthContext, Connection, ServerChannel, Session } from 'ssh2';
import {
  FLEET_USER,
  inventoryText,
  knownHostsLine,
  LAB_BIN,
  NS_SETUP,
  prepareHostDir,
  setKpatchInstalled,
  TMP_BASE,
} from './host-dir.ts';
import type { ProfileName } from './profiles.ts';
import { Replays } from './replay.ts';
import { serveLabSftp } from './sftp.ts';
import type { Recording } from './replay.ts';
import type { SimHost } from './sim-host.ts';

const { Server, utils } = ssh2;

const SFTP_SERVER = [
  '/usr/lib/openssh/sftp-server',
  '/usr/libexec/openssh/sftp-server',
  '/usr/libexec/sftp-server',
].find(existsSync);

export interface LabOptions {
  hosts: number;
  /** Folder for the hosts' state, keys, inventory (default: a new temporary folder). */
  dir?: string;
  /** Profiles assigned round-robin (default rhel9). */
  profiles?: ProfileName[];
  simProfile?: Record<string, string>;
  prefix?: string;
  /**
   * For the benches (up to 10,000 hosts): every host shares one host folder, so all are in the
   * same state, and the n-th sending of a command by a host runs for real only on the first host
   * that sends it; the others get that run's recorded output and exit status (lab/replay.ts,
   * SPEC.md "Replay"). The SSH side stays real (a listener, host key, handshake, authentication
   * and channel per host; SFTP uploads written for real); what is replayed is the host-side
   * work, which on a real fleet runs on each host's own CPU. Hosts must be sent the same commands
   * in the same order (a run that treats them alike); no faults.
   */
  replay?: boolean;
  /**
   * Who serves SFTP: `openssh`, the machine's sftp-server in the host's namespace (the default
   * where the machine has one), or `in-process` (sftp.ts: the default without one, and always in
   * replay mode). The demo asks for `in-process`, so that it runs alike on every machine.
   */
  sftp?: 'openssh' | 'in-process';
  /**
   * For the 100,000-host bench (more hosts than one address has ports, or this process file
   * descriptors): every host has a fixed address of its own, 127.x.y.z (`fixedAddress`), on port
   * FIXED_PORT, and all share one host key, so the inventory and known_hosts never change while
   * the lab serves one part of the hosts, then another (`serve`). Only the hosts `serve` names
   * listen; the others are in the inventory but refuse connections.
   */
  fixed?: { serve: (name: string) => boolean };
}

/** The port every host of a `fixed` lab listens on. */
export const FIXED_PORT = 20022;

/** The address of the host at `index` (from 0) in a `fixed` lab: 127.1.0.0, 127.1.0.1, … */
export function fixedAddress(index: number): string {
  return `127.${String(1 + (index >> 16))}.${String((index >> 8) & 255)}.${String(index & 255)}`;
}

/** How this machine lets the lab make a namespace: as root, or in a user namespace. */
export function namespaceMode(): string[] {
  const mode = process.getuid?.() === 0 ? ['-m'] : ['-Urm'];
  const probe = spawnSync('unshare', [...mode, '--propagation', 'private', 'true'], {
    encoding: 'utf8',
  });
  if (probe.status !== 0) {
    throw new Error(
      `the lab needs a private mount namespace for each simulated host, and this machine refused one: ` +
        `\`unshare ${mode.join(' ')} true\` said: ${(probe.stderr || probe.error?.message || `exit ${String(probe.status)}`).trim()}. ` +
        `On Debian/Ubuntu unprivileged user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone, ` +
        `or AppArmor's kernel.apparmor_restrict_unprivileged_userns); run as root or enable them.`,
    );
  }
  return mode;
}

/**
 * An ed25519 key pair from ssh2, checked: about 1 in 250 of ssh2 1.17's generated ed25519 keys
 * does not parse back ("Malformed OpenSSH public key"; measured 12 of 3,000), which made lab
 * start-up fail now and then. Such a pair is thrown away and another made.
 */
export function ed25519KeyPair(): ReturnType<typeof utils.generateKeyPairSync> {
  for (let i = 0; ; i++) {
    const k = utils.generateKeyPairSync('ed25519');
    const ok =
      !(utils.parseKey(k.public) instanceof Error) && !(utils.parseKey(k.private) instanceof Error);
    if (ok || i >= 20) return k;
  }
}

export class LabHost {
  readonly name: string;
  readonly dir: string;
  readonly sim: SimHost;
  readonly hostKey: ReturnType<typeof utils.generateKeyPairSync>;
  readonly profile: ProfileName;
  port = 0;
  hung = false;
  /** SSH connections accepted, commands run and SFTP channels opened: for tests of connection reuse. */
  connections = 0;
  execs = 0;
  subsystems = 0;
  server: NetServer | undefined;
  readonly sockets = new Set<Socket>();
  readonly held: Socket[] = [];
  readonly children = new Set<ChildProcess>();

  readonly address: string;

  constructor(
    name: string,
    dir: string,
    sim: SimHost,
    profile: ProfileName,
    fixed?: { address: string; hostKey: ReturnType<typeof utils.generateKeyPairSync> },
  ) {
    this.name = name;
    this.dir = dir;
    this.sim = sim;
    this.profile = profile;
    this.hostKey = fixed?.hostKey ?? ed25519KeyPair();
    this.address = fixed?.address ?? '127.0.0.1';
    if (fixed) this.port = FIXED_PORT;
  }
  fault(name: string, arg?: string): void {
    if (name === 'hang') this.hang();
    else this.sim.fault(name, arg);
  }
  setKpatchInstalled(installed: boolean): void {
    setKpatchInstalled(this.dir, installed);
  }
  /** The host stops answering: no banner for new connections, no more bytes on open ones. */
  hang(): void {
    this.hung = true;
    for (const s of this.sockets) s.pause();
    for (const c of this.children) if (c.pid) signalGroup(c.pid, 'SIGSTOP');
  }
  resume(): void {
    this.hung = false;
    for (const c of this.children) if (c.pid) signalGroup(c.pid, 'SIGCONT');
    for (const s of this.sockets) s.resume();
  }
}

/**
 * The environment a command runs in on a lab host, as an SSH session would give it: the login
 * user's home is the host's own /home (ns-setup.sh binds it per host), never the machine's.
 */
const LAB_ENV = (user: string): Record<string, string> => ({
  PATH: '/usr/local/bin:/usr/bin:/bin',
  HOME: `/home/${user}`,
  USER: user,
  LOGNAME: user,
  SHELL: '/bin/sh',
  LANG: 'C.UTF-8',
});

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // gone
  }
}

export class Lab {
  readonly dir: string;
  readonly hosts: LabHost[] = [];
  readonly user = FLEET_USER;
  readonly keyPath: string;
  readonly knownHostsPath: string;
  readonly inventoryPath: string;
  private readonly clientKey = ed25519KeyPair();
  private readonly clientPublic: Buffer;
  private readonly nsMode: string[];
  private readonly ownDir: boolean;
  /** `replay`: the recordings, and how many commands ran for real or were replayed. */
  replays: Replays | undefined;
  /** The machine's sftp-server, run in the host's namespace; undefined: SFTP in this process. */
  private sftpServer: string | undefined = SFTP_SERVER;
  /**
   * Called with each command that arrives, before it runs (its namespace is made after), and with
   * `subsystem sftp` for each SFTP session (not in replay mode): a test can switch a fault on for
   * exactly the commands it names (SPEC.md "Faults beyond the simulator's").
   */
  onExec: ((host: LabHost, command: string) => void) | undefined;

  private constructor(dir: string, ownDir: boolean) {
    this.dir = dir;
    this.ownDir = ownDir;
    this.nsMode = namespaceMode();
    this.keyPath = join(dir, 'client/id_ed25519');
    this.knownHostsPath = join(dir, 'known_hosts');
    this.inventoryPath = join(dir, 'inventory.ini');
    const parsed = utils.parseKey(this.clientKey.public);
    if (parsed instanceof Error) throw parsed;
    this.clientPublic = parsed.getPublicSSH();
  }

  static async start(opts: LabOptions): Promise<Lab> {
    const ownDir = opts.dir === undefined;
    const dir = opts.dir ?? join(TMP_BASE, `lab-${process.pid}-${Date.now()}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, 'client'), { recursive: true });
    const lab = new Lab(dir, ownDir);
    if (opts.replay === true) lab.replays = new Replays();
    if (opts.replay === true && opts.sftp === 'openssh')
      throw new Error('lab: replay mode serves SFTP in-process (sftp "openssh" asked for)');
    if (opts.replay === true || opts.sftp === 'in-process') lab.sftpServer = undefined;
    else if (opts.sftp === 'openssh' && !SFTP_SERVER)
      throw new Error('lab: sftp "openssh" asked for, but this machine has no sftp-server');
    writeFileSync(lab.keyPath, lab.clientKey.private, { mode: 0o600 });
    writeFileSync(lab.keyPath + '.pub', lab.clientKey.public + '\n');
    const profiles = opts.profiles?.length ? opts.profiles : (['rhel9'] as ProfileName[]);
    const width = Math.max(3, String(opts.hosts).length);
    const sharedKey = opts.fixed ? ed25519KeyPair() : undefined;
    for (let i = 0; i < opts.hosts; i++) {
      const name = `${opts.prefix ?? 'lab'}${String(i + 1).padStart(width, '0')}`;
      const profile = profiles[i % profiles.length] ?? 'rhel9';
      const first = lab.hosts[0];
      const fixed = sharedKey && { address: fixedAddress(i), hostKey: sharedKey };
      if (opts.replay === true && first) {
        lab.hosts.push(new LabHost(name, first.dir, first.sim, first.profile, fixed));
        continue;
      }
      const hostDir = join(dir, 'hosts', name);
      const sim = prepareHostDir(
        hostDir,
        { name, profile, ...(opts.simProfile ? { simProfile: opts.simProfile } : {}) },
        [LAB_BIN],
      );
      lab.hosts.push(new LabHost(name, hostDir, sim, profile, fixed));
    }
    await lab.serve(opts.fixed?.serve ?? (() => true));
    writeFileSync(
      lab.knownHostsPath,
      lab.hosts.map((h) => knownHostsLine(h.address, h.port, h.hostKey.public)).join('\n') + '\n',
    );
    writeFileSync(
      lab.inventoryPath,
      inventoryText(
        lab.hosts.map((h) => ({
          name: h.name,
          address: h.address,
          port: h.port,
          profile: h.profile,
        })),
        lab.keyPath,
      ),
    );
    return lab;
  }

  host(name: string): LabHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host ${name} in the lab`);
    return h;
  }

  async close(): Promise<void> {
    for (const h of this.hosts) {
      h.resume();
      for (const c of h.children) if (c.pid) signalGroup(c.pid, 'SIGKILL');
      for (const s of [...h.sockets, ...h.held]) s.destroy();
      await new Promise<void>((res) => (h.server ? h.server.close(() => res()) : res()));
    }
    // Background transitions of the simulator run detached; end those of our hosts.
    for (const h of this.hosts) h.sim.killBackground();
    if (this.ownDir) rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * Cuts every open connection (the hosts keep listening): a client's kept-open connections
   * (OpenSSH's ControlPersist) end, so its next run starts from a new login.
   */
  disconnectAll(): void {
    for (const h of this.hosts) for (const s of h.sockets) s.destroy();
  }

  /**
   * Only the hosts `which` names listen from now on: the others stop listening and their
   * connections are cut. A host of a `fixed` lab listens on its own address again.
   */
  async serve(which: (name: string) => boolean): Promise<void> {
    await Promise.all(
      this.hosts.map(async (h) => {
        if (which(h.name)) {
          if (!h.server) await this.listen(h);
          return;
        }
        const server = h.server;
        if (!server) return;
        h.server = undefined;
        for (const s of h.sockets) s.destroy();
        await new Promise<void>((res) => server.close(() => res()));
      }),
    );
  }

  private listen(host: LabHost): Promise<void> {
    const ssh = new Server({ hostKeys: [host.hostKey.private] }, (client) =>
      this.onClient(host, client),
    );
    const tcp = createServer((socket) => {
      socket.setNoDelay(true);
      host.sockets.add(socket);
      socket.once('close', () => host.sockets.delete(socket));
      if (host.hung) {
        host.held.push(socket); // accepted by the kernel, never answered: a hung machine
        return;
      }
      ssh.injectSocket(socket);
    });
    host.server = tcp;
    return new Promise((res, rej) => {
      tcp.once('error', rej);
      tcp.listen(host.address === '127.0.0.1' ? 0 : host.port, host.address, () => {
        const addr = tcp.address();
        host.port = typeof addr === 'object' && addr ? addr.port : 0;
        res();
      });
    });
  }

  private onClient(host: LabHost, client: Connection): void {
    host.connections++;
    client.on('error', () => undefined);
    client.on('authentication', (ctx: AuthContext) => {
      if (ctx.method !== 'publickey' || ctx.username !== this.user) {
        ctx.reject(['publickey']);
        return;
      }
      const offered = ctx.key.data;
      if (
        offered.length !== this.clientPublic.length ||
        !timingSafeEqual(offered, this.clientPublic)
      ) {
        ctx.reject(['publickey']);
        return;
      }
      if (!ctx.signature) {
        ctx.accept(); // the "would this key do?" query
        return;
      }
      const key = utils.parseKey(this.clientKey.public);
      // ssh2's verify() returns an Error (truthy) on failure, whatever its type says.
      const verified: unknown =
        key instanceof Error
          ? false
          : key.verify(ctx.blob ?? Buffer.alloc(0), ctx.signature, ctx.hashAlgo);
      if (verified === true) ctx.accept();
      else ctx.reject(['publickey']);
    });
    client.on('ready', () => {
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        // ssh2 passes no accept/reject when the client wants no reply (OpenSSH's env requests).
        session.on('env', (accept: (() => void) | undefined) => accept?.());
        session.on('pty', (_accept, reject: (() => void) | undefined) => reject?.());
        session.on('exec', (accept, _reject, info) => {
          const channel = accept();
          host.execs++;
          this.onExec?.(host, info.command);
          const replayed = this.replays?.take(host.name, info.command);
          if (replayed && !replayed.first) replayed.recording.replayOnto(channel);
          else
            this.exec(host, client, channel, ['/bin/sh', '-c', info.command], {
              session,
              ...(replayed ? { recording: replayed.recording } : {}),
            });
        });
        const sftpServer = this.sftpServer;
        if (sftpServer === undefined)
          session.on('sftp', (accept) => {
            host.subsystems++;
            if (!this.replays) this.onExec?.(host, 'subsystem sftp');
            serveLabSftp(accept(), host.sim.root, this.user, this.replays?.uploads);
          });
        else
          session.on('subsystem', (accept, reject, info) => {
            if (info.name !== 'sftp') {
              reject();
              return;
            }
            const channel = accept();
            host.subsystems++;
            this.onExec?.(host, 'subsystem sftp');
            this.exec(host, client, channel, [sftpServer]);
          });
      });
    });
  }

  /** Runs argv in a fresh namespace that presents `host`'s state, as a session on it would. */
  private inHost(
    host: LabHost,
    argv: string[],
    options: { detached?: boolean; stdin: 'pipe' | 'ignore' },
  ): ChildProcessWithoutNullStreams {
    return spawn(
      'unshare',
      [...this.nsMode, '--propagation', 'private', NS_SETUP, host.dir, '--', ...argv],
      {
        detached: options.detached ?? false,
        stdio: [options.stdin, 'pipe', 'pipe'],
        env: LAB_ENV(this.user),
      },
    ) as ChildProcessWithoutNullStreams;
  }

  private exec(
    host: LabHost,
    client: Connection,
    channel: ServerChannel,
    argv: string[],
    opts: { session?: Session; recording?: Recording } = {},
  ): void {
    const { session, recording } = opts;
    // its own process group, so a dropped channel can end all of it
    const child = this.inHost(host, argv, { detached: true, stdin: 'pipe' });
    host.children.add(child);
    const drop = existsSync(join(host.sim.root, 'var/lib/kpsim/faults/drop'));
    let dropped = false;
    child.stdout.on('data', (chunk: Buffer) => {
      recording?.push(false, chunk);
      channel.write(chunk);
      if (drop && !dropped) {
        dropped = true; // the connection dies mid-command, after the first output
        // as the simulator's drop does: let that output reach the client first (writing and
        // destroying the socket in the same tick lost it under load)
        setTimeout(() => {
          if (child.pid) signalGroup(child.pid, 'SIGKILL');
          client.end();
          for (const s of host.sockets) s.destroy();
        }, 300);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      recording?.push(true, chunk);
      channel.stderr.write(chunk);
    });
    channel.on('data', (chunk: Buffer) => child.stdin.write(chunk));
    channel.on('end', () => {
      recording?.stdinEnded();
      child.stdin.end();
    });
    // as sshd does: a `signal` request (the client's timeout: KILL) goes to the command's group;
    // a channel or connection that ends closes the command's stdin and signals nothing (no pty)
    session?.on('signal', (accept: (() => void) | undefined, _reject, info: { name: string }) => {
      accept?.();
      if (child.exitCode === null && child.pid && /^[A-Z0-9]+$/.test(info.name))
        signalGroup(child.pid, `SIG${info.name}` as NodeJS.Signals);
    });
    channel.on('close', () => {
      if (child.exitCode === null) child.stdin.end();
    });
    child.stdin.on('error', () => undefined);
    child.on('error', () => recording?.finish(255, null));
    child.on('close', (code, signal) => {
      host.children.delete(child);
      recording?.finish(code, signal);
      if (dropped) return;
      try {
        if (signal) channel.exit(signal.replace(/^SIG/, ''), false, '');
        else channel.exit(code ?? 255);
        channel.end();
      } catch {
        // the client went away first
      }
    });
  }
}
