/**
 * The SSH transport (the only importer of ssh2): one connection per host per run, reused for
 * every step; host keys verified against known_hosts (never accepted silently); agent and key
 * files; ProxyJump chains; keepalive and per-command timeouts; SFTP uploads put in place
 * atomically after a sha256 check on the host.
 */
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import ssh2 from 'ssh2';
import type {
  AnyAuthMethod,
  Client as ClientType,
  ClientChannel,
  ConnectConfig,
  KexAlgorithm,
} from 'ssh2';
import type { Duplex } from 'node:stream';
import { assertRemotePath, quote, withBecome } from '../shell.ts';
import {
  AuthenticationError,
  CommandTimeoutError,
  ConnectionLostError,
  HostKeyError,
  HostUnreachableError,
  OutputLimitError,
  SudoPasswordError,
  UploadError,
} from '../errors.ts';
import { DEFAULT_MAX_OUTPUT_BYTES } from '../transport.ts';
import type {
  ExecOptions,
  ExecResult,
  Held,
  HoldOptions,
  Transport,
  UploadOptions,
} from '../transport.ts';
import { BoundedOutput } from './bounded-output.ts';
import type { KeyStore } from './keys.ts';
import { KeyLoadError } from './keys.ts';
import type { HostKeyPolicy } from './host-key-policy.ts';
import type { HostKeyDecision } from './host-key-policy.ts';
import { describeProxyEnd, startProxyCommand } from './proxy-command.ts';
import type { ProxyProcess } from './proxy-command.ts';

const { Client } = ssh2;

/** Where and how to reach one hop (the target, or a jump host). */
export interface SshEndpoint {
  /** The name host keys are checked under: HostKeyAlias, else the address. */
  keyName: string;
  /** `HostKeyAlias`: known_hosts names the host by it alone, without the port (as ssh does). */
  hostKeyAlias?: string;
  /** `HashKnownHosts`: accept-new records the name hashed. */
  hashKnownHosts?: boolean;
  /**
   * `ProxyCommand`, tokens expanded: run, and SSH spoken over its stdin/stdout instead of a TCP
   * connection to `address` (the first hop only: later hops go through the one before).
   */
  proxyCommand?: string;
  address: string;
  port: number;
  user: string;
}

export interface SshSettings extends SshEndpoint {
  /** Inventory name. */
  host: string;
  become: 'sudo' | 'none';
  /** Key files to try, in order (explicit key first, then ~/.ssh/config's IdentityFile). */
  identityFiles: string[];
  /** ssh-agent socket, unless IdentitiesOnly forbids using it. */
  agent?: string;
  /** ProxyJump chain, first hop first. */
  jump: SshEndpoint[];
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  keepaliveIntervalMs: number;
}

export interface SshTransportDeps {
  keys: KeyStore;
  hostKeys: HostKeyPolicy;
  /** Retries of connection set-up (never of commands). */
  connectAttempts?: number;
  /** Concurrent channels on one connection: below OpenSSH's MaxSessions (10). */
  maxChannels?: number;
  /** Cap on one exec's stdout + stderr (bytes), unless the exec sets its own. */
  maxOutputBytes?: number;
}

const KEX: KexAlgorithm[] = [
  'curve25519-sha256',
  'curve25519-sha256@libssh.org',
  'ecdh-sha2-nistp256',
  'ecdh-sha2-nistp384',
  'ecdh-sha2-nistp521',
  'diffie-hellman-group14-sha256',
];
const RETRYABLE =
  /ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|EPIPE|Timed out while waiting for handshake|Connection lost before handshake|Keepalive timeout/i;

