/**
 * How to reach a host: kpfleet.yml's `connection:` (lowest), then the inventory's group and host
 * variables with Ansible's precedence, read as Ansible's ssh connection plugin reads them: of the
 * names of one setting (`ansible_host`, `ansible_ssh_host`), the LAST one set wins, after all of
 * a host's variables are merged; a value is rendered first (connection-template.ts); the ssh
 * arguments are read by ssh-args.ts. ~/.ssh/config is applied later, by the transport, as OpenSSH
 * would (its values fill what is still unset). Pure.
 */
import type { ConnectionDefaults, HostConnection } from '../connection.ts';
import { scalarText } from '../util/show.ts';
import { ansibleBoolean } from './connection-values.ts';
import { renderConnectionValue } from './connection-template.ts';
import type { Rendered } from './connection-template.ts';
import { readSshArgs } from './ssh-args.ts';

export { ansibleBoolean };

/** The inventory variables of each setting, as Ansible's ssh plugin lists them: the last set wins. */
export const CONNECTION_VARS = {
  address: ['ansible_host', 'ansible_ssh_host'],
  user: ['ansible_user', 'ansible_ssh_user'],
  port: ['ansible_port', 'ansible_ssh_port'],
  privateKeyFile: ['ansible_private_key_file', 'ansible_ssh_private_key_file'],
} as const;

export type ConnectionSetting = keyof typeof CONNECTION_VARS;

/** A port from an inventory variable (INI gives strings, YAML numbers); undefined if invalid. */
export function parsePort(v: unknown): number | undefined {
  const text = scalarText(v);
  const n = text !== undefined && /^\d+$/.test(text) ? Number(text) : NaN;
  return Number.isInteger(n) && n >= 1 && n <= 65535 ? n : undefined;
}

/** Whether a variable's value counts as set: null and '' count as unset. */
export function isSet(value: unknown): boolean {
  return value !== null && value !== undefined && value !== '';
}

/** The name of `setting` whose value Ansible uses: the last of its names that is set. */
export function winningName(
  value: (name: string) => unknown,
  setting: ConnectionSetting,
): string | undefined {
  let won: string | undefined;
  for (const n of CONNECTION_VARS[setting]) if (isSet(value(n))) won = n;
  return won;
}

/** What a command needs beyond the variables: the environment and where a key path starts. */
export interface ConnectionContext {
  env: Readonly<Record<string, string | undefined>>;
  /** A private key file from the inventory, resolved as ssh resolves it (the working directory). */
  resolveKeyPath: (written: string) => string;
}

/** A variable's value rendered for `host`; a non-scalar is refused. */
export function renderVar(
  host: string,
  vars: Readonly<Record<string, unknown>>,
  name: string,
  env: ConnectionContext['env'],
): Rendered | undefined {
  const value = vars[name];
  if (!isSet(value)) return undefined;
  const text = scalarText(value);
  if (text === undefined) return { ok: false, why: 'it is not a string or a number' };
  return renderConnectionValue(text, { vars, host, env });
}

export function resolveConnection(
  host: string,
  defaults: ConnectionDefaults,
  vars: Record<string, unknown>,
  ctx: ConnectionContext,
): HostConnection {
  const out: HostConnection = { ...defaults, host, address: host };
  const unusable: string[] = [];
  const get = (name: string | undefined): string | undefined => {
    if (name === undefined) return undefined;
    const r = renderVar(host, vars, name, ctx.env);
    if (r === undefined) return undefined;
    if (!r.ok) {
      unusable.push(`${name}: ${r.why}`);
      return undefined;
    }
    return r.value === '' ? undefined : r.value;
  };
  const setting = (s: ConnectionSetting): string | undefined => get(winningName((n) => vars[n], s));
  const address = setting('address');
  if (address !== undefined) out.address = address;
  const portText = setting('port');
  if (portText !== undefined) {
    const port = parsePort(portText);
    if (port === undefined) unusable.push('its port is not a port number (1-65535)');
    else out.port = port;
  }
  const user = setting('user');
  if (user !== undefined) out.user = user;
  const key = setting('privateKeyFile');
  if (key !== undefined) out.privateKeyFile = ctx.resolveKeyPath(key);
  const become = ansibleBoolean(vars.ansible_become);
  if (become !== undefined) out.become = become ? 'sudo' : 'none';
  // ansible_ssh_args goes before the user and port on Ansible's ssh command line, the others after
  const before = readSshArgs([get('ansible_ssh_args')]);
  const after = readSshArgs([get('ansible_ssh_common_args'), get('ansible_ssh_extra_args')]);
  for (const r of [...before.refused, ...after.refused]) unusable.push(`${r.option}: ${r.why}`);
  if (before.args.length > 0 || after.args.length > 0)
    out.sshArgs = { before: before.args, after: after.args };
  if (unusable.length > 0) out.unusable = unusable.join('; ');
  return out;
}
