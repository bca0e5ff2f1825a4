/**
 * How to reach a host: kpfleet.yml's `connection:` (lowest), then the inventory's group and host
 * variables with Ansible's precedence. ~/.ssh/config is applied later, by the transport, as
 * OpenSSH would (its values fill what is still unset). Pure.
 */
import type { ConnectionDefaults, HostConnection } from '../connection.ts';
import { scalarText } from '../util/show.ts';
import { ansibleBoolean } from './connection-values.ts';

export { ansibleBoolean };

/** A port from an inventory variable (INI gives strings, YAML numbers); undefined if invalid. */
export function parsePort(v: unknown): number | undefined {
  const text = scalarText(v);
  const n = text !== undefined && /^\d+$/.test(text) ? Number(text) : NaN;
  return Number.isInteger(n) && n >= 1 && n <= 65535 ? n : undefined;
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
    ...defaults,
    host,
    address: first(vars, ['ansible_host', 'ansible_ssh_host']) ?? host,
  };
  const port = parsePort(first(vars, ['ansible_port', 'ansible_ssh_port']));
  if (port !== undefined) out.port = port;
  const user = first(vars, ['ansible_user', 'ansible_ssh_user']);
  if (user !== undefined) out.user = user;
  const key = first(vars, ['ansible_ssh_private_key_file', 'ansible_private_key_file']);
  if (key !== undefined) out.privateKeyFile = resolvePath(key);
  const become = ansibleBoolean(vars.ansible_become);
  if (become !== undefined) out.become = become ? 'sudo' : 'none';
  return out;
}