class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly limit: number;
  constructor(limit: number) {
    this.limit = limit;
  }
  async acquire(): Promise<() => void> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    return () => {
      this.active--;
      this.waiting.shift()?.();
    };
  }
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Opens one connection to an endpoint (through `sock` for a jump), verifying its host key. */
async function openClient(
  settings: SshSettings,
  endpoint: SshEndpoint,
  deps: SshTransportDeps,
  sock?: Duplex,
): Promise<ClientType> {
  const auth: AnyAuthMethod[] = [];
  if (settings.agent !== undefined)
    auth.push({ type: 'agent', username: endpoint.user, agent: settings.agent });
  const keyErrors: string[] = [];
  for (const file of settings.identityFiles) {
    try {
      auth.push({ type: 'publickey', username: endpoint.user, key: await deps.keys.load(file) });
    } catch (err) {
      if (err instanceof KeyLoadError) keyErrors.push(err.message);
      else throw err;
    }
  }
  if (auth.length === 0) {
    throw new AuthenticationError(
      `no way to log in to ${endpoint.address} as ${endpoint.user}: no ssh-agent and no usable key${keyErrors.length ? ` (${keyErrors.join('; ')})` : ''}`,
      {
        host: settings.host,
        step: 'connect',
        hint: 'start ssh-agent with your key, or set ansible_ssh_private_key_file / connection.private_key_file',
      },
    );
  }
  const decision: { value?: HostKeyDecision } = {};
  const client = new Client();
  const config: ConnectConfig = {
    host: endpoint.address,
    port: endpoint.port,
    username: endpoint.user,
    readyTimeout: settings.connectTimeoutMs,
    keepaliveInterval: settings.keepaliveIntervalMs,
    keepaliveCountMax: 3,
    algorithms: {
      kex: KEX,
      serverHostKey: deps.hostKeys.algorithmsFor(endpoint) as never,
    },
    authHandler: auth,
    hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
      deps.hostKeys
        .decide(endpoint, key)
        .then((d) => {
          decision.value = d;
          verify(d.accept);
        })
        .catch((err: unknown) => {
          decision.value = {
            accept: false,
            reason: `host key check failed: ${errText(err)}`,
            fingerprint: '',
          };
          verify(false);
        });
    },
  };
  if (sock) config.sock = sock;
  return new Promise<ClientType>((resolve, reject) => {
    let settled = false;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      client.end();
      const d = decision.value;
      if (d && !d.accept) {
        reject(
          new HostKeyError(d.reason, {
            host: settings.host,
            step: 'connect',
            fingerprint: d.fingerprint,
            ...(d.hint ? { hint: d.hint } : {}),
          }),
        );
        return;
      }
      const text = errText(err);
      if (
        (err as { level?: string }).level === 'client-authentication' ||
        /authentication methods failed/i.test(text)
      ) {
        reject(
          new AuthenticationError(
            `${endpoint.user}@${endpoint.address} refused every key offered${keyErrors.length ? ` (and: ${keyErrors.join('; ')})` : ''}`,
            {
              host: settings.host,
              step: 'connect',
              hint: "check the login user, the key (ansible_ssh_private_key_file) and the host's authorized_keys",
            },
          ),
        );
        return;
      }
      reject(
        new HostUnreachableError(
          `cannot connect to ${endpoint.address}:${String(endpoint.port)}: ${text}`,
          { host: settings.host, step: 'connect', cause: err },
        ),
      );
    };
    // ssh2 may emit more than one error (e.g. after a failed handshake): the first settles,
    // the rest must not crash the process.
    client.on('error', () => undefined);
    client.once('ready', () => {
      if (settled) return;
      settled = true;
      resolve(client);
    });
    client.once('error', fail);
    client.once('close', () => fail(new Error('Connection lost before handshake')));
    try {
      client.connect(config);
      // Small request/reply packets: sent at once, never held back by Nagle's algorithm.
      (client as unknown as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    } catch (err) {
      fail(err);
    }
  });
}

