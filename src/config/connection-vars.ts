/**
 * The inventory variables kpfleet connects with, checked for every host as `hostVars` resolves
 * them (docs/config.md, "Inventory variables"), each finding at the file:line:col where the value
 * that wins was written: the INI or YAML inventory, a group_vars/ or host_vars/ file. One
 * diagnostic per written value, naming the hosts it affects. Pure.
 */
import type { Diagnostic } from '../diagnostics.ts';
import { parsePort } from '../desired/connection.ts';
import {
  ansibleBoolean,
  hostAddressProblem,
  JINJA,
  loginNameProblem,
} from '../desired/connection-values.ts';
import type { Inventory, InventoryHost, VarSite } from '../inventory/types.ts';
import { hostVarSources } from '../inventory/vars.ts';
import { scalarText, showValue } from '../util/show.ts';

const SUPPORTED_CONNECTIONS = ['ssh', 'smart', 'paramiko', 'paramiko_ssh'];
const KEY_VARS = new Set(['ansible_ssh_private_key_file', 'ansible_private_key_file']);

/**
 * Why a private key file, as written, cannot be used (a FIFO, a device, too large), or undefined
 * (also when it is missing: ssh skips a missing identity). The loader looks (stat, no read).
 */
export type KeyFileProblem = (written: string) => string | undefined;

const KEY_HINT =
  'give the path of a private key file (a regular file of at most 64 KiB, such as ~/.ssh/id_ed25519)';

/** A private key file that cannot be used, as `name` (`connection.private_key_file`, …) set it. */
export function keyFileFinding(
  name: string,
  value: unknown,
  problem: KeyFileProblem | undefined,
): Finding | undefined {
  const text = scalarText(value);
  if (problem === undefined || text === undefined || text === '') return undefined;
  const why = problem(text);
  return why === undefined
    ? undefined
    : {
        message: `${name} ${showValue(text)} cannot be used as a private key: ${why}`,
        hint: KEY_HINT,
      };
}

export interface Finding {
  message: string;
  hint?: string;
}

/** A string-valued variable: unset (null, '') is fine, a list or mapping is not, nor a template. */
function textValue(
  name: string,
  value: unknown,
  what: string,
  problem: (v: string) => string | undefined,
  hint: string,
): Finding | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  const text = scalarText(value);
  if (text === undefined) return { message: `${name} must be ${what}, not ${showValue(value)}` };
  if (JINJA.test(text)) {
    return {
      message: `${name} ${showValue(text)} is a Jinja2 template, which kpfleet does not evaluate`,
      hint: 'write the value itself: kpfleet reads the inventory as data',
    };
  }
  const why = problem(text);
  return why === undefined
    ? undefined
    : { message: `${name} ${showValue(text)} is not ${what}: ${why}`, hint };
}

const ADDRESS_HINT =
  'the name or address to connect to: a DNS name (web01.example.com), an IPv4 address or an IPv6 address without brackets';
const USER_HINT =
  "letters, digits, '_', '.', '-' and '@' (first.last, svc_deploy, user@REALM), not starting with '-'";

