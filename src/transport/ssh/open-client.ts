/**
 * One SSH connection to one hop (the target or a jump host): the ways to log in (agent, key
 * files), the host key checked by the HostKeyPolicy, and ssh2's failures told as kpfleet errors
 * (host key, authentication, unreachable). `forward` opens the tunnel to the next hop.
 */
import ssh2 from 'ssh2';
import type {
  AnyAuthMethod,
  Client as ClientType,
  ClientChannel,
  ConnectConfig,
  KexAlgorithm,
} from 'ssh2';
import type { Duplex } from 'node:stream';
import { AuthenticationError, HostKeyError, HostUnreachableError } from '../errors.ts';
import type { SshEndpoint, SshSettings } from './endpoint.ts';
import type { KeyStore } from './keys.ts';
import { KeyLoadError } from './keys.ts';
import type { HostKeyPolicy } from './host-key-policy.ts';
import type { HostKeyDecision } from './host-key-policy.ts';

const { Client } = ssh2;

/** What opening a connection needs beyond the settings: the run's keys and host-key policy. */
export interface OpenClientDeps {
  keys: KeyStore;
  hostKeys: HostKeyPolicy;
}

const KEX: KexAlgorithm[] = [
  'curve25519-sha256',
  'curve25519-sha256@libssh.org',
  'ecdh-sha2-nistp256',
  'ecdh-sha2-nistp384',
  'ecdh-sha2-nistp521',
  'diffie-hellman-group14-sha256',
];
/** The message of anything thrown. */
export function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Opens one connection to an endpoint (through `sock` for a jump), verifying its host key. */
export async function openClient(
  settings: SshSettings,
  endpoint: SshEndpoint,
  deps: OpenClientDeps,
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

/** A channel through `client` to the next hop `to`. */
export function forward(client: ClientType, to: SshEndpoint): Promise<ClientChannel> {
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
