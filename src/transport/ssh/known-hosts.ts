/**
 * OpenSSH known_hosts, read and checked as OpenSSH does (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT";
 * OpenSSH `hostfile.c`, `match.c`, `sshconnect.c`). Pure: it works on raw public-key blobs (the
 * bytes that are base64-encoded in a known_hosts line, and what ssh2's `hostVerifier` receives).
 * Reading and appending files is in `known-hosts-file.ts`.
 *
 * Deliberate differences from OpenSSH, both stricter:
 * - a key on any `@revoked` line is refused for every host (OpenSSH only consults `@revoked`
 *   lines whose host patterns match the host);
 * - `@cert-authority` lines cannot be honoured (ssh2 does not negotiate host certificates), so a
 *   host known only through a CA gets the `cert-authority` verdict, which kpfleet refuses.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { Diagnostic } from '../../diagnostics.ts';
import { knownHostsNameProblem } from '../../util/names.ts';
import { compileWildcard } from '../../util/glob.ts';
import { trimEndChars } from '../../util/text.ts';

export const SSH_DEFAULT_PORT = 22;

export type KnownHostsMarker = 'cert-authority' | 'revoked';

/** The host field of a line: a pattern list, or one hashed name (`|1|salt|hmac`). */
export type KnownHostsNames =
  { kind: 'patterns'; text: string } | { kind: 'hashed'; text: string; salt: Buffer };

export interface KnownHostsEntry {
  /** The file as the caller named it, and the 1-based line. */
  file: string;
  line: number;
  marker?: KnownHostsMarker;
  names: KnownHostsNames;
  /** The key type as written on the line (`ssh-rsa`, `ecdsa-sha2-nistp256`, …). */
  keyType: string;
  /** The key type read from the blob itself. */
  blobType: string;
  blob: Buffer;
  comment?: string;
}

/** A line that could not be used: skipped, reported, never fatal. */
export interface KnownHostsProblem {
  file: string;
  line: number;
  reason: string;
  text: string;
}

export interface ParsedKnownHosts {
  entries: KnownHostsEntry[];
  problems: KnownHostsProblem[];
}

/** Who we are talking to, as `ssh` names it for known_hosts. */
export interface HostKeyTarget {
  host: string;
  port: number;
  /** OpenSSH `HostKeyAlias`: replaces `host` (and the port) for matching and for writing. */
  hostKeyAlias?: string;
}

/** A line that holds a key for the host, for messages: type, fingerprint, where. */
export interface KnownKeyRef {
  keyType: string;
  fingerprint: string;
  /** The key blob on that line. */
  key: Buffer;
  file: string;
  line: number;
}

interface VerdictBase {
  /** The name looked up: `host`, `[host]:port` or the HostKeyAlias, lowercased. */
  name: string;
  /** The presented key. */
  keyType: string;
  fingerprint: string;
}

export type HostKeyVerdict =
  | (VerdictBase & {
      kind: 'known';
      match: KnownKeyRef;
      /**
       * Found under the bare host name although the port is not 22: OpenSSH accepts this when
       * nothing at all is recorded for `[host]:port` ("found matching key w/out port").
       */
      withoutPort: boolean;
    })
  | (VerdictBase & { kind: 'revoked'; entry: KnownKeyRef })
  | (VerdictBase & { kind: 'changed'; expected: KnownKeyRef[] })
  | (VerdictBase & { kind: 'cert-authority'; entries: KnownKeyRef[] })
  | (VerdictBase & { kind: 'unknown' });

// ---------------------------------------------------------------------------------------------
// Key blobs

/** The SSH wire fields of a public key for each plain type OpenSSH accepts in known_hosts. */
const BLOB_FIELDS: Readonly<Record<string, number>> = {
  'ssh-ed25519': 2, // type, pk
  'ssh-rsa': 3, // type, e, n
  'ssh-dss': 5, // type, p, q, g, y
  'ecdsa-sha2-nistp256': 3, // type, curve, Q
  'ecdsa-sha2-nistp384': 3,
  'ecdsa-sha2-nistp521': 3,
  'sk-ssh-ed25519@openssh.com': 3, // type, pk, application
  'sk-ecdsa-sha2-nistp256@openssh.com': 4, // type, curve, Q, application
};

/** Reads the SSH `string` fields of a blob; undefined when the framing is broken. */
function readStrings(blob: Uint8Array, max: number): Buffer[] | undefined {
  const buf = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const out: Buffer[] = [];
  let at = 0;
  while (at < buf.length && out.length < max) {
    if (at + 4 > buf.length) return undefined;
    const len = buf.readUInt32BE(at);
    at += 4;
    if (at + len > buf.length) return undefined;
    out.push(buf.subarray(at, at + len));
    at += len;
  }
  return out;
}

