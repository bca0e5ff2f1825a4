/**
 * `kpfleet plan` as terminal text (Terraform-like): a block per host with something to say (its
 * changes, coloured by sign, and findings), the converged hosts on one line, then the summary.
 */
import type { Finding, FindingLevel, Plan } from '../plan/model.ts';
import {
  actionCounts,
  describeChange,
  displayPlan,
  findingCounts,
  headline,
  labelWidth,
  needsBlock,
  shortFingerprint,
} from './plan.ts';
import type { ChangeLine } from './plan.ts';
import { oneLine } from './safe-text.ts';
import type { Style } from './style.ts';
import { plural } from '../util/text.ts';

/** At most this many converged host names are listed; above it, only their count. */
const CONVERGED_NAMES_MAX = 10;

const SEVERITY_MARK: Record<FindingLevel, string> = { error: '✖', warning: '!', info: '·' };

export function renderPlanText(input: Plan, style: Style): string {
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

  for (const h of plan.hosts.filter(needsBlock)) {
    const head = [style.bold(h.host)];
    if (h.kernel !== undefined) head.push(h.kernel);
    if (h.factsFingerprint !== undefined)
      head.push(style.dim(shortFingerprint(h.factsFingerprint)));
    // Why a host that is not changed is not: its status, and the planner's reason.
    const why = h.reason ? `${h.status}: ${oneLine(h.reason)}` : h.status;
    if (h.status === 'converged') head.push(style.green(why));
    else if (h.status !== 'changes') head.push(style.red(why));
    out.push(head.join('  '));

    if (h.error !== undefined) {
      const step = h.error.step !== undefined ? ` (step ${h.error.step})` : '';
      out.push(`  ${style.red(`✖ ${h.error.code}: ${oneLine(h.error.message)}${step}`)}`);
      if (h.error.hint !== undefined) out.push(`  ${style.cyan('hint')}: ${oneLine(h.error.hint)}`);
    }
    if (h.status === 'changes') {
      const lines = h.changes.map(describeChange);
      const width = labelWidth(lines);
      for (const l of lines)
        out.push(`  ${colour(l)(l.label.padEnd(width))}  ${style.dim(oneLine(l.reason))}`);
    } else if (h.changes.length > 0) {
      out.push(
        `  ${style.dim(`${plural(h.changes.length, 'change')} held back while ${h.status}`)}`,
      );
    }
    for (const f of h.findings) out.push(`  ${finding(f)}`);
    out.push('');
  }

  const converged = plan.hosts.filter((h) => h.status === 'converged');
  if (converged.length > 0) {
    const names =
      converged.length <= CONVERGED_NAMES_MAX ? `: ${converged.map((h) => h.host).join(', ')}` : '';
    out.push(
      `${style.green('✓')} ${plural(converged.length, 'host')} converged${style.dim(names)}`,
      '',
    );
  }

  out.push(`${style.bold('Plan:')} ${headline(plan)}`);
  const actions = actionCounts(plan);
  out.push(actions ? `Changes: ${actions}` : 'No changes.');
  const findings = findingCounts(plan);
  if (findings) out.push(`Findings: ${style.yellow(findings)}`);
  if (plan.summary.cves.length > 0) out.push(`Closes: ${plan.summary.cves.join(', ')}`);
  return out.join('\n');
}
