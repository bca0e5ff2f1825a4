/**
 * What the planner knows about one host before it plans anything, computed once: the host's
 * facts indexed (sysfs entries and resident modules by name), and the patches declared for it
 * split by what they ask for (declared, present, fitting the running kernel, wanted loaded). The
 * phases (`phases/*.ts`) read it and never change it.
 */
import type { Patch, Rollout } from '../../config-model.ts';
import { kernelMatches } from '../../config/kernel-match.ts';
import type { DesiredPatch, HostDesired } from '../../desired/resolve.ts';
import { resolveManager } from '../../facts/manager.ts';
import type {
  HostFacts,
  InstalledModule,
  LivepatchState,
  LoadedModule,
} from '../../facts/model.ts';
import { basename } from '../../util/text.ts';
import { packageMatches } from '../packages.ts';
import { planManager, type PlanManager } from './manager.ts';

export interface PlanHostInput {
  desired: HostDesired;
  facts: HostFacts;
  /** `facts/fingerprint.ts` of these facts. */
  fingerprint: string;
  patches: ReadonlyMap<string, Patch>;
  rollout: Pick<Rollout, 'rebootDueAfterMs'>;
  /** Epoch milliseconds (for the reboot-due window). */
  now: number;
}

/** A patch declared for the host, with its catalogue entry. */
export type Declared = DesiredPatch & { p: Patch };

export interface HostContext {
  input: PlanHostInput;
  desired: HostDesired;
  facts: HostFacts;
  patches: ReadonlyMap<string, Patch>;
  /** The host's manager: its store and paths (`manager.ts`). */
  manager: PlanManager;
  /** The running kernel. */
  kernel: string;
  /** Live patches in /sys/kernel/livepatch, by module name. */
  sysfs: ReadonlyMap<string, LivepatchState>;
  /** Live-patch modules in memory (inert leftovers included), by name. */
  resident: ReadonlyMap<string, LoadedModule>;
  /** Modules enabled now. */
  enabledNow: readonly string[];
  /** Declared for the host's groups and in the catalogue, in catalogue order. */
  declared: readonly Declared[];
  /** Declared loaded or installed. */
  present: readonly Declared[];
  /** Present and fitting the running kernel. */
  fitting: readonly Declared[];
  /**
   * Fitting and declared loaded; cumulative patches (those that `replace` others) first: one built
   * in atomic-replace mode retires every patch enabled before it, so patches that stack on it
   * must come after.
   */
  loadedWanted: readonly Declared[];
  /** The patches those wanted loaded replace (in the catalogue): retired once they load. */
  predecessors: readonly Patch[];
}

/** The context of one host, built once per plan. */
export function hostContext(input: PlanHostInput): HostContext {
  const { desired, facts, patches } = input;
  const declared = declaredPatches(desired, patches);
  const present = declared.filter((d) => d.state !== 'absent');
  const fitting = present.filter((d) => kernelMatches(d.p.kernels, facts.kernel));
  const loadedWanted = fitting
    .filter((d) => d.state === 'loaded')
    .sort((a, b) => Number(b.p.replaces.length > 0) - Number(a.p.replaces.length > 0));
  const predecessors = loadedWanted.flatMap((d) => retiredBy(d.p, patches));
  return {
    input,
    desired,
    facts,
    patches,
    manager: planManager(resolveManager(desired.manager, facts), facts),
    kernel: facts.kernel,
    sysfs: new Map(facts.patches.map((p) => [p.name, p])),
    resident: new Map(facts.modules.map((m) => [m.name, m])),
    enabledNow: facts.patches.filter((p) => p.enabled !== false).map((p) => p.name),
    declared,
    present,
    fitting,
    loadedWanted,
    predecessors,
  };
}

/** The catalogue patches a patch replaces (`replaces` names patches). */
export function retiredBy(p: Patch, patches: ReadonlyMap<string, Patch>): Patch[] {
  return p.replaces.flatMap((q) => {
    const qp = patches.get(q);
    return qp ? [qp] : [];
  });
}

/** The patches declared for a host that the catalogue has, in catalogue order. */
export function declaredPatches(
  desired: Pick<HostDesired, 'patches'>,
  patches: ReadonlyMap<string, Patch>,
): Declared[] {
  return desired.patches.flatMap((d) => {
    const p = patches.get(d.patch);
    return p ? [{ ...d, p }] : [];
  });
}

/** Whether a module is in sysfs and enabled. */
export function isEnabled(ctx: HostContext, module: string): boolean {
  const e = ctx.sysfs.get(module);
  return e !== undefined && e.enabled !== false;
}

/** Whether an installed file is this patch's: by module name, by content, or by file name. */
export function holds(p: Patch, i: InstalledModule): boolean {
  return (
    i.module === p.module ||
    (p.source.kind === 'file' &&
      (i.sha256 === p.source.sha256 || i.file === basename(p.source.path)))
  );
}

/** A patch's files in either store (the manager's and the other's), on every kernel. */
export function installedOf(ctx: HostContext, p: Patch): InstalledModule[] {
  return [...ctx.manager.store, ...ctx.manager.foreign].filter((i) => holds(p, i));
}

/** A patch's files in the manager's own store (what loads at boot), on every kernel. */
export function storedOf(ctx: HostContext, p: Patch): InstalledModule[] {
  return ctx.manager.store.filter((i) => holds(p, i));
}

/** The installed kpatch-patch package of a package patch, if any. */
export function installedPackageOf(ctx: HostContext, p: Patch): string | undefined {
  const src = p.source;
  return src.kind === 'rpm'
    ? ctx.facts.packages.find((x) => packageMatches(x, src.package))
    : undefined;
}

/** ` by group web` / ` by groups web, db`: who declared it, for a reason. */
export function byGroups(groups: readonly string[]): string {
  return groups.length === 0
    ? ''
    : ` by group${groups.length === 1 ? '' : 's'} ${groups.join(', ')}`;
}
