/**
 * `kpfleet plan`, what its renderers share: one change as the operator reads it
 * (`describeChange`), the headline and counts, which hosts get a block of their own, the plan
 * made safe to print; and the plan as JSON (schemas/plan.schema.json). The terminal text is in
 * plan-text.ts, the pull-request markdown in plan-markdown.ts. Pure and deterministic: the same
 * plan always renders the same text, in the plan's own host and change order.
 */
import { MANAGER_NAMES } from '../config-model.ts';
import { managerWords } from '../facts/manager.ts';
import { isUncovered, uncoveredHosts } from '../plan/coverage.ts';
import type { UncoveredHost } from '../plan/coverage.ts';
import { CHANGE_ACTIONS } from '../plan/model.ts';
import type { Change, FindingKind, HostPlan, OnHosts, Plan } from '../plan/model.ts';
import { hostList } from './host-names.ts';
import { signatureWords } from './signature.ts';
import { jsonWithoutSecrets, PROSE_KEYS, safeData } from './safe-text.ts';
import { plural } from '../util/text.ts';

/** At most this many names (or ranges of names) in a list of hosts; then `and N more`. */
export const HOST_NAMES_MAX = 8;
/** At most this many kernels in the sentence about uncovered hosts. */
const UNCOVERED_KERNELS_MAX = 4;

/** Labels are padded to align the reasons; a label longer than this is left out of the width. */
const LABEL_WIDTH_MAX = 60;

type Sign = '+' | '-' | '~';

export interface ChangeLine {
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
      return line(
        '+',
        `install ${c.module} (${c.kernel}${c.store !== undefined ? `, ${c.store} store` : ''})`,
      );
    case 'package-install':
      return c.replacesPackage !== undefined
        ? line('~', `package ${c.replacesPackage} → ${c.package}`)
        : line('+', `package ${c.package}`);
    case 'enable-service':
      return line(
        '+',
        c.unit === undefined ? 'enable kpatch.service' : `set up and enable ${c.unit}`,
      );
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
      return line(
        '-',
        `uninstall ${c.file} (${c.kernel}${c.store === 'klp' ? ', klp store' : ''})${afterNote(c.after)}`,
      );
    case 'package-remove':
      return line('-', `package ${c.package}${afterNote(c.after)}`);
  }
}

/**
 * A change as a plan shows it: `describeChange`, and on an upload the file's signature
 * (`(signed by NAME)`, `(unsigned)`). Apply's step labels stay `describeChange`'s.
 */
export function describePlannedChange(c: Change): ChangeLine {
  const l = describeChange(c);
  if (c.action !== 'upload' || c.signature === undefined) return l;
  return { ...l, label: `${l.label} (${signatureWords(c.signature)})` };
}

function hasWarnings(h: HostPlan): boolean {
  return h.findings.some((f) => f.severity !== 'info');
}

/**
 * Hosts that get a block of their own: every host not converged, and converged hosts with a
 * warning or an error (info alone does not make a converged host worth a block).
 */
export function needsBlock(h: HostPlan): boolean {
  return h.status !== 'converged' || hasWarnings(h);
}

export function labelWidth(lines: readonly ChangeLine[]): number {
  let width = 0;
  for (const l of lines)
    if (l.label.length <= LABEL_WIDTH_MAX) width = Math.max(width, l.label.length);
  return width;
}

/** `3 load, 2 unload, …` in execution order; empty when there is nothing to do. */
export function actionCounts(plan: Plan): string {
  return CHANGE_ACTIONS.flatMap((a) => {
    const n = plan.summary.actions[a] ?? 0;
    return n > 0 ? [`${String(n)} ${a}`] : [];
  }).join(', ');
}

/** `uncovered on 2 hosts, reboot-due on 1 host`, by kind name. */
export function findingCounts(plan: Plan): string {
  return (Object.entries(plan.summary.findings) as [FindingKind, number | undefined][])
    .filter((e): e is [FindingKind, number] => e[1] !== undefined && e[1] > 0)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([kind, n]) => `${kind} on ${plural(n, 'host')}`)
    .join(', ');
}

/**
 * `klp (auto: no kpatch utility)`: a host's manager and why, as every report writes it; undefined
 * for a host whose facts were not read.
 */
export function hostManager(h: Pick<HostPlan, 'manager' | 'managerReason'>): string | undefined {
  return h.manager === undefined
    ? undefined
    : managerWords({ manager: h.manager, reason: h.managerReason ?? '?' });
}

/** `kpatch on 11 hosts, klp on 1 host`; empty when no host was read. */
export function managerCounts(plan: Plan, code: (s: string) => string = (s) => s): string {
  const count = plan.summary.managers;
  return MANAGER_NAMES.flatMap((m) => {
    const n = count[m] ?? 0;
    return n > 0 ? [`${code(m)} on ${plural(n, 'host')}`] : [];
  }).join(', ');
}

/** `CVE-2024-1086 on 5 hosts, CVE-2024-0001 on 1 host`; `code` wraps each name for the format. */
export function onHostsWords(
  list: readonly OnHosts[],
  code: (s: string) => string = (s) => s,
): string {
  return list.map((x) => `${code(x.name)} on ${plural(x.hosts, 'host')}`).join(', ');
}

