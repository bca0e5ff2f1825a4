/**
 * Host addresses and host ranges as Ansible's inventory plugins read them: `parse_address` from
 * ansible/parsing/utils/addresses.py and `expand_hostname_range` from ansible/plugins/inventory.
 * Pure.
 */
import { pushAll } from '../util/arrays.ts';
import { isPrintableAscii, onFirstUse } from '../util/ascii.ts';

const numericRange = String.raw`\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]`;
const hexRange = String.raw`\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]`;
const alnumRange = String.raw`\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]`;
const v6 = String.raw`(?:[0-9a-f]{1,4}|${hexRange})`;
const v4 = String.raw`(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]|${numericRange})`;
const word = String.raw`[\p{L}\p{N}\p{Mn}\p{Pc}]`;
const label = String.raw`(?:${word}|${alnumRange})(?:${word}|-|${alnumRange})*(?<![_-])`;

const bracketedHostPort = /^\[(.+)\]:([0-9]+)$/s;
const hostPort = /^((?:[^:[\]]|\[[^\]]*\])*):([0-9]+)$/s;
/** An IPv4 address, possibly with numeric ranges. */
export const ipv4Pattern = new RegExp(String.raw`^(?:${v4}\.){3}${v4}$`, 'i');
/** An IPv6 address, possibly with ranges (the forms of addresses.py, in the same order). */
export const ipv6Pattern = new RegExp(
  '^(?:' +
    [
      String.raw`(?:${v6}:){7}${v6}`,
      String.raw`(?:${v6}:){1,6}:`,
      String.raw`(?:${v6}:)(?::${v6}){1,6}`,
      String.raw`(?:${v6}:){2}(?::${v6}){1,5}`,
      String.raw`(?:${v6}:){3}(?::${v6}){1,4}`,
      String.raw`(?:${v6}:){4}(?::${v6}){1,3}`,
      String.raw`(?:${v6}:){5}(?::${v6}){1,2}`,
      String.raw`(?:${v6}:){6}(?::${v6})`,
      String.raw`:(?::${v6}){1,6}`,
      String.raw`${v6}?::`,
      String.raw`(?:0:){6}(?:${v6}\.){3}${v6}`,
      String.raw`::(?:ffff:)?(?:${v6}\.){3}${v6}`,
      String.raw`(?:0:){5}ffff:(?:${v6}\.){3}${v6}`,
    ].join('|') +
    ')$',
  'i',
);
/** A host name: labels of letters, digits, marks and connectors (Python's `\w` with re.UNICODE). */
export const hostnamePattern = onFirstUse(
  () => new RegExp(String.raw`^${label}(?:\.${label})*$`, 'iu'),
);
/**
 * The same pattern for a name in printable ASCII, where its letters, digits and connectors are
 * [a-z0-9_] (no ASCII character folds to another letter): V8 makes and compiles it in a tenth of
 * the time of the Unicode one (~2 ms of each start, issue 20), and most names are ASCII.
 */
const asciiLabel = String.raw`(?:[a-z0-9_]|${alnumRange})(?:[a-z0-9_]|-|${alnumRange})*(?<![_-])`;
const asciiHostnamePattern = new RegExp(String.raw`^${asciiLabel}(?:\.${asciiLabel})*$`, 'i');

/** Whether `name` matches `hostnamePattern` (through the ASCII pattern where it gives the same). */
export function isHostname(name: string): boolean {
  return isPrintableAscii(name) ? asciiHostnamePattern.test(name) : hostnamePattern().test(name);
}

