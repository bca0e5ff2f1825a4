/**
 * `kpfleet plan` as markdown for a GitHub pull-request comment: a table per group, the CVEs
 * closed, a `<details>` block per host, every string from a host or the project as code; never
 * longer than GitHub allows.
 */
import { isUncovered, uncoveredHosts } from '../plan/coverage.ts';
import type { HostPlan, Plan } from '../plan/model.ts';
import { fence, htmlCode, mdCode, mdCodeCell } from './markdown.ts';
import {
  actionCounts,
  describePlannedChange,
  displayPlan,
  findingCounts,
  headline,
  labelWidth,
  managerCounts,
  needsBlock,
  onHostsWords,
  shortFingerprint,
  statusWord,
  uncoveredWords,
} from './plan.ts';
import { oneLine } from './safe-text.ts';
import { plural, trimEndChars } from '../util/text.ts';

/** GitHub refuses a comment body longer than this (characters). */
export const GITHUB_COMMENT_LIMIT = 65_536;

const UNGROUPED = '(ungrouped)';

interface GroupRow {
  hosts: number;
  changes: number;
  converged: number;
  blockedOrError: number;
  unreachable: number;
  /** No declared patch fits their kernel, whatever their status; never counted as converged. */
  uncovered: number;
}

const emptyRow = (): GroupRow => ({
  hosts: 0,
  changes: 0,
  converged: 0,
  blockedOrError: 0,
  unreachable: 0,
  uncovered: 0,
});

function groupTable(plan: Plan): string[] {
  const rows = new Map<string, GroupRow>();
  const total = emptyRow();
  const count = (r: GroupRow, h: HostPlan) => {
    r.hosts++;
    if (isUncovered(h)) r.uncovered++;
    if (h.status === 'changes') r.changes++;
    else if (h.status === 'converged') r.converged += isUncovered(h) ? 0 : 1;
    else if (h.status === 'unreachable') r.unreachable++;
    else r.blockedOrError++;
  };
  for (const h of plan.hosts) {
    count(total, h);
    for (const g of h.groups.length > 0 ? new Set(h.groups) : [UNGROUPED]) {
      let row = rows.get(g);
      if (row === undefined) {
        row = emptyRow();
        rows.set(g, row);
      }
      count(row, h);
    }
  }
  // By name, `(ungrouped)` last; code-unit order, so that no locale changes it.
  const order = ([a]: [string, GroupRow], [b]: [string, GroupRow]) =>
    a === UNGROUPED ? 1 : b === UNGROUPED ? -1 : a < b ? -1 : a > b ? 1 : 0;
  const cells = (name: string, r: GroupRow) =>
    `| ${name} | ${String(r.hosts)} | ${String(r.changes)} | ${String(r.converged)} | ${String(r.blockedOrError)} | ${String(r.unreachable)} | ${String(r.uncovered)} |`;
  return [
    '| group | hosts | to change | converged | blocked/error | unreachable | uncovered (exposed) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...[...rows.entries()]
      .sort(order)
      .map(([g, r]) => cells(g === UNGROUPED ? g : mdCodeCell(g), r)),
    cells('**all hosts**', total),
  ];
}

function summaryText(h: HostPlan): string {
  const parts = [h.status === 'changes' ? plural(h.changes.length, 'change') : statusWord(h)];
  const errors = h.findings.filter((f) => f.severity === 'error').length;
  const warnings = h.findings.filter((f) => f.severity === 'warning').length;
  if (errors > 0) parts.push(plural(errors, 'error'));
  if (warnings > 0) parts.push(plural(warnings, 'warning'));
  return `${htmlCode(h.host)} — ${parts.join(', ')}`;
}

/**
 * A host's block. Every string from the host or the project is code: a code span, `<code>` in the
 * `<summary>` (raw HTML, where markdown is not parsed), or a line of the fenced diff.
 */