/** The key type named at the start of a public-key blob (`ssh-ed25519`, …); undefined if none. */
export function keyTypeOf(blob: Uint8Array): string | undefined {
  const first = readStrings(blob, 1)?.[0];
  if (first === undefined || first.length === 0) return undefined;
  const type = first.toString('latin1');
  return /^[\x21-\x7e]+$/.test(type) ? type : undefined;
}

/** Why a blob is not a well-formed public key of a type OpenSSH accepts; undefined if it is. */
function blobProblem(blob: Buffer): string | undefined {
  const type = keyTypeOf(blob);
  if (type === undefined) return 'the key is not an SSH public-key blob';
  const fields = BLOB_FIELDS[type];
  if (fields === undefined) return `unsupported key type "${type}" in the key blob`;
  const parts = readStrings(blob, Number.MAX_SAFE_INTEGER);
  if (parts?.length !== fields) return `the ${type} key blob is truncated or malformed`;
  if (type.startsWith('ecdsa-sha2-') || type.startsWith('sk-ecdsa-')) {
    const curve = parts[1]?.toString('latin1');
    if (!type.includes(`-${curve ?? ''}`)) return `the ${type} key blob names curve "${curve}"`;
  }
  if ((type === 'ssh-ed25519' || type === 'sk-ssh-ed25519@openssh.com') && parts[1]?.length !== 32)
    return `the ${type} public key is not 32 bytes`;
  return undefined;
}

/** The fingerprint `ssh-keygen -l` prints by default: `SHA256:` + unpadded base64. */
export function fingerprintSha256(blob: Uint8Array): string {
  const digest = createHash('sha256').update(blob).digest('base64');
  return `SHA256:${trimEndChars(digest, '=')}`;
}

/** Strict base64 as OpenSSH's b64_pton reads it (padding required); undefined when invalid. */
function decodeBase64(text: string): Buffer | undefined {
  if (text.length === 0 || text.length % 4 !== 0) return undefined;
  if (!/^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$/.test(text))
    return undefined;
  return Buffer.from(text, 'base64');
}

/** Whether the type written on a line agrees with the blob's own type, as `sshkey_read` checks. */
function keyTypeAgrees(written: string, blobType: string): boolean {
  if (written === blobType) return true;
  // rsa-sha2-* name RSA signature algorithms; sshkey_type_from_name maps them to KEY_RSA.
  return blobType === 'ssh-rsa' && (written === 'rsa-sha2-256' || written === 'rsa-sha2-512');
}

// ---------------------------------------------------------------------------------------------
// Host names and patterns

/** OpenSSH `put_host_port`: `host` on port 22 (or 0), else `[host]:port`. */
export function knownHostsName(host: string, port: number): string {
  return port === 0 || port === SSH_DEFAULT_PORT ? host : `[${host}]:${port}`;
}

/** The name ssh looks up and records: the HostKeyAlias if set, else `put_host_port`; lowercased. */
export function lookupName(target: HostKeyTarget): string {
  const name = target.hostKeyAlias ?? knownHostsName(target.host, target.port);
  return name.toLowerCase();
}

/**
 * OpenSSH `match_pattern`: `*` any run (also empty), `?` exactly one character. Without a regular
 * expression (`^.*a.*a…$` backtracked for seconds on a 30-character name): at most
 * (name + 1) × (pattern + 1) steps (util/glob.ts).
 */
export function matchPattern(name: string, pattern: string): boolean {
  return compileWildcard(pattern).match(name);
}

/**
 * OpenSSH `match_hostname` (`match_pattern_list` with lowercased patterns): `match` when a
 * pattern matches, `negated` when a `!pattern` matches (that wins over any positive match),
 * else `none`. `name` should already be lowercase, as ssh makes it.
 */
export function matchHostPatterns(name: string, patterns: string): 'match' | 'negated' | 'none' {
  let positive = false;
  for (const raw of patterns.split(',')) {
    const negated = raw.startsWith('!');
    const sub = (negated ? raw.slice(1) : raw).toLowerCase();
    // match_pattern_list gives up (no match at all) on a sub-pattern of 1023 bytes or more.
    if (Buffer.byteLength(sub) >= 1023) return 'none';
    if (matchPattern(name, sub)) {
      if (negated) return 'negated';
      positive = true;
    }
  }
  return positive ? 'match' : 'none';
}

const HASH_MAGIC = '|1|';

