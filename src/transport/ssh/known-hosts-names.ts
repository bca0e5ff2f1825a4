/**
 * How known_hosts names a host, as OpenSSH does: `host` or `[host]:port` or the HostKeyAlias,
 * lowercased; a line's host patterns (`*`, `?`, `!negation`) and hashed names (`|1|salt|hmac`)
 * matched against it. Pure.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { compileWildcard } from '../../util/glob.ts';
import type { HostKeyTarget, KnownHostsNames } from './known-hosts-types.ts';

export const SSH_DEFAULT_PORT = 22;

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

/** The start of a hashed host field. */
export const HASH_MAGIC = '|1|';

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
