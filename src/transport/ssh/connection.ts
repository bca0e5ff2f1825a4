/**
 * The one connection an SshTransport keeps to its host: set up once and shared (later callers
 * wait for the same set-up), through the ProxyCommand and each ProxyJump hop in turn, retried
 * with backoff when the network failed (never when a key or login was refused). Remembers
 * whether the connection was lost since, for the commands running on it.
 */
import type { Client as ClientType } from 'ssh2';
import type { Duplex } from 'node:stream';
import { ConnectionLostError, HostUnreachableError } from '../errors.ts';
import type { SshSettings } from './endpoint.ts';
import { errText, forward, openClient } from './open-client.ts';
import type { OpenClientDeps } from './open-client.ts';
import { describeProxyEnd, startProxyCommand } from './proxy-command.ts';
import type { ProxyProcess } from './proxy-command.ts';

const RETRYABLE =
  /ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|EPIPE|Timed out while waiting for handshake|Connection lost before handshake|Keepalive timeout/i;

export interface SshConnectionDeps extends OpenClientDeps {
  /** Retries of connection set-up (never of commands). */
  connectAttempts?: number;
}

export class SshConnection {
  private readonly host: string;
  private readonly settings: SshSettings;
  private readonly deps: SshConnectionDeps;
  private clients: ClientType[] = [];
  private connecting: Promise<ClientType> | undefined;
  private lostError: Error | undefined;

  constructor(settings: SshSettings, deps: SshConnectionDeps) {
    this.host = settings.host;
    this.settings = settings;
    this.deps = deps;
  }

  /** How the connection was lost, once it was (until the next set-up). */
  get lost(): Error | undefined {
    return this.lostError;
  }

  /** Connects (once; later calls share the connection), retrying set-up with backoff. */
  connect(): Promise<ClientType> {
    this.connecting ??= this.connectWithRetry();
    return this.connecting;
  }

  close(): void {
    const clients = this.clients;
    this.clients = [];
    this.connecting = undefined;
    for (const c of [...clients].reverse()) c.end();
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
    this.lostError = undefined;
    // each running command and upload listens for the connection's end
    target.setMaxListeners(64);
    target.on('close', () => {
      this.lostError = new ConnectionLostError(`the connection to ${this.host} was lost`, {
        host: this.host,
      });
      this.connecting = undefined;
    });
    target.on('error', (err) => {
      this.lostError = new ConnectionLostError(
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
}