/** OpenSSH `host_hash`: `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`; a random salt if none. */
export function hashHostName(name: string, salt: Uint8Array = randomBytes(20)): string {
  const hmac = createHmac('sha1', salt).update(name).digest('base64');
  return `${HASH_MAGIC}${Buffer.from(salt).toString('base64')}|${hmac}`;
}

/** Whether a line's host field names `name` (lowercase, as from `lookupName`). */
export function namesMatch(names: KnownHostsNames, name: string): boolean {
  if (names.kind === 'hashed') return hashHostName(name, names.salt) === names.text;
  return matchHostPatterns(name, names.text) === 'match';
}

/** Parses a hashed host field as OpenSSH's `extract_salt` does; a reason when it is unusable. */
function parseHashed(text: string): KnownHostsNames | string {
  if (!text.startsWith(HASH_MAGIC)) return 'hashed host name without the "|1|" magic';
  const rest = text.slice(HASH_MAGIC.length);
  const bar = rest.indexOf('|');
  if (bar < 0) return 'hashed host name without a salt terminator';
  const salt = decodeBase64(rest.slice(0, bar));
  if (salt?.length !== 20) return 'hashed host name with a salt that is not 20 bytes of base64';
  const hash = decodeBase64(rest.slice(bar + 1));
  if (hash?.length !== 20) return 'hashed host name with a hash that is not 20 bytes of base64';
  return { kind: 'hashed', text, salt };
}

// ---------------------------------------------------------------------------------------------
// Parsing

const MARKERS: Readonly<Record<string, KnownHostsMarker>> = {
  '@cert-authority': 'cert-authority',
  '@revoked': 'revoked',
};

/** Splits off the next blank-separated field (spaces and tabs, as OpenSSH). */
function nextField(text: string): [field: string, rest: string] {
  const trimmed = text.replace(/^[ \t]+/, '');
  const end = trimmed.search(/[ \t]/);
  return end < 0 ? [trimmed, ''] : [trimmed.slice(0, end), trimmed.slice(end)];
}

type LineResult = KnownHostsEntry | string | undefined;

function parseLine(text: string, file: string, line: number): LineResult {
  let rest = text.replace(/^[ \t]+/, '');
  if (rest === '' || rest.startsWith('#')) return undefined;

  let marker: KnownHostsMarker | undefined;
  while (rest.startsWith('@')) {
    const [word, after] = nextField(rest);
    if (marker !== undefined) return 'more than one marker';
    if (after === '') return `marker "${word}" with nothing after it`;
    marker = MARKERS[word];
    if (marker === undefined)
      return `unknown marker "${word}" (expected @cert-authority or @revoked)`;
    rest = after.replace(/^[ \t]+/, '');
  }

  const [hostField, afterHosts] = nextField(rest);
  let names: KnownHostsNames;
  if (hostField.startsWith('|')) {
    const hashed = parseHashed(hostField);
    if (typeof hashed === 'string') return hashed;
    names = hashed;
  } else {
    names = { kind: 'patterns', text: hostField };
  }

  const [keyType, afterType] = nextField(afterHosts);
  if (keyType === '' || keyType.startsWith('#')) return 'no key type after the host names';
  if (/^\d+$/.test(keyType)) return 'SSH protocol 1 (RSA1) key, not supported';
  const [keyText, afterKey] = nextField(afterType);
  if (keyText === '' || keyText.startsWith('#')) return `no key after the key type "${keyType}"`;
  const blob = decodeBase64(keyText);
  if (blob === undefined) return 'the key is not valid base64';
  const problem = blobProblem(blob);
  if (problem !== undefined) return problem;
  const blobType = keyTypeOf(blob) ?? '';
  if (!keyTypeAgrees(keyType, blobType)) return `key type "${keyType}" but the key is ${blobType}`;

  const comment = afterKey.replace(/^[ \t]+/, '');
  return {
    file,
    line,
    ...(marker === undefined ? {} : { marker }),
    names,
    keyType,
    blobType,
    blob,
    ...(comment === '' ? {} : { comment }),
  };
}

