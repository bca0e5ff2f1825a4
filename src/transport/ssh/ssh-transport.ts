/**
 * The SSH transport (the only importer of ssh2, with the modules beside it): one connection per
 * host per run, reused for every step (connection.ts: set-up, ProxyJump chains, retries;
 * open-client.ts: one hop, its host key verified against known_hosts, never accepted silently);
 * at most a few channels at once on it; commands (exec-channel.ts), held commands
 * (hold-channel.ts) and SFTP uploads put in place atomically after a sha256 check on the host
 * (upload.ts).
 */
import type { Client as ClientType } from 'ssh2';
import { becomeThenFollow, withBecome } from '../shell.ts';
import { DEFAULT_MAX_OUTPUT_BYTES } from '../transport.ts';
import type {
  ExecOptions,
  ExecResult,
  Held,
  HoldOptions,
  Transport,
  UploadOptions,
} from '../transport.ts';
import { SshConnection } from './connection.ts';
import type { SshConnectionDeps } from './connection.ts';
import type { SshSettings } from './endpoint.ts';
import { execOnChannel } from './exec-channel.ts';
import type { ChannelOptions } from './exec-channel.ts';
import { holdOnChannel } from './hold-channel.ts';
import { uploadVerified } from './upload.ts';

export interface SshTransportDeps extends SshConnectionDeps {
  /** Concurrent channels on one connection: below OpenSSH's MaxSessions (10). */
  maxChannels?: number;
  /** Cap on one exec's stdout + stderr (bytes), unless the exec sets its own. */
  maxOutputBytes?: number;
}

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

export class SshTransport implements Transport {
  readonly host: string;
  private readonly settings: SshSettings;
  private readonly deps: SshTransportDeps;
  private readonly channels: Semaphore;
  private readonly connection: SshConnection;

  constructor(settings: SshSettings, deps: SshTransportDeps) {
    this.host = settings.host;
    this.settings = settings;
    this.deps = deps;
    this.channels = new Semaphore(deps.maxChannels ?? 6);
    this.connection = new SshConnection(settings, deps);
  }

  /** Connects (once; later calls share the connection), retrying set-up with backoff. */
  connect(): Promise<ClientType> {
    return this.connection.connect();
  }

  /** The command as run (through sudo when become is asked for), and how errors name it. */
  private channelOptions(
    command: string,
    options: ExecOptions | HoldOptions,
    step: string,
  ): { full: string } & ChannelOptions {
    const become = options.become === true;
    return {
      full: become ? withBecome(command, this.settings.become) : command,
      host: this.host,
      step,
      timeoutMs: options.timeoutMs ?? this.settings.commandTimeoutMs,
      sudo: become && this.settings.become === 'sudo',
      lost: () => this.connection.lost,
    };
  }

  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const client = await this.connect();
    const release = await this.channels.acquire();
    const step = options.step ?? command.split(' ')[0] ?? 'exec';
    const { full, ...channel } = this.channelOptions(command, options, step);
    try {
      return await execOnChannel(client, full, {
        ...channel,
        maxOutputBytes:
          options.maxOutputBytes ?? this.deps.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
        stdin: options.stdin,
        onStdout: options.onStdout,
      });
    } finally {
      release();
    }
  }

  async hold(command: string, options: HoldOptions): Promise<Held> {
    const client = await this.connect();
    const release = await this.channels.acquire();
    const { full, ...channel } = this.channelOptions(command, options, options.step ?? 'hold');
    const { follow } = options;
    return holdOnChannel(
      client,
      follow === undefined
        ? full
        : becomeThenFollow(
            command,
            options.become === true ? this.settings.become : 'none',
            follow,
          ),
      {
        ...channel,
        heartbeatMs: options.heartbeatMs,
        release,
        ...(follow !== undefined
          ? {
              follow: {
                until: follow.until,
                timeoutMs: follow.timeoutMs ?? this.settings.commandTimeoutMs,
                step: follow.step ?? 'follow',
              },
              maxOutputBytes: this.deps.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
            }
          : {}),
      },
    );
  }

  upload(content: Buffer, remotePath: string, options: UploadOptions): Promise<string> {
    return uploadVerified(this, content, remotePath, options);
  }

  async close(): Promise<void> {
    this.connection.close();
    await Promise.resolve();
  }
}
