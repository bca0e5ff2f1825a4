/**
 * `kpfleet plan`: the plan as terminal text (Terraform-like), as markdown for a pull-request
 * comment, and as JSON (schemas/plan.schema.json). Pure and deterministic: the same plan always
 * renders the same text, in the plan's own host and change order.
 */
import { CHANGE_ACTIONS } from '../plan/model.ts';
import type { Change, Finding, FindingKind, FindingLevel, HostPlan, Plan } from '../plan/model.ts';
import { fence, htmlCode, mdCode, mdCodeCell } from './markdown.ts';
import { PROSE_KEYS, oneLine, safeData } from './safe-text.ts';
import type { Style } from './style.ts';
import { plural, trimEndChars } from '../util/text.ts';

/** GitHub refuses a comment body longer than this (characters). */
export const GITHUB_COMMENT_LIMIT = 65_536;

/** At most this many converged host names are listed; above it, only their count. */
const CONVERGED_NAMES_MAX = 10;

/** Labels are padded to align the reasons; a label longer than this is left out of the width. */
const LABEL_WIDTH_MAX = 60;

type Sign = '+' | '-' | '~';

interface ChangeLine {
  sign: Sign;
  /** The whole label, sign first: `+ load cve-x (kpatch_cve)`. */
  label: string;
  reason: string;
}

function afterNote(after: string | undefined, extra: string[] = []): string {
  const notes = [...extra, ...(after !== undefined ? [`after ${after} is enabled`] : [])];
  return notes.length > 0 ? ` (${notes.join(', ')})` : '';
}

/** `sha256:` and the first 12 hex digits: enough to tell two hosts' facts apart at a glance. */
export function shortFingerprint(fp: string): string {
  const m = /^([a-z0-9]+:)?([0-9a-f]+)$/.exec(fp);
  return m ? `${m[1] ?? ''}${(m[2] ?? '').slice(0, 12)}` : fp.slice(0, 19);
}

/** One change as the operator reads it. Exhaustive over the actions. */
export function describeChange(c: Change): ChangeLine {
  const line = (sign: Sign, text: string): ChangeLine => ({
    sign,
    label: `${sign} ${text}`,
    reason: c.reason,
  });
  switch (c.action) {
    case 'upload':
      return line('+', `upload ${c.source} → ${c.destination}`);
    case 'install':
      return line('+', `install ${c.module} (${c.kernel})`);
    case 'package-install':
      return c.replacesPackage !== undefined
        ? line('~', `package ${c.replacesPackage} → ${c.package}`)
        : line('+', `package ${c.package}`);
    case 'enable-service':
      return line('+', 'enable kpatch.service');
    case 'load': {
      // the patch as kpfleet.yml names it, and its module (once, where they are the same)
      const notes = [
        ...(c.patch !== c.module ? [c.module] : []),
        ...(c.reenable ? ['re-enable'] : []),
        ...(!c.reenable && c.removesLeftover === true ? ['rmmod its inert leftover first'] : []),
      ];
      const what = `${c.patch}${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`;
      return c.replacesModules.length > 0
        ? line('~', `replace ${c.replacesModules.join(', ')} → ${what}`)
        : line('+', `load ${what}`);
    }
    case 'unload':
      return line('-', `unload ${c.module}${afterNote(c.after, c.leftover ? ['leftover'] : [])}`);
    case 'uninstall':
      return line('-', `uninstall ${c.file} (${c.kernel})${afterNote(c.after)}`);
    case 'package-remove':
      return line('-', `package ${c.package}${afterNote(c.after)}`);
  }
}

const SEVERITY_MARK: Record<FindingLevel, string> = { error: '✖', warning: '!', info: '·' };

function hasWarnings(h: HostPlan): boolean {
  return h.findings.some((f) => f.severity !== 'info');
}

/**
 * Hosts that get a block of their own: every host not converged, and converged hosts with a
 * warning or an error (info alone does not make a converged host worth a block).
 */
function needsBlock(h: HostPlan): boolean {
  return h.status !== 'converged' || hasWarnings(h);
}

function labelWidth(lines: readonly ChangeLine[]): number {
  let width = 0;
  for (const l of lines)
    if (l.label.length <= LABEL_WIDTH_MAX) width = Math.max(width, l.label.length);
  return width;
}

/** `3 load, 2 unload, …` in execution order; empty when there is nothing to do. */
function actionCounts(plan: Plan): string {
  return CHANGE_ACTIONS.flatMap((a) => {
    const n = plan.summary.actions[a] ?? 0;
    return n > 0 ? [`${String(n)} ${a}`] : [];
  }).join(', ');
}

