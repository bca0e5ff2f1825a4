/**
 * A saved plan is data from outside: anyone who can edit the file could make it upload, install,
 * load or remove anything. Before `apply PLANFILE` contacts a host, every change of every host is
 * checked here against what the current kpfleet.yml and inventory allow on that host
 * (docs/security.md, "Saved plans"):
 *
 * - an upload, install, package install or load names a patch declared for the host's groups
 *   (loaded, for a load), fitting the kernel it is for, with exactly the declared module, file,
 *   sha256 or package;
 * - an unload, uninstall or package removal names what the config allows to go: a patch declared
 *   absent, a predecessor of a declared cumulative patch, a stale copy of a declared patch being
 *   installed again, or a module nothing declares when the host's policy is `unmanaged: remove`.
 *
 * The facts a plan was made from are not in it, so some fields (which installed file a load
 * uses, an rpm's own copy) can only be checked by name here; under the host's lock, apply plans
 * the host again from its facts and refuses it unless the saved changes are exactly those
 * (`diffChanges`). Pure.
 */
import type { Patch } from '../config-model.ts';
import type { HostDesired } from '../desired/resolve.ts';
import type { Change, HostPlan } from './model.ts';
import { canonicalJson, checkChange, rulesFor, shown, type Order } from './verify-change.ts';
import { plural } from '../util/text.ts';

export { shown } from './verify-change.ts';

export interface PlanProblem {
  host: string;
  /** 1-based position of the change in the host's list. */
  change?: number;
  action?: string;
  field: string;
  message: string;
}

/** Every problem of one host's saved plan against its current desired state. */
export function verifyHostPlan(
  hp: HostPlan,
  desired: HostDesired,
  patches: ReadonlyMap<string, Patch>,
): PlanProblem[] {
  const problems: PlanProblem[] = [];
  const host = hp.host;
  const hostProblem = (field: string, message: string) => problems.push({ host, field, message });
  if (JSON.stringify(hp.groups) !== JSON.stringify(desired.groups)) {
    hostProblem(
      'groups',
      `the plan says groups ${shown(hp.groups)}, the inventory and kpfleet.yml say ${shown(desired.groups)}`,
    );
  }
  const choice = desired.manager.choice;
  if (hp.manager !== undefined && choice !== 'auto' && hp.manager !== choice) {
    hostProblem(
      'manager',
      `the plan says manager ${shown(hp.manager)}, kpfleet.yml and the inventory set ${shown(choice)} (${desired.manager.source})`,
    );
  }
  if (hp.status !== 'changes') {
    if (hp.changes.length > 0)
      hostProblem('changes', `a host with status ${shown(hp.status)} has no changes to run`);
    return problems;
  }
  if (hp.changes.length === 0) hostProblem('changes', 'a host with status "changes" lists none');
  // what the report and the audit log say the run closes: exactly what the loads close
  const closes = [...new Set(hp.changes.flatMap((c) => (c.action === 'load' ? c.cves : [])))];
  if (JSON.stringify(hp.cves) !== JSON.stringify(closes.sort()))
    hostProblem('cves', `the plan says ${shown(hp.cves)}, its loads close ${shown(closes)}`);
  if (hp.kernel === undefined) hostProblem('kernel', 'a host with changes names its kernel');
  if (hp.manager === undefined) hostProblem('manager', 'a host with changes names its manager');
  if (hp.factsFingerprint === undefined)
    hostProblem('factsFingerprint', 'a host with changes has the fingerprint of its facts');

  const rules = rulesFor(desired, patches, hp.kernel);
  // what comes before and after each change, without a quadratic walk (a plan may hold many)
  const lastInstall = new Map<string, number>();
  hp.changes.forEach((c, i) => {
    if (c.action === 'install') lastInstall.set(`${c.patch}\0${c.kernel}`, i);
  });
  const order: Order = {
    manager: hp.manager ?? 'kpatch',
    uploaded: new Set(),
    loaded: new Set(),
    installLater: () => false,
    installs: (patch, kernel) => lastInstall.has(`${patch}\0${kernel}`),
  };
  hp.changes.forEach((c, i) => {
    const bad = (field: string, message: string) =>
      problems.push({ host, change: i + 1, action: c.action, field, message });
    order.installLater = (patch, kernel) => (lastInstall.get(`${patch}\0${kernel}`) ?? -1) > i;
    checkChange(c, order, rules, bad);
    if (c.action === 'upload') order.uploaded.add(c.destination);
    if (c.action === 'load') order.loaded.add(c.module);
  });
  return problems;
}

/** The first difference between saved changes and those planned now, or undefined. */
export function diffChanges(
  saved: readonly Change[],
  planned: readonly Change[],
): string | undefined {
  const n = Math.max(saved.length, planned.length);
  for (let i = 0; i < n; i++) {
    const a = saved[i];
    const b = planned[i];
    if (a === undefined || b === undefined) {
      return `the plan has ${plural(saved.length, 'change')}, kpfleet plans ${String(planned.length)} now`;
    }
    // field by field (a string, boolean, list of strings, or an upload's signature): the order
    // in which a file lists the keys of a change, or of its signature, does not matter
    const fields = (c: Change) => c as unknown as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    const field = keys.find((k) => canonicalJson(fields(a)[k]) !== canonicalJson(fields(b)[k]));
    if (field === undefined) continue;
    return `change ${String(i + 1)} (${a.action}): ${field} is ${shown(fields(a)[field])} in the plan, kpfleet plans ${shown(fields(b)[field])}`;
  }
  return undefined;
}

/**
 * The first difference between a saved host plan and the one made now under the host's lock:
 * its manager, its changes (`diffChanges`), then what it says they re-open, which the confirmation prompt
 * showed (a plan that hid a re-opened CVE is not run). Undefined when they agree.
 */
export function diffHostPlan(saved: HostPlan, planned: HostPlan): string | undefined {
  // a manager that flipped (auto after kpatch came or went, a setting changed) is drift
  if (saved.manager !== planned.manager) {
    return `the plan manages it with ${shown(saved.manager)} (${saved.managerReason ?? 'no reason given'}), kpfleet now chooses ${shown(planned.manager)} (${planned.managerReason ?? 'no reason given'})`;
  }
  const changes = diffChanges(saved.changes, planned.changes);
  if (changes !== undefined) return changes;
  const a = saved.reopens ?? [];
  const b = planned.reopens ?? [];
  return JSON.stringify(a) === JSON.stringify(b)
    ? undefined
    : `the plan says its changes re-open ${shown(a)}, kpfleet finds they re-open ${shown(b)}`;
}