/**
 * What applying the plan does, for the confirmation prompt: `On 5 hosts: 3 loads, 1 replacement
 * and 2 removals (9 changes in all).` and, when removals re-open CVEs, `This reopens
 * CVE-2024-1086 on 5 hosts.` One or two lines, no trailing newline.
 */
export function applyWords(plan: Plan): string {
  let loads = 0;
  let replacements = 0;
  let changes = 0;
  for (const h of plan.hosts) {
    if (h.status !== 'changes') continue;
    changes += h.changes.length;
    for (const c of h.changes)
      if (c.action === 'load') {
        if (c.replacesModules.length > 0) replacements++;
        else loads++;
      }
  }
  const removals = (plan.summary.removes ?? []).reduce((n, x) => n + x.hosts, 0);
  const parts = [
    ...(loads > 0 ? [plural(loads, 'load')] : []),
    ...(replacements > 0 ? [plural(replacements, 'replacement')] : []),
    ...(removals > 0 ? [plural(removals, 'removal')] : []),
  ];
  const listed =
    parts.length > 1
      ? `${parts.slice(0, -1).join(', ')} and ${parts.at(-1) ?? ''}`
      : (parts[0] ?? '');
  const what = listed
    ? `${listed} (${plural(changes, 'change')} in all)`
    : plural(changes, 'change');
  const lines = [`On ${plural(plan.summary.changes, 'host')}: ${what}.`];
  const reopens = plan.summary.reopens ?? [];
  if (reopens.length > 0) lines.push(`This reopens ${onHostsWords(reopens)}.`);
  return lines.join('\n');
}

/**
 * Hosts with nothing to do that a declared patch covers: what "converged" means in every
 * sentence kpfleet writes. A host no declared patch fits is uncovered, not converged
 * (`plan/coverage.ts`), even with nothing to do.
 */
export function convergedHosts(plan: Plan): HostPlan[] {
  return plan.hosts.filter((h) => h.status === 'converged' && !isUncovered(h));
}

/**
 * How a host's status is written: `uncovered` for a host with nothing to do that no declared
 * patch covers (it is not converged in any sentence), else its status.
 */
export function statusWord(h: HostPlan): string {
  return h.status === 'converged' && isUncovered(h) ? 'uncovered' : h.status;
}

/**
 * `12 hosts — 0 to change, 11 converged, 0 blocked, 0 errors, 0 unreachable, 1 uncovered
 * (exposed)`: the uncovered hosts, whatever their status, are counted last and never as converged.
 */
export function headline(plan: Plan): string {
  const s = plan.summary;
  const uncovered = uncoveredHosts(plan.hosts).length;
  return (
    `${plural(s.hosts, 'host')} — ${String(s.changes)} to change, ${String(convergedHosts(plan).length)} converged, ` +
    `${String(s.blocked)} blocked, ${plural(s.errors, 'error')}, ${String(s.unreachable)} unreachable` +
    (uncovered > 0 ? `, ${String(uncovered)} uncovered (exposed)` : '')
  );
}

/**
 * `1 host uncovered (exposed): batch04 runs 5.14.0-570…, which no declared patch fits`, the hosts
 * grouped by kernel; empty when there are none. `code` wraps names and kernels for the format.
 */
export function uncoveredWords(
  hosts: readonly UncoveredHost[],
  code: (s: string) => string = (s) => s,
): string {
  if (hosts.length === 0) return '';
  const byKernel = new Map<string, string[]>();
  for (const h of hosts) {
    const names = byKernel.get(h.kernel ?? '') ?? [];
    names.push(h.host);
    byKernel.set(h.kernel ?? '', names);
  }
  const kernels = [...byKernel];
  const parts = kernels.slice(0, UNCOVERED_KERNELS_MAX).map(([kernel, names]) => {
    const verb = names.length === 1 ? 'runs' : 'run';
    return `${hostList(names, HOST_NAMES_MAX, code)} ${verb} ${kernel ? code(kernel) : 'a kernel not read'}`;
  });
  const more = kernels.length - parts.length;
  if (more > 0) parts.push(plural(more, 'more kernel'));
  const tail =
    kernels.length === 1
      ? ', which no declared patch fits'
      : ': no declared patch fits these kernels';
  return `${plural(hosts.length, 'host')} uncovered (exposed): ${parts.join('; ')}${tail}`;
}

/**
 * The plan with every string made safe to print (`safeData`): names, kernels and messages come
 * from hosts and files. Prose keeps its line breaks, shown as ` ⏎ ` by `oneLine`.
 */
export function displayPlan(plan: Plan): Plan {
  return safeData(plan, PROSE_KEYS);
}

// ---------------------------------------------------------------------------------------------
// JSON

/** The plan as written to disk and read back by `apply`: 2-space JSON and a final newline. */
export function planJson(plan: Plan): string {
  return jsonWithoutSecrets(plan, 2) + '\n';
}
