/**
 * What a connection value may be, checked before it reaches `ssh -G`, a hint or a log line
 * (docs/config.md, "Inventory variables"): a host address, a login name, an Ansible boolean.
 * Each check returns why a value is refused, or undefined. Pure.
 */
import { ipv4Pattern, ipv6Pattern } from '../inventory/address.ts';

/** Jinja2 markup: kpfleet reads inventories as data and never evaluates templates. */
export const JINJA = /\{\{|\{%|\{#/;

/** A character as a message shows it: `'$'`, `a space`, `a control character (U+0007)`. */
function showChar(ch: string): string {
  if (ch === ' ') return 'a space';
  const code = ch.codePointAt(0) ?? 0;
  if (/\s/u.test(ch)) return `whitespace (U+${code.toString(16).toUpperCase().padStart(4, '0')})`;
  if (/\p{Cc}/u.test(ch)) {
    return `a control character (U+${code.toString(16).toUpperCase().padStart(4, '0')})`;
  }
  return `'${ch}'`;
}

const HOST_BAD = /[^A-Za-z0-9._:%-]/u;
const LABEL = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}$/;
const ZONE = /^[A-Za-z0-9_.-]+$/;

/**
 * A host to connect to, as `ansible_host` (or an inventory name used as the address): a DNS
 * name (ASCII labels of letters, digits, `_` and `-`, not starting with `-`, an optional final
 * dot), an IPv4 address, or an IPv6 address without brackets, with an optional `%zone`.
 */
export function hostAddressProblem(value: string): string | undefined {
  if (value === '') return 'it is empty';
  if (value.startsWith('-')) return "it starts with '-'";
  if (value.startsWith('[')) return 'write an IPv6 address without brackets';
  const bad = HOST_BAD.exec(value)?.[0];
  if (bad !== undefined) return `it contains ${showChar(bad)}`;
  if (value.includes(':')) {
    if (/^[^:]+:[0-9]+$/.test(value)) return 'a port does not go here: set ansible_port';
    const zoneAt = value.indexOf('%');
    const addr = zoneAt === -1 ? value : value.slice(0, zoneAt);
    const zone = zoneAt === -1 ? undefined : value.slice(zoneAt + 1);
    if (!ipv6Pattern.test(addr) || (zone !== undefined && !ZONE.test(zone)))
      return 'it is not a valid IPv6 address';
    return undefined;
  }
  if (value.includes('%')) return "it contains '%'";
  if (/^[0-9.]+$/.test(value) && !ipv4Pattern.test(value)) return 'it is not a valid IPv4 address';
  if (value.length > 254 || (value.length === 254 && !value.endsWith('.')))
    return 'it is longer than 253 characters';
  const labels = (value.endsWith('.') ? value.slice(0, -1) : value).split('.');
  if (!labels.every((l) => LABEL.test(l)))
    return "each dot-separated part must be 1 to 63 letters, digits, '_' or '-', not starting with '-'";
  return undefined;
}

const LOGIN_BAD = /[^A-Za-z0-9_.@-]/u;

/**
 * A login name, as `ansible_user` or `connection.user`: letters, digits, `_`, `.`, `-` and `@`
 * (`first.last`, `svc_deploy`, SSSD's `user@REALM`), not starting with `-`, `.` or `@`, at most
 * 256 characters. No whitespace, control characters or shell metacharacters.
 */
export function loginNameProblem(value: string): string | undefined {
  if (value === '') return 'it is empty';
  const first = value.charAt(0);
  if (first === '-' || first === '.' || first === '@') return `it starts with '${first}'`;
  const bad = LOGIN_BAD.exec(value)?.[0];
  if (bad !== undefined) return `it contains ${showChar(bad)}`;
  if (value.length > 256) return 'it is longer than 256 characters';
  return undefined;
}

const TRUE_WORDS = ['y', 'yes', 'on', '1', 'true', 't'];
const FALSE_WORDS = ['n', 'no', 'off', '0', 'false', 'f'];

/**
 * Ansible's strict `boolean()` (module_utils/parsing/convert_bool.py): true/false, yes/no, on/off,
 * y/n, t/f, 1/0, any case, surrounding blanks ignored; undefined for anything else (Ansible
 * raises there).
 */
export function ansibleBoolean(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v === 1 ? true : v === 0 ? false : undefined;
  if (typeof v !== 'string') return undefined;
  const s = v.trim().toLowerCase();
  if (TRUE_WORDS.includes(s)) return true;
  if (FALSE_WORDS.includes(s)) return false;
  return undefined;
}