/** The checks, by variable name. */
const CHECKS: Record<string, (name: string, value: unknown) => Finding | undefined> = {
  ansible_host: (n, v) =>
    textValue(n, v, 'a host name or IP address', hostAddressProblem, ADDRESS_HINT),
  ansible_ssh_host: (n, v) =>
    textValue(n, v, 'a host name or IP address', hostAddressProblem, ADDRESS_HINT),
  ansible_user: (n, v) => textValue(n, v, 'a valid login name', loginNameProblem, USER_HINT),
  ansible_ssh_user: (n, v) => textValue(n, v, 'a valid login name', loginNameProblem, USER_HINT),
  ansible_port: portCheck,
  ansible_ssh_port: portCheck,
  ansible_become: (n, v) =>
    v === null || v === undefined || ansibleBoolean(v) !== undefined
      ? undefined
      : {
          message: `${n} ${showValue(v)} is not a boolean`,
          hint: "Ansible's booleans: true/false, yes/no, on/off, 1/0 (any case)",
        },
  ansible_become_user: (n, v) =>
    v === null || v === undefined || v === 'root'
      ? undefined
      : {
          message: `${n} ${showValue(v)} is not supported: kpfleet only becomes root`,
          hint: 'kpfleet runs kpatch as root through `sudo -n`: remove it for these hosts (set it in the plays that need it), or set it to root',
        },
  ansible_become_method: (n, v) =>
    v === null || v === undefined || v === 'sudo'
      ? undefined
      : { message: `${n} ${showValue(v)} is not supported: kpfleet uses sudo` },
  ansible_connection: (n, v) =>
    v === null || v === undefined || SUPPORTED_CONNECTIONS.includes(scalarText(v) ?? '')
      ? undefined
      : { message: `${n} ${showValue(v)} is not supported: kpfleet connects over SSH` },
};

/** `connection.user` in kpfleet.yml: a login name, as `ansible_user`. */
export function connectionUserFinding(value: unknown): Finding | undefined {
  return typeof value === 'string'
    ? textValue('connection.user', value, 'a valid login name', loginNameProblem, USER_HINT)
    : undefined;
}

function portCheck(name: string, value: unknown): Finding | undefined {
  if (value === null || value === undefined || value === '' || parsePort(value) !== undefined)
    return undefined;
  return { message: `${name} ${showValue(value)} is not a port number (1-65535)` };
}

/** Where a host is defined: the fallback position for a value written without one. */
function hostSite(
  inv: Inventory,
  h: InventoryHost,
): Omit<VarSite, 'line' | 'col'> & {
  line?: number;
  col?: number;
} {
  return h.line === undefined
    ? { file: inv.file }
    : { file: inv.file, line: h.line, col: h.col ?? 1 };
}

export function checkConnectionVars(inv: Inventory, keyFile?: KeyFileProblem): Diagnostic[] {
  const found = new Map<string, { d: Diagnostic; hosts: string[]; perHost: boolean }>();
  const add = (
    at: { file: string; line?: number; col?: number },
    f: Finding,
    host: string,
    perHost = true,
  ): void => {
    const key = `${at.file}:${String(at.line)}:${String(at.col)}\0${f.message}`;
    const known = found.get(key);
    if (known) {
      known.hosts.push(host);
      return;
    }
    const d: Diagnostic = {
      severity: 'error',
      code: 'inventory/host-var',
      message: f.message,
      file: at.file,
    };
    if (at.line !== undefined) d.pos = { line: at.line, col: at.col ?? 1 };
    if (f.hint !== undefined) d.hint = f.hint;
    found.set(key, { d, hosts: [host], perHost });
  };
  for (const [name, h] of inv.hosts) {
    const vars = hostVarSources(inv, name);
    for (const [key, source] of vars) {
      const f = KEY_VARS.has(key)
        ? keyFileFinding(key, source.value, keyFile)
        : CHECKS[key]?.(key, source.value);
      if (f) add(source.site ?? hostSite(inv, h), f, name);
    }
    const address = ['ansible_host', 'ansible_ssh_host'].some(
      (k) => (scalarText(vars.get(k)?.value) ?? '') !== '',
    );
    const why = address ? undefined : hostAddressProblem(name);
    if (why !== undefined) {
      const message = `the address of host ${showValue(name)} (its name: it has no ansible_host) is not a host name or IP address: ${why}`;
      add(hostSite(inv, h), { message, hint: `set ansible_host: ${ADDRESS_HINT}` }, name, false);
    }
  }
  return [...found.values()].map(({ d, hosts, perHost }) => {
    if (!perHost) return d;
    const shown =
      hosts.slice(0, 3).join(', ') +
      (hosts.length > 3 ? ` and ${String(hosts.length - 3)} more` : '');
    return { ...d, message: `${d.message} (${hosts.length === 1 ? 'host' : 'hosts'} ${shown})` };
  });
}