function hostDetails(h: HostPlan): string {
  const out = [`<details><summary>${summaryText(h)}</summary>`, ''];
  const facts = [
    ...(h.kernel !== undefined ? [`kernel ${mdCode(h.kernel)}`] : []),
    ...(h.factsFingerprint !== undefined
      ? [`facts ${mdCode(shortFingerprint(h.factsFingerprint))}`]
      : []),
    ...(h.groups.length > 0 ? [`groups ${h.groups.map(mdCode).join(', ')}`] : []),
    ...(h.manager !== undefined
      ? [`manager ${mdCode(h.manager)} (${mdCode(oneLine(h.managerReason ?? '?'))})`]
      : []),
  ];
  if (facts.length > 0) out.push(facts.join(' · '), '');
  if (h.status !== 'changes') {
    out.push(`**${statusWord(h)}**${h.reason ? `: ${mdCode(oneLine(h.reason))}` : ''}`, '');
  }
  if (h.error !== undefined) {
    const step = h.error.step !== undefined ? ` (step ${mdCode(h.error.step)})` : '';
    out.push(`${mdCode(h.error.code)}: ${mdCode(oneLine(h.error.message))}${step}`, '');
    if (h.error.hint !== undefined) out.push(`hint: ${mdCode(oneLine(h.error.hint))}`, '');
  }
  if (h.status === 'changes' && h.changes.length > 0) {
    const lines = h.changes.map(describePlannedChange);
    const width = labelWidth(lines);
    const body = lines.map((l) => `${l.label.padEnd(width)}  # ${oneLine(l.reason)}`).join('\n');
    const f = fence(body);
    out.push(`${f}diff`, body, f, '');
  } else if (h.changes.length > 0) {
    out.push(`${plural(h.changes.length, 'change')} held back while ${h.status}.`, '');
  }
  if (h.status === 'changes' && h.reopens !== undefined && h.reopens.length > 0)
    out.push(
      `**Reopens** ${h.reopens.map(mdCode).join(', ')}: no patch left on the host fixes it.`,
      '',
    );
  if (h.findings.length > 0) {
    for (const f of h.findings) {
      const severity = f.severity === 'info' ? 'info' : `**${f.severity}**`;
      out.push(`- ${severity} (${f.kind}): ${mdCode(oneLine(f.message))}`);
    }
    out.push('');
  }
  out.push('</details>', '', '');
  return out.join('\n');
}

function truncationNote(left: number): string {
  return (
    `_${plural(left, 'more host', 'more hosts')} left out to keep this comment under ` +
    `GitHub's ${GITHUB_COMMENT_LIMIT.toLocaleString('en-US')}-character limit; ` +
    `the full plan is in the JSON artefact._\n`
  );
}

/**
 * The plan as a GitHub pull-request comment: title, a table per group, the CVEs closed, then a
 * `<details>` block per host with something to say. Never longer than GITHUB_COMMENT_LIMIT: the
 * host blocks that do not fit are left out and counted. Ends with a newline.
 */
export function renderPlanMarkdown(input: Plan): string {
  const plan = displayPlan(input);
  const s = plan.summary;
  const meta = [
    `kpfleet ${mdCode(plan.kpfleetVersion)}`,
    mdCode(plan.config),
    ...(plan.limit !== undefined ? [`--limit ${mdCode(plan.limit)}`] : []),
    `facts read ${mdCode(plan.createdAt)}`,
  ];
  const head = [
    `## kpfleet plan: ${headline(plan)}`,
    '',
    `<sub>${meta.join(' · ')}</sub>`,
    '',
    ...groupTable(plan),
    '',
  ];
  const actions = actionCounts(plan);
  head.push(actions ? `**Changes:** ${actions}` : '**No changes.**', '');
  const findings = findingCounts(plan);
  if (findings) head.push(`**Findings:** ${findings}`, '');
  const managers = managerCounts(plan, mdCode);
  if (managers) head.push(`**Managers:** ${managers}`, '');
  const uncovered = uncoveredWords(uncoveredHosts(plan.hosts), mdCode);
  if (uncovered) head.push(`**Uncovered:** ${uncovered}`, '');
  if (s.cves.length > 0) head.push(`**Closes:** ${s.cves.map(mdCode).join(', ')}`, '');
  if (s.removes !== undefined && s.removes.length > 0)
    head.push(`**Removes:** ${onHostsWords(s.removes, mdCode)}`, '');
  if (s.reopens !== undefined && s.reopens.length > 0)
    head.push(`**Reopens:** ${onHostsWords(s.reopens, mdCode)}`, '');

  let text = head.join('\n') + '\n';
  const blocks = plan.hosts.filter(needsBlock).map(hostDetails);
  let shown = 0;
  for (const block of blocks) {
    const left = blocks.length - shown - 1;
    const reserve = left > 0 ? truncationNote(left).length : 0;
    if (text.length + block.length + reserve > GITHUB_COMMENT_LIMIT) break;
    text += block;
    shown++;
  }
  if (shown < blocks.length) {
    const note = truncationNote(blocks.length - shown);
    if (text.length + note.length > GITHUB_COMMENT_LIMIT) {
      // The head alone is too long (thousands of groups or CVEs): cut it at a line.
      const room = GITHUB_COMMENT_LIMIT - note.length - 2; // the line's newline, a blank line
      text = text.slice(0, text.lastIndexOf('\n', room) + 1) + '\n';
    }
    text += note;
  }
  // the trailing newlines as one
  const body = trimEndChars(text, '\n');
  return body.length === text.length ? text : `${body}\n`;
}
