/**
 * Waves and the failure budget of `apply` (`rollout.waves`, `rollout.max_failures`). Pure: no I/O,
 * no clock, no transport.
 *
 * What `validate` already guarantees (config/rules.ts `checkWaves`): at least one wave; a count is
 * an integer ≥ 1; a percentage is more than 0% and at most 100%; counts grow among counts and
 * percentages among percentages; `max_failures` is a count ≥ 0 or 0% to 100%. It does not compare
 * a count with a percentage (`[10, 5%]`), nor the last wave with the fleet (a last wave below
 * 100% is a warning). Those cases are handled here, not rejected.
 */
import type { Amount } from '../config-model.ts';
import type { HostPlan } from '../plan/model.ts';

/**
 * Splits the hosts to change into waves.
 *
 * `waves` are CUMULATIVE sizes: each is how many hosts have been worked on once that wave is done,
 * as a count or as a percentage of `hosts.length`. On 100 hosts `[1, 10%, 100%]` is waves of 1, 9
 * and 90 hosts.
 *
 * - A percentage rounds up, so a small fleet still gets a canary-sized wave (10% of 5 hosts is 1
 *   host), computed exactly from the decimal the user wrote (33% of 10 is 4; 8.8% of 375 is 33).
 * - A count larger than the number of hosts is clamped to it.
 * - A cumulative size that does not grow past the one before it gives no wave: no wave is empty
 *   (1 host with `[1, 10%, 100%]` is one wave).
 * - When the last size is below all the hosts (a last wave under 100%, which validate warns
 *   about, or a count), the remaining hosts form one final wave.
 *
 * Hosts keep their order; every host is in exactly one wave. No hosts, no waves.
 *
 * The caller passes only the hosts that HAVE changes: converged hosts (nothing to do) and hosts
 * the plan blocked are never put in waves, so they neither take a canary's place nor count
 * toward a percentage.
 */
export function splitWaves<T>(hosts: readonly T[], waves: readonly Amount[]): T[][] {
  const total = hosts.length;
  const out: T[][] = [];
  let done = 0;
  for (const wave of waves) {
    const size = Math.min(total, cumulativeSize(wave, total));
    if (size <= done) continue;
    out.push(hosts.slice(done, size));
    done = size;
  }
  if (done < total) out.push(hosts.slice(done));
  return out;
}

/** A plan's waves: its hosts with changes, in plan order, split by `rollout.waves`. */
function planWaves(hosts: readonly HostPlan[], waves: readonly Amount[]): HostPlan[][] {
  return splitWaves(
    hosts.filter((h) => h.status === 'changes'),
    waves,
  );
}

/**
 * What the gate after wave `upTo` expects reported: each host of the plan with nothing to do,
 * blocked or unreachable (wave 0, reported by the wave 1 runs) and each host of waves 1 … upTo,
 * with its wave; the waves split as `selectWave` splits them.
 */
export function expectedWaves(
  hosts: readonly HostPlan[],
  waves: readonly Amount[],
  upTo: number,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const h of hosts) if (h.status !== 'changes') out.set(h.host, 0);
  planWaves(hosts, waves).forEach((wave, i) => {
    if (i < upTo) for (const h of wave) out.set(h.host, i + 1);
  });
  return out;
}

/** The hosts `apply --wave K` runs, and the whole plan's number of waves. */
export interface WaveSelection {
  /** In plan order: wave K's hosts with changes that `keep` keeps; with K = 1 also the kept hosts
   * with nothing to do, blocked or unreachable (reported as wave 0, once over all the waves). */
  hosts: HostPlan[];
  /** How many waves the whole plan has (K beyond it: nothing to do). */
  waves: number;
}

/**
 * `apply --wave K`: the waves are split over the WHOLE plan exactly as a single apply splits them
 * (its hosts with changes, in plan order), before `keep` (`--limit`, `--shard`) narrows it, so
 * every shard agrees on which host is in which wave. `wave` is 1-based.
 */
export function selectWave(
  hosts: readonly HostPlan[],
  waves: readonly Amount[],
  wave: number,
  keep: (host: string) => boolean,
): WaveSelection {
  const split = planWaves(hosts, waves);
  const chosen = new Set(split[wave - 1] ?? []);
  const out = hosts.filter(
    (h) => keep(h.host) && (chosen.has(h) || (wave === 1 && h.status !== 'changes')),
  );
  return { hosts: out, waves: split.length };
}

/**
 * How many failures `max_failures` allows once `attempted` hosts have been attempted: a count as
 * it is; a percentage of the hosts attempted so far, rounded down (0% allows none; 10% allows none
 * of 9 attempted hosts and 1 of 10).
 */
export function failureBudget(maxFailures: Amount, attempted: number): number {
  if (maxFailures.kind === 'count') return Math.max(0, Math.floor(maxFailures.value));
  return percentOf(Math.max(0, attempted), maxFailures.value, 'floor');
}

/**
 * Whether the rollout halts: once strictly more hosts have failed than the budget allows
 * (`failureBudget`). `max_failures: 0` halts on the first failure; `max_failures: 1` tolerates
 * one and halts on the second.
 *
 * Halting means that no further wave starts. The wave in flight is not interrupted: it finishes
 * and its hosts are reported, so no host is left between steps because another host failed.
 */
export function shouldHalt(failed: number, attempted: number, maxFailures: Amount): boolean {
  return failed > failureBudget(maxFailures, attempted);
}

/** E.g. `3 waves: 1, 9, 90 hosts`; `1 wave: 1 host`; `no waves`. */
export function describeWaves(waves: readonly (readonly unknown[])[]): string {
  if (waves.length === 0) return 'no waves';
  const sizes = waves.map((w) => w.length);
  const onlyOneHost = sizes.length === 1 && sizes[0] === 1;
  const count = `${waves.length} ${waves.length === 1 ? 'wave' : 'waves'}`;
  return `${count}: ${sizes.join(', ')} ${onlyOneHost ? 'host' : 'hosts'}`;
}

/** The cumulative size a wave asks for, before clamping to the host count; never negative. */
function cumulativeSize(wave: Amount, total: number): number {
  if (wave.kind === 'count') {
    return Number.isFinite(wave.value) ? Math.max(0, Math.floor(wave.value)) : total;
  }
  return percentOf(total, wave.value, 'ceil');
}

/**
 * `percent`% of `n` hosts, rounded up or down, without floating-point error: 8.8% of 375 is 33,
 * where `375 * 8.8 / 100` is 33.00000000000001 (which would round up to 34). The percentage is
 * taken as the shortest decimal that reads back as the same number (what the user wrote, e.g.
 * `8.8`), and the arithmetic is done on integers.
 */
function percentOf(n: number, percent: number, round: 'ceil' | 'floor'): number {
  if (!(percent > 0) || !(n > 0)) return 0;
  const m = /^(\d+)(?:\.(\d+))?$/.exec(String(percent));
  if (!m || !Number.isSafeInteger(n)) {
    // Exponent notation (below 1e-6%, or 1e21% and more) or a host count no fleet has: floating
    // point is exact enough there.
    return round === 'ceil' ? Math.ceil((n * percent) / 100) : Math.floor((n * percent) / 100);
  }
  const whole = m[1] ?? '0';
  const fraction = m[2] ?? '';
  const numerator = BigInt(n) * BigInt(whole + fraction);
  const denominator = 100n * 10n ** BigInt(fraction.length);
  const quotient = numerator / denominator;
  const up = round === 'ceil' && numerator % denominator !== 0n;
  return Number(up ? quotient + 1n : quotient);
}