/** Whether `s` could be an address of ipv4Pattern: each of its forms starts with a digit or `[`. */
export const mayBeIpv4 = (s: string): boolean => /^[0-9[]/.test(s);

export interface ParsedAddress {
  host: string;
  port: number | undefined;
}

/**
 * `parse_address(address, allow_ranges=True)`: splits a `:port` suffix off a host name, IPv4 or
 * bracketed IPv6 address. Returns undefined where Ansible raises (not a valid host identifier).
 */
export function parseAddress(address: string, allowRanges = true): ParsedAddress | undefined {
  let rest = address;
  let port: number | undefined;
  // Like addresses.py, both forms are tried in turn, the second on what the first left.
  for (const re of [bracketedHostPort, hostPort]) {
    const m = re.exec(rest);
    if (m) {
      rest = m[1] ?? '';
      port = Number.parseInt(m[2] ?? '', 10);
    }
  }
  // each pattern tried only where it could match (compiling them all cost ~4 ms of a start:
  // issue 20): every form of ipv6Pattern has a ':'
  const valid =
    (mayBeIpv4(rest) && ipv4Pattern.test(rest)) ||
    (rest.includes(':') && ipv6Pattern.test(rest)) ||
    isHostname(rest);
  if (!valid || rest === '') return undefined;
  if (!allowRanges && rest.includes('[')) return undefined;
  return { host: rest, port };
}

/** A host range that cannot be expanded; the message is Ansible's. */
export class HostRangeError extends Error {
  override readonly name = 'HostRangeError';
}

const asciiLetters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** Python's `int()` on a range bound: optional sign, digits, underscores between digits. */
function pyInt(s: string): number {
  const t = s.trim();
  if (!/^[+-]?[0-9](?:_?[0-9])*$/.test(t)) {
    throw new HostRangeError(`invalid literal for int() with base 10: '${s}'`);
  }
  return Number.parseInt(t.replace(/_/g, ''), 10);
}

/**
 * `expand_hostname_range`: `web[01:03].example.com` → web01…web03; `[1:9:2]` strides; `[a:f]`
 * letters; several ranges in one name expand left to right. Bounds are inclusive; a zero-padded
 * start fixes the width. Throws HostRangeError with Ansible's message where Ansible raises.
 */
export function expandHostRange(name: string): string[] {
  return expandRange(name);
}

/** More hosts than this from one definition is surely a typo (and would exhaust memory). */
const MAX_RANGE_HOSTS = 100_000;

function expandRange(name: string, budget = { left: MAX_RANGE_HOSTS }): string[] {
  if (!name.includes('[')) return [name];
  // Python: line.replace('[', '|', 1).replace(']', '|', 1).split('|') must give three parts.
  const parts = name.replace('[', '|').replace(']', '|').split('|');
  if (parts.length !== 3) {
    throw new HostRangeError(
      parts.length < 3
        ? `not enough values to unpack (expected 3, got ${parts.length})`
        : 'too many values to unpack (expected 3)',
    );
  }
  const [head = '', nrange = '', tail = ''] = parts;
  const bounds = nrange.split(':');
  if (bounds.length !== 2 && bounds.length !== 3) {
    throw new HostRangeError('host range must be begin:end or begin:end:step');
  }
  const beg = bounds[0] === '' ? '0' : (bounds[0] ?? '0');
  const end = bounds[1] ?? '';
  const stepText = bounds[2];
  if (end === '') throw new HostRangeError('host range must specify end value');
  let fill = (x: string | number): string => String(x);
  if (beg.startsWith('0') && beg.length > 1) {
    const width = beg.length;
    if (width !== end.length) {
      throw new HostRangeError('host range must specify equal-length begin and end formats');
    }
    fill = (x) => String(x).padStart(width, '0');
  }
  const step = stepText === undefined ? 1 : pyInt(stepText);
  let seq: (string | number)[];
  const iBeg = asciiLetters.indexOf(beg);
  const iEnd = asciiLetters.indexOf(end);
  if (iBeg !== -1 && iEnd !== -1) {
    // Python's str.index finds substrings, so this is not limited to single letters either.
    if (iBeg > iEnd) throw new HostRangeError('host range must have begin <= end');
    if (step === 0) throw new HostRangeError('slice step cannot be zero');
    const letters = asciiLetters.slice(iBeg, iEnd + 1);
    seq = [];
    // A negative step over begin <= end is an empty slice in Python.
    for (let i = 0; step > 0 && i < letters.length; i += step) seq.push(letters[i] ?? '');
  } else {
    const b = pyInt(beg);
    const e = pyInt(end) + 1;
    if (step === 0) throw new HostRangeError('range() arg 3 must not be zero');
    seq = [];
    if (Math.ceil((e - b) / step) > MAX_RANGE_HOSTS) {
      throw new HostRangeError(`host range expands to more than ${MAX_RANGE_HOSTS} hosts`);
    }
    if (step > 0) for (let i = b; i < e; i += step) seq.push(i);
    else for (let i = b; i > e; i += step) seq.push(i);
  }
  const out: string[] = [];
  for (const r of seq) {
    const hname = head + fill(r) + tail;
    if (hname.includes('[')) pushAll(out, expandRange(hname, budget));
    else {
      if (--budget.left < 0) {
        throw new HostRangeError(`host range expands to more than ${MAX_RANGE_HOSTS} hosts`);
      }
      out.push(hname);
    }
  }
  return out;
}
