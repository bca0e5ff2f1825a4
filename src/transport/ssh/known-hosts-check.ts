/**
 * A presented host key checked against known_hosts entries as `ssh` does (`check_host_key`),
 * the verdict told in words, and the host-key algorithms to offer, known types first
 * (`order_hostkeyalgs`). Entries with plain names are found through an index, the rest matched
 * one by one. Pure.
 *
 * Deliberate differences from OpenSSH, both stricter:
 * - a key on any `@revoked` line is refused for every host (OpenSSH only consults `@revoked`
 *   lines whose host patterns match the host);
 * - `@cert-authority` lines cannot be honoured (ssh2 does not negotiate host certificates), so a
 *   host known only through a CA gets the `cert-authority` verdict, which kpfleet refuses.
 */
import { fingerprintSha256, keyTypeOf } from './known-hosts-keys.ts';
import { SSH_DEFAULT_PORT, lookupName, namesMatch } from './known-hosts-names.ts';
import type {
  HostKeyTarget,
  HostKeyVerdict,
  KnownHostsEntry,
  KnownKeyRef,
  VerdictBase,
} from './known-hosts-types.ts';

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
  /** The `@revoked` lines: checked for every host, so kept apart (a full scan per host cost
   *  about 60 µs with 10,000 lines). */
  revoked: KnownHostsEntry[];
}
const indexes = new WeakMap<readonly KnownHostsEntry[], EntryIndex>();

function indexOf(entries: readonly KnownHostsEntry[]): EntryIndex {
  const cached = indexes.get(entries);
  if (cached?.size === entries.length) return cached;
  const index: EntryIndex = { size: entries.length, exact: new Map(), other: [], revoked: [] };
  entries.forEach((e, i) => {
    if (e.marker === 'revoked') index.revoked.push(e);
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

  const revoked = indexOf(entries).revoked.find((e) => e.blob.equals(key));
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
