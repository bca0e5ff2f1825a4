/**
 * Shards: `--shard I/N` cuts the selected hosts into N disjoint parts, so that the engines users
 * already run (a CI matrix, a Kubernetes Indexed Job, AWX) can spread one fleet over N jobs.
 *
 * A host's shard depends on its inventory name and N only, never on the other hosts, the order of
 * the inventory, the machine or the Node version:
 * - the name is hashed (sha256 of a fixed prefix and the name, its first 8 bytes as an unsigned
 *   64-bit number);
 * - that number picks a shard by jump consistent hashing (Lamping and Veach, "A Fast, Minimal
 *   Memory, Consistent Hash Algorithm", 2014): about 1/N of the hosts in each shard, and going
 *   from N to N+1 shards moves only about 1/(N+1) of the hosts, all into the new shard.
 * So adding or removing a host moves no other host, and every host is in exactly one shard.
 * docs/sharding.md explains when to shard and how.
 */
import { createHash } from 'node:crypto';
import { UsageError } from '../errors.ts';
import { showValue } from '../util/show.ts';

/** At most this many shards (a Kubernetes Indexed Job allows up to 100,000 completions). */
export const SHARDS_MAX = 100_000;

/** One shard of N: `index` from 1 to `count`. */
export interface Shard {
  index: number;
  count: number;
}

/** The prefix hashed before a host's name: the assignment's own namespace. */
const HASH_PREFIX = 'kpfleet-shard-v1\0';

const MASK64 = (1n << 64n) - 1n;
const LCG = 2862933555777941757n;
const TWO31 = 2 ** 31;

/** The 64-bit key of a host name. */
function keyOf(host: string): bigint {
  return createHash('sha256').update(HASH_PREFIX).update(host, 'utf8').digest().readBigUInt64BE(0);
}

/** Jump consistent hash: the bucket (0 … buckets-1) of a 64-bit key. */
function jump(key: bigint, buckets: number): number {
  let b = -1;
  let j = 0;
  let k = key;
  while (j < buckets) {
    b = j;
    k = (k * LCG + 1n) & MASK64;
    j = Math.floor((b + 1) * (TWO31 / (Number(k >> 33n) + 1)));
  }
  return b;
}

/** The shard (1 … count) a host falls in. */
export function shardOf(host: string, count: number): number {
  return jump(keyOf(host), count) + 1;
}

/** Whether a host falls in this shard. */
export function inShard(host: string, shard: Shard): boolean {
  return shard.count === 1 || shardOf(host, shard.count) === shard.index;
}

/** `2/8`. */
export function shardText(s: Shard): string {
  return `${String(s.index)}/${String(s.count)}`;
}

/** The environment variable a Kubernetes Indexed Job sets in each pod: its 0-based index. */
export const K8S_INDEX_VAR = 'JOB_COMPLETION_INDEX';

/**
 * `--shard` (or `KPFLEET_SHARD`) as written: `I/N` with 1 ≤ I ≤ N (1-based, as vitest, jest and
 * Playwright count shards); or `JOB_COMPLETION_INDEX/N`, the 0-based index Kubernetes sets in each
 * pod of an Indexed Job, read from the environment (shard index + 1). Anything else is a usage
 * error (exit 64) that names where the value came from.
 */
export function parseShard(
  value: string,
  from: string,
  env: Readonly<Record<string, string | undefined>>,
): Shard {
  const m = /^([0-9]+|[A-Z_][A-Z0-9_]*)\/([0-9]+)$/.exec(value.trim());
  const hint = `write I/N with 1 ≤ I ≤ N ≤ ${String(SHARDS_MAX)} (e.g. 2/8), or ${K8S_INDEX_VAR}/N in a Kubernetes Indexed Job`;
  if (!m) throw new UsageError(`${from} ${showValue(value)} is not a shard`, { hint });
  const count = Number(m[2]);
  if (!Number.isSafeInteger(count) || count < 1 || count > SHARDS_MAX) {
    throw new UsageError(
      `${from} ${showValue(value)}: the number of shards must be from 1 to ${String(SHARDS_MAX)}`,
      { hint },
    );
  }
  const written = m[1] ?? '';
  let index: number;
  if (/^[0-9]+$/.test(written)) {
    index = Number(written);
  } else {
    if (written !== K8S_INDEX_VAR) {
      throw new UsageError(
        `${from} ${showValue(value)}: ${written} is not a shard index (only ${K8S_INDEX_VAR} is read from the environment)`,
        { hint },
      );
    }
    const raw = env[K8S_INDEX_VAR];
    if (raw === undefined || !/^[0-9]+$/.test(raw)) {
      throw new UsageError(
        `${from} ${showValue(value)}: ${K8S_INDEX_VAR} is ${raw === undefined ? 'not set' : `${showValue(raw)}, not a whole number`}`,
        {
          hint: `${K8S_INDEX_VAR} is set by Kubernetes in the pods of a Job with completionMode: Indexed`,
        },
      );
    }
    index = Number(raw) + 1;
  }
  if (!Number.isSafeInteger(index) || index < 1 || index > count) {
    throw new UsageError(
      `${from} ${showValue(value)}: shard ${String(index)} is not one of 1 to ${String(count)}`,
      { hint },
    );
  }
  return { index, count };
}

/**
 * The shard a command runs, if any: `--shard` first, else `KPFLEET_SHARD` (empty: none).
 */
export function shardFromCli(
  option: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): Shard | undefined {
  if (option !== undefined) return parseShard(option, '--shard', env);
  const fromEnv = env.KPFLEET_SHARD;
  if (fromEnv === undefined || fromEnv === '') return undefined;
  return parseShard(fromEnv, 'KPFLEET_SHARD', env);
}