/** Parses one known_hosts file's text. Unusable lines are reported in `problems` and skipped. */
export function parseKnownHosts(text: string, file: string): ParsedKnownHosts {
  const entries: KnownHostsEntry[] = [];
  const problems: KnownHostsProblem[] = [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((raw, i) => {
    const lineText = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const result = parseLine(lineText, file, i + 1);
    if (typeof result === 'string')
      problems.push({ file, line: i + 1, reason: result, text: lineText });
    else if (result !== undefined) entries.push(result);
  });
  return { entries, problems };
}

/** The problems as warnings for the report (`known-hosts/invalid-line`). */
export function knownHostsDiagnostics(problems: readonly KnownHostsProblem[]): Diagnostic[] {
  return problems.map((p) => ({
    severity: 'warning',
    code: 'known-hosts/invalid-line',
    message: `${p.reason}; the line is ignored`,
    file: p.file,
    pos: { line: p.line, col: 1 },
    lineText: p.text,
  }));
}

// ---------------------------------------------------------------------------------------------
// Checking

function refOf(entry: KnownHostsEntry): KnownKeyRef {
  return {
    keyType: entry.blobType,
    fingerprint: fingerprintSha256(entry.blob),
    key: entry.blob,
    file: entry.file,
    line: entry.line,
  };
}

/** The entries whose host field names `name` (any marker), in file order. */
export function entriesForName(
  entries: readonly KnownHostsEntry[],
  name: string,
): KnownHostsEntry[] {
  const index = indexOf(entries);
  const exact = index.exact.get(name) ?? [];
  const other = index.other.filter((i) => namesMatch((entries[i] as KnownHostsEntry).names, name));
  if (other.length === 0) return exact.map((i) => entries[i] as KnownHostsEntry);
  return [...new Set([...exact, ...other])]
    .sort((a, b) => a - b)
    .map((i) => entries[i] as KnownHostsEntry);
}

/**
 * Lines whose host field is a list of plain names (no `*`, `?` or `!`) are found by name in a
 * map; only hashed and wildcard lines are matched one by one. A plan over 10,000 hosts with a
 * 10,000-line known_hosts otherwise spent most of its CPU matching patterns (scale benchmark).
 */
interface EntryIndex {
  size: number;
  exact: Map<string, number[]>;
  other: number[];
}
const indexes = new WeakMap<readonly KnownHostsEntry[], EntryIndex>();

function indexOf(entries: readonly KnownHostsEntry[]): EntryIndex {
  const cached = indexes.get(entries);
  if (cached?.size === entries.length) return cached;
  const index: EntryIndex = { size: entries.length, exact: new Map(), other: [] };
  entries.forEach((e, i) => {
    const names = e.names.kind === 'patterns' ? e.names.text.toLowerCase().split(',') : [];
    const literal =
      names.length > 0 &&
      names.every((n) => n !== '' && !/[*?!]/.test(n) && Buffer.byteLength(n) < 1023);
    if (!literal) {
      index.other.push(i);
      return;
    }
    for (const n of new Set(names)) {
      const list = index.exact.get(n);
      if (list) list.push(i);
      else index.exact.set(n, [i]);
    }
  });
  indexes.set(entries, index);
  return index;
}

/**
 * Checks a presented host key against known_hosts entries, as `ssh` with
 * `StrictHostKeyChecking` does (`check_host_key`), in this order:
 * 1. `revoked`: the key is on a `@revoked` line (any host; see the module comment);
 * 2. `known`: a plain line for the name holds this very key (blobs compared, not type names);
 * 3. `changed`: plain lines for the name exist, none with this key (a key of another type
 *    counts too, as in OpenSSH);
 * 4. `known` with `withoutPort`: nothing recorded for `[host]:port`, but the bare `host` has
 *    this key (OpenSSH's fallback; not with a HostKeyAlias);
 * 5. `cert-authority`: only `@cert-authority` lines name the host;
 * 6. `unknown`.
 */
export function checkHostKey(
  entries: readonly KnownHostsEntry[],
  target: HostKeyTarget,
  blob: Uint8Array,
): HostKeyVerdict {
  const key = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const name = lookupName(target);
  const base: VerdictBase = {
    name,
    keyType: keyTypeOf(key) ?? 'unknown',
    fingerprint: fingerprintSha256(key),
  };

  const revoked = entries.find((e) => e.marker === 'revoked' && e.blob.equals(key));
  if (revoked !== undefined) return { ...base, kind: 'revoked', entry: refOf(revoked) };

  const forName = entriesForName(entries, name);
  const plain = forName.filter((e) => e.marker === undefined);
  const same = plain.find((e) => e.blob.equals(key));
  if (same !== undefined) return { ...base, kind: 'known', match: refOf(same), withoutPort: false };
  if (plain.length > 0) return { ...base, kind: 'changed', expected: plain.map(refOf) };

  if (target.hostKeyAlias === undefined && target.port !== 0 && target.port !== SSH_DEFAULT_PORT) {
    const bare = target.host.toLowerCase();
    const viaBare = entries.find(
      (e) => e.marker === undefined && e.blob.equals(key) && namesMatch(e.names, bare),
    );
    if (viaBare !== undefined)
      return { ...base, kind: 'known', match: refOf(viaBare), withoutPort: true };
  }

  const authorities = forName.filter((e) => e.marker === 'cert-authority');
  if (authorities.length > 0)
    return { ...base, kind: 'cert-authority', entries: authorities.map(refOf) };
  return { ...base, kind: 'unknown' };
}

function where(ref: KnownKeyRef): string {
  return `${ref.file}:${ref.line}`;
}

/** One-paragraph explanation of a verdict, for errors and logs. */
export function describeHostKeyVerdict(verdict: HostKeyVerdict): string {
  const presented = `${verdict.keyType} key ${verdict.fingerprint}`;
  switch (verdict.kind) {
    case 'known':
      return `host key for ${verdict.name} is known: ${presented} (${where(verdict.match)}${
        verdict.withoutPort ? ', recorded without the port' : ''
      })`;
    case 'revoked':
      return `host key for ${verdict.name} is REVOKED: ${presented} is marked @revoked at ${where(
        verdict.entry,
      )}; refusing to connect`;
    case 'changed':
      return [
        `host key for ${verdict.name} has CHANGED: it presented ${presented}, known_hosts expects:`,
        ...verdict.expected.map((e) => `  ${e.keyType} ${e.fingerprint} (${where(e)})`),
        'This could be a man-in-the-middle attack, or the host was reinstalled. Check the new key out of band, then remove the old line.',
      ].join('\n');
    case 'cert-authority':
      return [
        `host ${verdict.name} is known only through @cert-authority lines (${verdict.entries
          .map(where)
          .join(', ')}), and kpfleet's SSH library cannot verify host certificates.`,
        `It presented ${presented}; add that plain host key to known_hosts (ssh-keyscan) to connect.`,
      ].join('\n');
    case 'unknown':
      return `no host key is known for ${verdict.name}; it presented ${presented}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

export interface KnownHostsLineInput extends HostKeyTarget {
  blob: Uint8Array;
  /** Write the name hashed (`HashKnownHosts yes`), with a random salt unless `salt` is given. */
  hashed: boolean;
  salt?: Uint8Array;
}

/**
 * A known_hosts line as `ssh` writes it for a new host (`write_host_entry`): the lowercased name
 * (`host`, `[host]:port` or the HostKeyAlias), or its hash, then `type base64`; no newline.
 * @throws TypeError for a name that is not of host-name form (util/names.ts)
 */
export function formatKnownHostsLine(input: KnownHostsLineInput): string {
  const type = keyTypeOf(input.blob);
  if (type === undefined) throw new TypeError('not an SSH public-key blob');
  const name = lookupName(input);
  const problem = knownHostsNameProblem(name);
  if (problem !== undefined)
    throw new TypeError(
      `cannot record host name ${JSON.stringify(name)} in known_hosts: ${problem}`,
    );
  const field = input.hashed ? hashHostName(name, input.salt) : name;
  return `${field} ${type} ${Buffer.from(input.blob).toString('base64')}`;
}

// ---------------------------------------------------------------------------------------------
// Host-key algorithm order

/** ssh2's default `algorithms.serverHostKey` (lib/protocol/constants.js, with ed25519). */
export const SSH2_DEFAULT_SERVER_HOST_KEY: readonly string[] = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

/** The host-key algorithms that authenticate with a key of a given type. */
function algorithmsForKeyType(keyType: string): string[] {
  return keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [keyType];
}

export interface PreferredAlgorithmsOptions {
  hostKeyAlias?: string;
  /** The list to reorder; ssh2's default unless given. */
  algorithms?: readonly string[];
}

/**
 * The host-key algorithms to offer, known types first, as OpenSSH's `order_hostkeyalgs` does:
 * the algorithms whose key type is already recorded (plain, non-revoked lines) for the host
 * move to the front, both halves keeping the list's order. A host recorded only with an ecdsa
 * key is thus asked for ecdsa before ed25519 and does not look "changed".
 */
export function preferredHostKeyAlgorithms(
  entries: readonly KnownHostsEntry[],
  host: string,
  port: number,
  options: PreferredAlgorithmsOptions = {},
): string[] {
  const list = options.algorithms ?? SSH2_DEFAULT_SERVER_HOST_KEY;
  const target: HostKeyTarget =
    options.hostKeyAlias === undefined
      ? { host, port }
      : { host, port, hostKeyAlias: options.hostKeyAlias };
  const known = new Set(
    entriesForName(entries, lookupName(target))
      .filter((e) => e.marker === undefined)
      .flatMap((e) => algorithmsForKeyType(e.blobType)),
  );
  return [...list.filter((a) => known.has(a)), ...list.filter((a) => !known.has(a))];
}