/** `uncovered on 2 hosts, reboot-due on 1 host`, by kind name. */
function findingCounts(plan: Plan): string {
  return (Object.entries(plan.summary.findings) as [FindingKind, number | undefined][])
    .filter((e): e is [FindingKind, number] => e[1] !== undefined && e[1] > 0)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([kind, n]) => `${kind} on ${plural(n, 'host')}`)
    .join(', ');
}

function headline(plan: Plan): string {
  const s = plan.summary;
  return (
    `${plural(s.hosts, 'host')} — ${String(s.changes)} to change, ${String(s.converged)} converged, ` +
    `${String(s.blocked)} blocked, ${plural(s.errors, 'error')}, ${String(s.unreachable)} unreachable`
  );
}

// ---------------------------------------------------------------------------------------------
// Text

/**
 * The plan with every string made safe to print (`safeData`): names, kernels and messages come
 * from hosts and files. Prose keeps its line breaks, shown as ` ⏎ ` by `oneLine`.
 */
function displayPlan(plan: Plan): Plan {
  return safeData(plan, PROSE_KEYS);
}

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

// ---------------------------------------------------------------------------------------------
// Markdown

const UNGROUPED = '(ungrouped)';

interface GroupRow {
  hosts: number;
  changes: number;
  converged: number;
  blockedOrError: number;
  unreachable: number;
}

function groupTable(plan: Plan): string[] {
  const rows = new Map<string, GroupRow>();
  const total: GroupRow = { hosts: 0, changes: 0, converged: 0, blockedOrError: 0, unreachable: 0 };
  const count = (r: GroupRow, h: HostPlan) => {
    r.hosts++;
    if (h.status === 'changes') r.changes++;
    else if (h.status === 'converged') r.converged++;
    else if (h.status === 'unreachable') r.unreachable++;
    else r.blockedOrError++;
  };
  for (const h of plan.hosts) {
    count(total, h);
    for (const g of h.groups.length > 0 ? new Set(h.groups) : [UNGROUPED]) {
      let row = rows.get(g);
      if (row === undefined) {
        row = { hosts: 0, changes: 0, converged: 0, blockedOrError: 0, unreachable: 0 };
        rows.set(g, row);
      }
      count(row, h);
    }
  }
  // By name, `(ungrouped)` last; code-unit order, so that no locale changes it.
  const order = ([a]: [string, GroupRow], [b]: [string, GroupRow]) =>
    a === UNGROUPED ? 1 : b === UNGROUPED ? -1 : a < b ? -1 : a > b ? 1 : 0;
  const cells = (name: string, r: GroupRow) =>
    `| ${name} | ${String(r.hosts)} | ${String(r.changes)} | ${String(r.converged)} | ${String(r.blockedOrError)} | ${String(r.unreachable)} |`;
  return [
    '| group | hosts | to change | converged | blocked/error | unreachable |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...[...rows.entries()]
      .sort(order)
      .map(([g, r]) => cells(g === UNGROUPED ? g : mdCodeCell(g), r)),
    cells('**all hosts**', total),
  ];
}

function summaryText(h: HostPlan): string {
  const parts = [h.status === 'changes' ? plural(h.changes.length, 'change') : h.status];
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
  ];
  if (facts.length > 0) out.push(facts.join(' · '), '');
  if (h.status !== 'changes') {
    out.push(`**${h.status}**${h.reason ? `: ${mdCode(oneLine(h.reason))}` : ''}`, '');
  }
  if (h.error !== undefined) {
    const step = h.error.step !== undefined ? ` (step ${mdCode(h.error.step)})` : '';
    out.push(`${mdCode(h.error.code)}: ${mdCode(oneLine(h.error.message))}${step}`, '');
    if (h.error.hint !== undefined) out.push(`hint: ${mdCode(oneLine(h.error.hint))}`, '');
  }
  if (h.status === 'changes' && h.changes.length > 0) {
    const lines = h.changes.map(describeChange);
    const width = labelWidth(lines);
    const body = lines.map((l) => `${l.label.padEnd(width)}  # ${oneLine(l.reason)}`).join('\n');
    const f = fence(body);
    out.push(`${f}diff`, body, f, '');
  } else if (h.changes.length > 0) {
    out.push(`${plural(h.changes.length, 'change')} held back while ${h.status}.`, '');
  }
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
  if (s.cves.length > 0) head.push(`**Closes:** ${s.cves.map(mdCode).join(', ')}`, '');

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

// ---------------------------------------------------------------------------------------------
// JSON

/** The plan as written to disk and read back by `apply`: 2-space JSON and a final newline. */
export function planJson(plan: Plan): string {
  return JSON.stringify(plan, null, 2) + '\n';
}
