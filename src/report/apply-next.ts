/**
 * The end of an apply in words a person acts on: each host that did not do what was asked
 * (failed, refused, stale, skipped, interrupted, left untouched) named with its reason, hosts
 * with the same outcome and reason on one line (`web01–web40 and 3 more`); then the command to
 * run next and where the report and the audit log are. Every renderer prints these lines under
 * its summary (`apply-text.ts` summaryLines). Pure.
 *
 * What each outcome calls for is the outcome table's (`apply/outcomes.ts`, `ends`); the reason is
 * the host's own message. Host names and messages come made safe to print (`displayEvent`); the
 * commands and paths the CLI passes are made safe here.
 */
import type { HostResult } from '../apply/events.ts';
import { HOST_OUTCOMES, OUTCOMES } from '../apply/outcomes.ts';
import type { HostOutcome } from '../apply/outcomes.ts';
import { hostList } from './host-names.ts';
import { oneLine } from './safe-text.ts';
import type { Style } from './style.ts';

/** At most this many names (or ranges) per line, then `and N more`. */
const NAMES_MAX = 8;
/** At most this many distinct reasons per outcome; the rest are counted. */
const REASONS_MAX = 5;

/** What the CLI knows of how it was run: the commands to suggest and where its files are. */
export interface NextSteps {
  /** The command that applies again with the same project and host options. */
  apply: string;
  /**
   * With a saved plan: the command that plans again into the same file, and the one that
   * applies that file (`apply` is then unused: a saved plan cannot be applied twice).
   */
  replan?: { plan: string; apply: string };
  /** `kpfleet unlock` with the same options, for a host whose lock another run holds. */
  unlock?: string;
  /** Where `--report` was written. */
  report?: string;
  /** Where the audit log is, when this run appended to it. */
  audit?: string;
}

/** Outcomes named at the end of a run: every one that is not "did what was asked". */
const NAMED: readonly HostOutcome[] = HOST_OUTCOMES.filter((o) => OUTCOMES[o].ends !== 'done');

/** `  stale: web03 — its facts changed …`: the hosts that need something, by outcome and reason. */
export function hostsToName(results: readonly HostResult[], style: Style): string[] {
  const out: string[] = [];
  for (const o of NAMED) {
    const byReason = new Map<string, string[]>();
    for (const r of results) {
      if (r.outcome !== o) continue;
      const code = r.error !== undefined ? ` [${r.error.code}]` : '';
      const why = `${oneLine(r.message)}${code}`;
      const names = byReason.get(why) ?? [];
      names.push(r.host);
      byReason.set(why, names);
    }
    if (byReason.size === 0) continue;
    const word = `${OUTCOMES[o].word}:`;
    const colour = OUTCOMES[o].ends === 'failed' ? style.red : style.yellow;
    let shown = 0;
    let rest = 0;
    for (const [why, names] of byReason) {
      if (shown === REASONS_MAX) {
        rest += names.length;
        continue;
      }
      shown++;
      out.push(`  ${colour(word)} ${hostList(names, NAMES_MAX)}${why ? ` — ${why}` : ''}`);
    }
    if (rest > 0)
      out.push(
        `  ${colour(word)} and ${String(rest)} more for other reasons (each host's is in the report)`,
      );
  }
  return out;
}

/** What to run next and where the records are; nothing to run when every host is done. */
export function nextLines(
  results: readonly HostResult[],
  halted: boolean,
  interrupted: boolean,
  check: boolean,
  next: NextSteps,
  style: Style,
): string[] {
  const out: string[] = [];
  const count = (o: HostOutcome) => results.filter((r) => r.outcome === o).length;
  const left = results.some((r) => r.outcome !== 'blocked' && OUTCOMES[r.outcome].ends !== 'done');
  const safe = (s: string) => style.cyan(oneLine(s));
  if (check) {
    if (count('stale') > 0 && next.replan !== undefined)
      out.push(`Next: ${safe(next.replan.plan)}: the saved plan is stale on some hosts`);
    else if (count('would-change') > 0) out.push(`Next: ${safe(next.apply)} to make these changes`);
  } else if (left || halted || interrupted) {
    const first: string[] = [];
    if (count('rollback-failed') > 0)
      first.push('look at the hosts whose rollback failed (their state is in the report)');
    if (count('locked') > 0)
      first.push(
        `wait for the run that holds the locked hosts${next.unlock !== undefined ? ` (${safe(next.unlock)} if it is gone)` : ''}`,
      );
    const run =
      next.replan !== undefined
        ? `${safe(next.replan.plan)}, review it, then ${safe(next.replan.apply)}: a saved plan is made once, for the facts it read`
        : `${safe(next.apply)}: it reads the facts again and converges the rest`;
    out.push(`Next: ${first.length > 0 ? `${first.join('; ')}; then ` : ''}${run}`);
  }
  if (count('blocked') > 0)
    out.push('Blocked hosts are not changed until what the plan says about them is fixed.');
  if (next.report !== undefined) out.push(`Report: ${oneLine(next.report)}`);
  if (next.audit !== undefined) out.push(`Audit log: ${oneLine(next.audit)}`);
  return out;
}
