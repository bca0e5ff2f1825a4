/**
 * What a name may be, where kpfleet reads one from a host or puts one into a remote command:
 * kernel releases, module names, RPM names, file names, and the host names kpfleet records in
 * known_hosts. One place for the rules, so the facts parser (`facts/parse`) refuses exactly what
 * the command builders (`transport/shell.ts`) would refuse later, and the project ssh-config scan
 * what the known_hosts writer would. Pure; every pattern is anchored with bounded repeats (linear, no backtracking).
 */

/** A kernel module name as the kernel lists it: `[A-Za-z0-9_]`, 1–55 (MODULE_NAME_LEN 56). */
export const MODULE_NAME = /^[A-Za-z0-9_]{1,55}$/;

/** What `uname -r` can print: `[A-Za-z0-9._+~-]`, 1–128, not starting with `-`. */
export const KERNEL_RELEASE = /^[A-Za-z0-9._+~][A-Za-z0-9._+~-]{0,127}$/;

/** An RPM name, or name-version-release(.arch): starts with `[A-Za-z0-9_]`, ≤ 256, no globs. */
export const RPM_NAME = /^[A-Za-z0-9_][A-Za-z0-9._+~^:-]{0,255}$/;

/** Longest file name Linux allows in a folder (NAME_MAX). */
export const FILE_NAME_MAX = 255;

/** A file name without a folder: no `/`, not `.` or `..`, no NUL, CR or LF, 1–255 characters. */
export function isBareFileName(value: string): boolean {
  return (
    value.length > 0 &&
    value.length <= FILE_NAME_MAX &&
    value !== '.' &&
    value !== '..' &&
    !/[/\0\r\n]/.test(value)
  );
}

/** A DNS label as host names use it (underscores allowed, as in SRV-style and internal names). */
const LABEL = '[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?';
/** A DNS name or an IPv4 address: labels joined by dots, an optional final dot. */
const DNS_NAME = new RegExp(`^${LABEL}(?:\\.${LABEL}){0,127}\\.?$`);
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;
const IPV4 =
  /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])$/;

/** An IPv6 literal (`::`, an IPv4 tail, a `%zone`), without brackets. */
function isIPv6(value: string): boolean {
  const [address = '', zone, ...more] = value.split('%');
  if (more.length > 0 || (zone !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(zone))) return false;
  const halves = address.split('::');
  if (halves.length > 2) return false;
  const groups = halves.map((h) => (h === '' ? [] : h.split(':')));
  const all = groups.flat();
  const tail = all.at(-1);
  const v4 = tail !== undefined && tail.includes('.');
  if (v4 && !IPV4.test(tail)) return false;
  if (!(v4 ? all.slice(0, -1) : all).every((g) => HEX_GROUP.test(g))) return false;
  const count = all.length + (v4 ? 1 : 0);
  return halves.length === 2 ? count <= 7 : count === 8;
}

/**
 * A host name as OpenSSH records one in known_hosts: a DNS name, an IPv4 or IPv6 address, or
 * `[name]:port`. Nothing a shell, an authorized_keys file or a known_hosts pattern reads
 * specially (blanks, quotes, `$`, `;`, `*`, `,`, `!`, `@`, a leading `-`). ASCII only.
 */
export function isHostNameForm(value: string): boolean {
  const bracketed = /^\[([^\]]{1,253})\]:([0-9]{1,5})$/.exec(value);
  if (bracketed !== null) {
    const port = Number(bracketed[2]);
    return port >= 1 && port <= 65535 && isHostNameForm(bracketed[1] ?? '');
  }
  if (value.length > 254) return false;
  return DNS_NAME.test(value) || isIPv6(value);
}

/**
 * The options sshd(8) reads at the start of an authorized_keys line that take no value
 * (auth-options.c: `restrict`, `cert-authority`, and the flags with their `no-` forms). A
 * known_hosts line written under such a name reads as an authorized key in an authorized_keys
 * file, so kpfleet never records a host under one.
 */
const NEGATABLE_FLAGS = [
  'port-forwarding',
  'agent-forwarding',
  'x11-forwarding',
  'touch-required',
  'verify-required',
  'pty',
  'user-rc',
];
const AUTHORIZED_KEYS_FLAGS = new Set([
  'restrict',
  'cert-authority',
  ...NEGATABLE_FLAGS.flatMap((f) => [f, `no-${f}`]),
]);

/**
 * Why kpfleet will not record `name` (a HostKeyAlias, HostName or inventory address, as written
 * to known_hosts) — undefined when it may. Docs: docs/security.md, "Host keys".
 */
export function knownHostsNameProblem(name: string): string | undefined {
  if (!isHostNameForm(name)) return 'it is not a host name, an IP address or [name]:port';
  if (AUTHORIZED_KEYS_FLAGS.has(name.toLowerCase()))
    return 'sshd reads it as an authorized_keys option';
  return undefined;
}
