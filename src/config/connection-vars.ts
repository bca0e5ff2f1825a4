/**
 * What each inventory variable kpfleet connects with may be (docs/config.md, "Inventory
 * variables"), checked on its value once rendered: `CHECKS` by name, `keyFileFinding` for a
 * private key file (kpfleet.yml's too). inventory-connection.ts applies them to every host. Pure.
 */
import { parsePort } from '../desired/connection.ts';
import {
  ansibleBoolean,
  hostAddressProblem,
  JINJA,
  loginNameProblem,
} from '../desired/connection-values.ts';
import { MANAGER_CHOICES } from '../config-model.ts';
import { MANAGER_VAR } from '../desired/resolve.ts';
import { didYouMean } from '../util/suggest.ts';
import { scalarText, showValue } from '../util/show.ts';

const SUPPORTED_CONNECTIONS = ['ssh', 'smart', 'paramiko', 'paramiko_ssh'];
export const KEY_VARS = new Set(['ansible_ssh_private_key_file', 'ansible_private_key_file']);
/** Variables of kpfleet's own, checked as written: kpfleet does not render a template in them. */
export const LITERAL_VARS = new Set([MANAGER_VAR]);

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

export const ADDRESS_HINT =
  'the name or address to connect to: a DNS name (web01.example.com), an IPv4 address or an IPv6 address without brackets';
const USER_HINT =
  "letters, digits, '_', '.', '-' and '@' (first.last, svc_deploy, user@REALM), not starting with '-'";

/** The checks, by variable name. */
export const CHECKS: Record<string, (name: string, value: unknown) => Finding | undefined> = {
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
  [MANAGER_VAR]: managerCheck,
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

/** `kpfleet_manager`: `kpatch`, `klp` or `auto` (unset: null or ''). */
function managerCheck(name: string, value: unknown): Finding | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  if (MANAGER_CHOICES.some((c) => c === value)) return undefined;
  const text = scalarText(value);
  const hint =
    'kpatch (the kpatch utility), klp (plain livepatch modules) or auto (kpatch where it is installed, else klp)';
  if (text !== undefined && JINJA.test(text)) {
    return {
      message: `${name} ${showValue(text)} is a Jinja2 template, which kpfleet does not evaluate`,
      hint: `write the value itself: ${hint}`,
    };
  }
  return {
    message: `${name} must be one of ${MANAGER_CHOICES.join(', ')}, not ${showValue(value)}`,
    hint: (text !== undefined ? didYouMean(text, MANAGER_CHOICES) : undefined) ?? hint,
  };
}

function portCheck(name: string, value: unknown): Finding | undefined {
  if (value === null || value === undefined || value === '' || parsePort(value) !== undefined)
    return undefined;
  return { message: `${name} ${showValue(value)} is not a port number (1-65535)` };
}
