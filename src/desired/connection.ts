/**
 * How to reach a host: kpfleet.yml's `connection:` (lowest), then the inventory's group and host
 * variables with Ansible's precedence. ~/.ssh/config is applied later, by the transport, as
 * OpenSSH would (its values fill what is still unset). Pure.
 */
import type { Become, ConnectionDefaults, HostKeyChecking } from '../config/model.ts';
import { scalarText } from '../util/show.ts';

export interface HostConnection {
  /** Inventory name (what --limit and reports use). */
  host: string;
  /** What to connect to: ansible_host, else the inventory name. */
  address: string;
  port?: number;
  user?: string;
  become: Become;
  privateKeyFile?: string;
  knownHosts: string[];
  hostKeyChecking: HostKeyChecking;
  sshConfig: string | false;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  keepaliveIntervalMs: number;
}

/** Ansible's boolean(): yes/on/true/1/y/t and their negatives, any case. */
export function ansibleBoolean(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v !== 'string') return undefined;
  const s = v.trim().toLowerCase();
  if (['yes', 'on', 'true', '1', 'y', 't'].includes(s)) return true;
  if (['no', 'off', 'false', '0', 'n', 'f', ''].includes(s)) return false;
  return undefined;
}

/** The first of `names` that is set to a scalar, as text. */
function first(vars: Record<string, unknown>, names: string[]): string | undefined {
  for (const n of names) {
    const text = scalarText(vars[n]);
    if (text !== undefined && text !== '') return text;
  }
  return undefined;
}

export function resolveConnection(
  host: string,
  defaults: ConnectionDefaults,
  vars: Record<string, unknown>,
  resolvePath: (p: string) => string,
): HostConnection {
  const out: HostConnection = {
    host,
    address: first(vars, ['ansible_host', 'ansible_ssh_host']) ?? host,
    become: defaults.become,
    knownHosts: defaults.knownHosts,
    hostKeyChecking: defaults.hostKeyChecking,
    sshConfig: defaults.sshConfig,
    connectTimeoutMs: defaults.connectTimeoutMs,
    commandTimeoutMs: defaults.commandTimeoutMs,
    keepaliveIntervalMs: defaults.keepaliveIntervalMs,
  };
  const port = first(vars, ['ansible_port', 'ansible_ssh_port']);
  const portNumber =
    typeof port === 'number' ? port : typeof port === 'string' ? Number(port) : NaN;
  if (Number.isInteger(portNumber) && portNumber >= 1 && portNumber <= 65535) out.port = portNumber;
  else if (defaults.port !== undefined) out.port = defaults.port;
  const user = first(vars, ['ansible_user', 'ansible_ssh_user']);
  if (user !== undefined) out.user = user;
  else if (defaults.user !== undefined) out.user = defaults.user;
  const key = first(vars, ['ansible_ssh_private_key_file', 'ansible_private_key_file']);
  if (key !== undefined) out.privateKeyFile = resolvePath(key);
  else if (defaults.privateKeyFile !== undefined) out.privateKeyFile = defaults.privateKeyFile;
  const become = ansibleBoolean(vars.ansible_become);
  if (become !== undefined) out.become = become ? 'sudo' : 'none';
  return out;
}