function forward(client: ClientType, to: SshEndpoint): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    try {
      client.forwardOut('127.0.0.1', 0, to.address, to.port, (err, stream) =>
        err ? reject(err) : resolve(stream),
      );
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

export class SshTransport implements Transport {
  readonly host: string;
  private readonly settings: SshSettings;
  private readonly deps: SshTransportDeps;
  private readonly channels: Semaphore;
  private clients: ClientType[] = [];
  private connecting: Promise<ClientType> | undefined;
  private lost: Error | undefined;

  constructor(settings: SshSettings, deps: SshTransportDeps) {
    this.host = settings.host;
    this.settings = settings;
    this.deps = deps;
    this.channels = new Semaphore(deps.maxChannels ?? 6);
  }

  /** Connects (once; later calls share the connection), retrying set-up with backoff. */
  connect(): Promise<ClientType> {
    this.connecting ??= this.connectWithRetry();
    return this.connecting;
  }

  private async connectWithRetry(): Promise<ClientType> {
    const attempts = this.deps.connectAttempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.connectChain();
      } catch (err) {
        const retry =
          err instanceof HostUnreachableError && RETRYABLE.test(err.message) && attempt < attempts;
        if (!retry) {
          this.connecting = undefined;
          throw err;
        }
        await new Promise((r) => setTimeout(r, 250 * 2 ** attempt + Math.random() * 100));
      }
    }
  }

  private async connectChain(): Promise<ClientType> {
    const hops = [...this.settings.jump, this.settings];
    const clients: ClientType[] = [];
    const first = hops[0];
    const proxy =
      first?.proxyCommand === undefined ? undefined : startProxyCommand(first.proxyCommand);
    try {
      let sock: Duplex | undefined = proxy?.sock;
      for (const [i, hop] of hops.entries()) {
        const client = await openClient(this.settings, hop, this.deps, sock);
        clients.push(client);
        if (i === 0 && proxy) client.once('close', () => proxy.stop());
        const next = hops[i + 1];
        if (next) sock = await forward(client, next);
      }
    } catch (err) {
      for (const c of clients.reverse()) c.end();
      if (proxy) throw await this.throughProxy(err, proxy);
      throw err;
    }
    const target = clients[clients.length - 1];
    if (!target)
      throw new HostUnreachableError('no connection', { host: this.host, step: 'connect' });
    this.clients = clients;
    this.lost = undefined;
    // each running command and upload listens for the connection's end
    target.setMaxListeners(64);
    target.on('close', () => {
      this.lost = new ConnectionLostError(`the connection to ${this.host} was lost`, {
        host: this.host,
      });
      this.connecting = undefined;
    });
    target.on('error', (err) => {
      this.lost = new ConnectionLostError(
        `the connection to ${this.host} failed: ${errText(err)}`,
        { host: this.host, cause: err },
      );
    });
    return target;
  }

  /** An unreachable error through a ProxyCommand says how the command ended and what it said. */
  private async throughProxy(err: unknown, proxy: ProxyProcess): Promise<unknown> {
    if (!(err instanceof HostUnreachableError)) {
      proxy.stop();
      return err;
    }
    const ended = await describeProxyEnd(proxy);
    proxy.stop();
    return new HostUnreachableError(`${err.message}; ${ended}`, {
      host: this.host,
      step: 'connect',
      cause: err,
      hint: 'run the ProxyCommand by hand (ssh -G shows it) to see what it does',
    });
  }

  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const client = await this.connect();
    const release = await this.channels.acquire();
    const step = options.step ?? command.split(' ')[0] ?? 'exec';
    const full = options.become === true ? withBecome(command, this.settings.become) : command;
    const timeoutMs = options.timeoutMs ?? this.settings.commandTimeoutMs;
    const maxOutput =
      options.maxOutputBytes ?? this.deps.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    const started = performance.now();
    try {
      const result = await new Promise<ExecResult>((resolve, reject) => {
        const output = new BoundedOutput(maxOutput);
        let done = false;
        const finish = (fn: () => void): void => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          client.removeListener('close', onLost);
          fn();
        };
        const onLost = (): void => {
          finish(() =>
            reject(
              new ConnectionLostError(`the connection to ${this.host} was lost during ${step}`, {
                host: this.host,
                step,
              }),
            ),
          );
        };
        client.once('close', onLost);
        let channel: ClientChannel | undefined;
        const stop = (): void => {
          try {
            channel?.signal('KILL');
            channel?.close();
          } catch {
            // the channel is already gone
          }
        };
        // too much output: stop reading and end the command, only this exec fails
        const overflow = (): void =>
          finish(() => {
            stop();
            reject(new OutputLimitError({ host: this.host, step, limitBytes: maxOutput }));
          });
        const timer = setTimeout(() => {
          finish(() => {
            stop();
            reject(
              new CommandTimeoutError(
                `${step} did not finish within ${String(Math.round(timeoutMs / 1000))} s`,
                { host: this.host, step },
              ),
            );
          });
        }, timeoutMs);
        let refusals = 0;
        const open = (): void => {
          try {
            client.exec(full, (e, stream) => {
              if (e) {
                // The server refused the channel (sessions still closing count against its
                // MaxSessions): the command never started, so asking again is safe.
                if (/Channel open failure/i.test(e.message) && refusals < 8 && !done) {
                  refusals++;
                  setTimeout(open, 25 * 2 ** Math.min(refusals, 5));
                  return;
                }
                finish(() =>
                  reject(
                    this.lost ??
                      new ConnectionLostError(`cannot run ${step} on ${this.host}: ${e.message}`, {
                        host: this.host,
                        step,
                        cause: e,
                      }),
                  ),
                );
                return;
              }
              channel = stream;
              stream.on('data', (c: Buffer) => {
                if (!output.add('stdout', c)) overflow();
              });
              stream.stderr.on('data', (c: Buffer) => {
                if (!output.add('stderr', c)) overflow();
              });
              stream.on('close', (code: number | null | undefined, signal: string | undefined) => {
                finish(() =>
                  resolve({
                    code: code ?? null,
                    signal: signal ?? null,
                    stdout: output.stdout(),
                    stderr: output.stderr(),
                    durationMs: performance.now() - started,
                  }),
                );
              });
              stream.end(options.stdin ?? undefined);
            });
          } catch (e) {
            finish(() =>
              reject(
                this.lost ??
                  new ConnectionLostError(`cannot run ${step} on ${this.host}: ${errText(e)}`, {
                    host: this.host,
                    step,
                  }),
              ),
            );
          }
        };
        open();
      });
      if (result.code === null && result.signal === null && this.lost) throw this.lost;
      if (this.sudoRefused(options.become, result.code, result.stderr))
        throw new SudoPasswordError({ host: this.host, step });
      return result;
    } finally {
      release();
    }
  }

  /** sudo -n answered that it wants a password (or a terminal to ask one on). */
  private sudoRefused(become: boolean | undefined, code: number | null, stderr: string): boolean {
    return (
      become === true &&
      this.settings.become === 'sudo' &&
      code === 1 &&
      /^sudo: (a password is required|a terminal is required)/m.test(stderr)
    );
  }

  async hold(command: string, options: HoldOptions): Promise<Held> {
    const client = await this.connect();
    const release = await this.channels.acquire();
    const step = options.step ?? 'hold';
    const full = options.become === true ? withBecome(command, this.settings.become) : command;
    const timeoutMs = options.timeoutMs ?? this.settings.commandTimeoutMs;
    const host = this.host;
    const lost = (): Error =>
      this.lost ??
      new ConnectionLostError(`the connection to ${host} was lost during ${step}`, { host, step });
    // stdout up to the first line only: a held command says one line, then nothing
    const output = new BoundedOutput(64 * 1024);
    let channel: ClientChannel | undefined;
    // read through closures: an object, so the compiler does not narrow it
    const st: { code: number | null; ended: boolean; closed: boolean; lost: boolean } = {
      code: null,
      ended: false,
      closed: false,
      lost: false,
    };
    // read after an await: a function, so the compiler does not narrow it
    const isClosed = (): boolean => st.closed;
    let heartbeat: NodeJS.Timeout | undefined;
    let onEnd: () => void = () => undefined;
    const endedP = new Promise<void>((r) => (onEnd = r));
    // the channel closed (all its output read): apart from its end, which `exit` may tell first
    let onClosed: () => void = () => undefined;
    const closedP = new Promise<void>((r) => (onClosed = r));
    const held: Held = {
      get said() {
        return output.stdout();
      },
      get stderr() {
        return output.stderr();
      },
      get code() {
        return st.code;
      },
      get ended() {
        return st.ended;
      },
      get lost() {
        return st.lost;
      },
      release: async () => {
        clearInterval(heartbeat);
        if (st.closed) return;
        try {
          channel?.end(); // end of file on its stdin: the command ends itself
        } catch {
          // the channel is already gone
        }
        // what it printed is all read once the channel closed
        const bound = new Promise<void>((r) => setTimeout(r, 10_000).unref());
        await Promise.race([closedP, bound]);
        if (!isClosed()) {
          try {
            channel?.signal('KILL');
            channel?.close();
          } catch {
            // the channel is already gone
          }
        }
      },
    };
    /** The command ended: its exit status came, or its channel or the connection closed. */
    const ended = (): void => {
      if (st.ended) return;
      st.ended = true;
      clearInterval(heartbeat);
      onEnd();
    };
    const finished = (): void => {
      ended();
      if (st.closed) return;
      st.closed = true;
      client.removeListener('close', onConnectionClose);
      release();
      onClosed();
    };
    const onConnectionClose = (): void => {
      st.lost = true;
      finished();
    };
    client.once('close', onConnectionClose);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(
            new CommandTimeoutError(
              `${step} did not answer within ${String(Math.round(timeoutMs / 1000))} s`,
              { host, step },
            ),
          );
          try {
            channel?.signal('KILL');
            channel?.close();
          } catch {
            // the channel is already gone
          }
        }, timeoutMs);
        const settle = (err?: Error): void => {
          clearTimeout(timer);
          if (err) reject(err);
          else resolve();
        };
        void endedP.then(() => settle(channel ? undefined : lost()));
        try {
          client.exec(full, (e, stream) => {
            if (e) {
              finished();
              settle(
                this.lost ??
                  new ConnectionLostError(`cannot run ${step} on ${host}: ${e.message}`, {
                    host,
                    step,
                    cause: e,
                  }),
              );
              return;
            }
            channel = stream;
            stream.on('data', (c: Buffer) => {
              const before = output.stdout().includes('\n');
              output.add('stdout', c);
              if (!before && output.stdout().includes('\n')) settle();
            });
            stream.stderr.on('data', (c: Buffer) => output.add('stderr', c));
            // sshd says the exit status when the command ends, even while something it left
            // still holds the channel open
            stream.on('exit', (c: number | null | undefined) => {
              st.code = typeof c === 'number' ? c : null;
              ended();
            });
            stream.on('close', (c: number | null | undefined) => {
              if (typeof c === 'number') st.code = c;
              finished();
            });
          });
        } catch {
          finished();
          settle(lost());
        }
      });
    } catch (err) {
      await held.release();
      throw err;
    }
    if (st.ended && this.sudoRefused(options.become, st.code, output.stderr()))
      throw new SudoPasswordError({ host, step });
    if (!st.ended) {
      heartbeat = setInterval(() => {
        try {
          channel?.write('x');
        } catch {
          // the channel is gone: its close ends the hold
        }
      }, options.heartbeatMs);
      heartbeat.unref();
    }
    return held;
  }

  async upload(content: Buffer, remotePath: string, options: UploadOptions): Promise<void> {
    assertRemotePath(remotePath);
    if (!/^[0-9a-f]{64}$/.test(options.sha256))
      throw new UploadError(`bad sha256 for ${remotePath}`, { host: this.host, step: 'upload' });
    const dir = posix.dirname(remotePath);
    const temp = posix.join(
      dir,
      `.${posix.basename(remotePath)}.kpfleet-${randomBytes(6).toString('hex')}.part`,
    );
    const client = await this.connect();
    try {
      await this.sftpWrite(client, temp, content, options.mode ?? 0o600);
    } catch (err) {
      await this.exec(`rm -f -- ${quote(temp)}`, { step: 'upload cleanup' }).catch(() => undefined);
      if (err instanceof ConnectionLostError) throw err;
      throw new UploadError(`upload of ${remotePath} failed: ${errText(err)}`, {
        host: this.host,
        step: 'upload',
        cause: err,
        // SFTP reports ENOSPC as a bare "Failure"
        hint: /space|failure/i.test(errText(err))
          ? 'is the disk full on the host?'
          : 'check that the folder exists and the login user may write to it',
      });
    }
    // Checked and put in place in one exec: a damaged or partial file never reaches remotePath.
    const check = [
      'set -e',
      `sum=$(sha256sum -- ${quote(temp)} | cut -d' ' -f1)`,
      `if [ "$sum" != ${quote(options.sha256)} ]; then rm -f -- ${quote(temp)}; echo "sha256 mismatch: got $sum" >&2; exit 3; fi`,
      `mv -f -- ${quote(temp)} ${quote(remotePath)}`,
    ].join('\n');
    const r = await this.exec(check, {
      step: 'upload verify',
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    });
    if (r.code !== 0) {
      throw new UploadError(
        `upload of ${remotePath} was not put in place: ${r.stderr.trim().slice(0, 500) || `exit ${String(r.code)}`}`,
        { host: this.host, step: 'upload' },
      );
    }
  }

  private sftpWrite(
    client: ClientType,
    path: string,
    content: Buffer,
    mode: number,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const onLost = (): void =>
        reject(
          new ConnectionLostError(`the connection to ${this.host} was lost during upload`, {
            host: this.host,
            step: 'upload',
          }),
        );
      client.once('close', onLost);
      const done = (err?: Error | null): void => {
        client.removeListener('close', onLost);
        if (err) reject(err);
        else resolve();
      };
      try {
        client.sftp((err, sftp) => {
          if (err) {
            done(err);
            return;
          }
          sftp.writeFile(path, content, { mode }, (e) => {
            sftp.end();
            done(e ?? null);
          });
        });
      } catch (err) {
        done(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  async close(): Promise<void> {
    const clients = this.clients;
    this.clients = [];
    this.connecting = undefined;
    for (const c of [...clients].reverse()) c.end();
    await Promise.resolve();
  }
}
