/**
 * `kpfleet plan` as terminal text (Terraform-like): a block per host with something to say (its
 * changes, coloured by sign, and findings), the converged hosts on one line, the uncovered ones
 * on the next, then the summary. Hosts whose blocks would say the same thing (same status,
 * kernel, changes and findings) share one block headed by their names (`web01–web05 (5 hosts)`),
 * so that a fleet of a thousand hosts reads in a screen; `detailed` prints a block per host.
 */
import { uncoveredHosts } from '../plan/coverage.ts';
import type { Finding, FindingLevel, HostPlan, Plan } from '../plan/model.ts';
import { hostList } from './host-names.ts';
import {
  HOST_NAMES_MAX,
  actionCounts,
  convergedHosts,
  describePlannedChange,
  displayPlan,
  findingCounts,
  headline,
  hostManager,
  labelWidth,
  managerCounts,
  needsBlock,
  onHostsWords,
  shortFingerprint,
  statusWord,
  uncoveredWords,
} from './plan.ts';
import type { ChangeLine } from './plan.ts';
import { oneLine } from './safe-text.ts';
import type { Style } from './style.ts';
import { plural } from '../util/text.ts';

/** At most this many converged host names are listed; above it, only their count. */
const CONVERGED_NAMES_MAX = 10;

const SEVERITY_MARK: Record<FindingLevel, string> = { error: '✖', warning: '!', info: '·' };

export interface PlanTextOptions {
  /** A block per host, as before hosts were grouped (`--detailed`). */
  detailed?: boolean;
}

/** A host's block without its name: what decides whether two hosts share one. */
interface Block {
  hosts: HostPlan[];
  /** The status and the planner's reason, for a host that is not changed. */
  why?: string;
  body: string[];
}

export function renderPlanText(input: Plan, style: Style, opts: PlanTextOptions = {}): string {
  const plan = displayPlan(input);
  const out: string[] = [];
  const colour = (l: ChangeLine) =>
    l.sign === '+' ? style.green : l.sign === '-' ? style.red : style.yellow;
  const finding = (f: Finding) => {
    const text = `${SEVERITY_MARK[f.severity]} ${f.severity}: ${oneLine(f.message)}`;
    return f.severity === 'error'
      ? style.red(text)
      : f.severity === 'warning'
        ? style.yellow(text)
        : style.dim(text);
  };
  const body = (h: HostPlan): string[] => {
    const lines: string[] = [];
    const manager = hostManager(h);
    if (manager !== undefined) lines.push(`  ${style.dim(`manager ${oneLine(manager)}`)}`);
    if (h.error !== undefined) {
      const step = h.error.step !== undefined ? ` (step ${h.error.step})` : '';
      lines.push(`  ${style.red(`✖ ${h.error.code}: ${oneLine(h.error.message)}${step}`)}`);
      if (h.error.hint !== undefined)
        lines.push(`  ${style.cyan('hint')}: ${oneLine(h.error.hint)}`);
    }
    if (h.status === 'changes') {
      const changes = h.changes.map(describePlannedChange);
      const width = labelWidth(changes);
      for (const l of changes)
        lines.push(`  ${colour(l)(l.label.padEnd(width))}  ${style.dim(oneLine(l.reason))}`);
    } else if (h.changes.length > 0) {
      lines.push(
        `  ${style.dim(`${plural(h.changes.length, 'change')} held back while ${h.status}`)}`,
      );
    }
    if (h.status === 'changes' && h.reopens !== undefined && h.reopens.length > 0)
      lines.push(
        `  ${style.red(`⚠ reopens ${h.reopens.join(', ')}: no patch left on the host fixes it`)}`,
      );
    for (const f of h.findings) lines.push(`  ${finding(f)}`);
    return lines;
  };

  const blocks: Block[] = [];
  const byKey = new Map<string, Block>();
  for (const h of plan.hosts.filter(needsBlock)) {
    // Why a host that is not changed is not: its status, and the planner's reason.
    const why =
      h.status === 'changes'
        ? undefined
        : h.reason
          ? `${statusWord(h)}: ${oneLine(h.reason)}`
          : statusWord(h);
    const block: Block = { hosts: [h], ...(why !== undefined ? { why } : {}), body: body(h) };
    // the rendered text, not the objects: hosts that would print the same lines share a block
    const key = JSON.stringify([h.status, h.kernel ?? null, why ?? null, block.body]);
    const same = opts.detailed === true ? undefined : byKey.get(key);
    if (same !== undefined) same.hosts.push(h);
    else {
      byKey.set(key, block);
      blocks.push(block);
    }
  }

  for (const { hosts, why, body: lines } of blocks) {
    const [first] = hosts;
    if (first === undefined) continue;
    const names = hosts.map((h) => h.host);
    const head = [
      hosts.length === 1
        ? style.bold(first.host)
        : `${style.bold(hostList(names, HOST_NAMES_MAX))} (${plural(hosts.length, 'host')})`,
    ];
    if (first.kernel !== undefined) head.push(first.kernel);
    const fingerprints = new Set(hosts.map((h) => h.factsFingerprint));
    if (first.factsFingerprint !== undefined && fingerprints.size === 1)
      head.push(style.dim(`facts ${shortFingerprint(first.factsFingerprint)}`));
    if (why !== undefined) {
      const word = statusWord(first);
      const tone =
        word === 'converged' ? style.green : word === 'uncovered' ? style.yellow : style.red;
      head.push(tone(why));
    }
    out.push(head.join('  '));
    for (const l of lines) out.push(l); // a host can have 100,000 lines: no spread
    out.push('');
  }

  const converged = convergedHosts(plan);
  if (converged.length > 0) {
    const names =
      converged.length <= CONVERGED_NAMES_MAX ? `: ${converged.map((h) => h.host).join(', ')}` : '';
    out.push(
      `${style.green('✓')} ${plural(converged.length, 'host')} converged${style.dim(names)}`,
    );
  }
  const uncovered = uncoveredWords(uncoveredHosts(plan.hosts));
  if (uncovered) out.push(style.yellow(`⚠ ${uncovered}`));
  if (converged.length > 0 || uncovered) out.push('');

  out.push(`${style.bold('Plan:')} ${headline(plan)}`);
  const actions = actionCounts(plan);
  out.push(actions ? `Changes: ${actions}` : 'No changes.');
  const findings = findingCounts(plan);
  if (findings) out.push(`Findings: ${style.yellow(findings)}`);
  const managers = managerCounts(plan);
  if (managers) out.push(`Managers: ${managers}`);
  if (plan.summary.cves.length > 0) out.push(`Closes: ${plan.summary.cves.join(', ')}`);
  const { removes, reopens } = plan.summary;
  if (removes !== undefined && removes.length > 0) out.push(`Removes: ${onHostsWords(removes)}`);
  if (reopens !== undefined && reopens.length > 0)
    out.push(style.red(`Reopens: ${onHostsWords(reopens)}`));
  return out.join('\n');
}
