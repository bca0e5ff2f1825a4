/**
 * Desired state per host: the union of the desired states of every group the host is in
 * (`all` included), with the policies (`unmanaged`, `uncovered_kernel`) taken from the most
 * specific group that sets them, as Ansible's group variable precedence has it. Contradictions
 * are returned as data; `config/rules` turns them into diagnostics. Pure.
 */
import type {
  Config,
  ManagerChoice,
  ManagerSetting,
  PatchState,
  UncoveredPolicy,
  UnmanagedPolicy,
} from '../config-model.ts';
import { DEFAULTS, MANAGER_CHOICES, PATCH_STATES } from '../config-model.ts';
import type { Inventory } from '../inventory/types.ts';
import { groupGraph } from '../inventory/graph.ts';
import type { GroupGraph } from '../inventory/graph.ts';
import { groupAncestry, hostVarSource, inventorySets } from '../inventory/vars.ts';
import { maxOf } from '../util/arrays.ts';

export interface DesiredPatch {
  patch: string;
  state: PatchState;
  /** The groups that ask for this state, in precedence order. */
  groups: string[];
}

export interface HostDesired {
  host: string;
  /** Groups of the project file that apply to this host, lowest precedence first. */
  groups: string[];
  /** In catalogue order. */
  patches: DesiredPatch[];
  unmanaged: UnmanagedPolicy;
  uncoveredKernel: UncoveredPolicy;
  /**
   * What manages the host's live patches, as set (`auto` until facts resolve it:
   * `facts/manager.ts`), and where: `connection.manager`, then the deepest group's `manager`,
   * then the inventory variable `kpfleet_manager`.
   */
  manager: ManagerSetting;
}

/** The inventory variable that sets a host's manager (`kpatch`, `klp` or `auto`). */
export const MANAGER_VAR = 'kpfleet_manager';

/** A host that no group of the project file selects: it wants nothing, with every default. */
export function defaultDesired(host: string): HostDesired {
  return {
    host,
    groups: [],
    patches: [],
    unmanaged: DEFAULTS.unmanaged,
    uncoveredKernel: DEFAULTS.uncoveredKernel,
    manager: { choice: DEFAULTS.manager, source: 'default' },
  };
}

export interface Conflict {
  kind: 'state' | 'replaces' | 'policy';
  /** Patch name for state/replaces conflicts; policy key for policy conflicts. */
  subject: string;
  first: { group: string; value: string };
  second: { group: string; value: string };
  hosts: string[];
}

export interface ResolveResult {
  hosts: HostDesired[];
  conflicts: Conflict[];
}

export function resolveDesired(
  config: Config,
  inv: Inventory,
  hostNames?: readonly string[],
): ResolveResult {
  const graph = groupGraph(inv);
  const groupDepth = graph.depth;
  const conflicts = new Map<string, Conflict>();
  const addConflict = (c: Omit<Conflict, 'hosts'>, host: string): void => {
    const key = `${c.kind}|${c.subject}|${c.first.group}|${c.first.value}|${c.second.group}|${c.second.value}`;
    const existing = conflicts.get(key);
    if (existing) existing.hosts.push(host);
    else conflicts.set(key, { ...c, hosts: [host] });
  };
  const catalogue = [...config.patches.keys()];
  // most inventories never set kpfleet_manager: then no host's variables are looked through
  const managerVar = inventorySets(inv, MANAGER_VAR);
  const hosts: HostDesired[] = [];

  for (const host of hostNames ?? [...inv.hosts.keys()]) {
    const groups = groupAncestry(inv, host, graph).filter((g) => config.groups.has(g));
    // patch -> state -> groups
    const wanted = new Map<string, Map<PatchState, string[]>>();
    for (const g of groups) {
      const spec = config.groups.get(g);
      if (!spec) continue;
      for (const state of PATCH_STATES) {
        for (const patch of spec[state]) {
          const byState = wanted.get(patch) ?? new Map<PatchState, string[]>();
          const list = byState.get(state) ?? [];
          if (!list.includes(g)) list.push(g);
          byState.set(state, list);
          wanted.set(patch, byState);
        }
      }
    }

    const patches: DesiredPatch[] = [];
    const order = [...catalogue, ...[...wanted.keys()].filter((p) => !config.patches.has(p))];
    for (const patch of order) {
      const byState = wanted.get(patch);
      if (!byState) continue;
      const absent = byState.get('absent');
      const present = byState.get('loaded') ?? byState.get('installed');
      if (absent && present) {
        const presentState: PatchState = byState.has('loaded') ? 'loaded' : 'installed';
        const [first, second] = orderPair(
          { group: present[0] ?? '', value: presentState },
          { group: absent[0] ?? '', value: 'absent' },
          config,
        );
        addConflict({ kind: 'state', subject: patch, first, second }, host);
      }
      // loaded implies installed: the stronger state wins, the union of groups is kept.
      const state: PatchState = byState.has('loaded')
        ? 'loaded'
        : byState.has('installed')
          ? 'installed'
          : 'absent';
      patches.push({ patch, state, groups: byState.get(state) ?? [] });
    }

    // A cumulative patch and a patch it replaces cannot both be loaded: loading one retires the other.
    const loaded = new Map(patches.filter((p) => p.state === 'loaded').map((p) => [p.patch, p]));
    for (const p of loaded.values()) {
      for (const old of config.patches.get(p.patch)?.replaces ?? []) {
        if (old === p.patch) continue; // a self-replacement is a catalogue error, not a conflict
        const other = loaded.get(old);
        if (!other) continue;
        const [first, second] = orderPair(
          { group: other.groups[0] ?? '', value: `loaded ${old}` },
          { group: p.groups[0] ?? '', value: `loaded ${p.patch}` },
          config,
        );
        addConflict({ kind: 'replaces', subject: p.patch, first, second }, host);
      }
    }

    const onConflict =
      (subject: string) =>
      (a: { group: string; value: string }, b: { group: string; value: string }): void => {
        const [first, second] = orderPair(a, b, config);
        addConflict({ kind: 'policy', subject, first, second }, host);
      };
    const spec = (g: string) => config.groups.get(g);
    const unmanaged = pickPolicy(
      groups,
      groupDepth,
      (g) => spec(g)?.unmanaged,
      onConflict('unmanaged'),
    );
    const uncovered = pickPolicy(
      groups,
      groupDepth,
      (g) => spec(g)?.uncoveredKernel,
      onConflict('uncovered_kernel'),
    );
    const manager = pickPolicy(groups, groupDepth, (g) => spec(g)?.manager, onConflict('manager'));
    hosts.push({
      host,
      groups,
      patches,
      unmanaged: unmanaged?.value ?? DEFAULTS.unmanaged,
      uncoveredKernel: uncovered?.value ?? DEFAULTS.uncoveredKernel,
      manager: managerSetting(config, managerVar ? inv : undefined, host, graph, manager),
    });
  }
  return { hosts, conflicts: [...conflicts.values()] };
}

/**
 * The host's manager setting, lowest layer first: `connection.manager`, the group's (`group`,
 * already picked as the policies are), the inventory's `kpfleet_manager`. A value that is not a
 * choice is left out here: the configuration rules refuse it (`config/inventory-connection.ts`).
 */
function managerSetting(
  config: Config,
  /** Undefined when no host or group of the inventory sets `kpfleet_manager`. */
  inv: Inventory | undefined,
  host: string,
  graph: GroupGraph,
  group: Picked<ManagerChoice> | undefined,
): ManagerSetting {
  const own = inv && hostVarSource(inv, host, MANAGER_VAR, graph);
  const choice = MANAGER_CHOICES.find((c) => c === own?.value);
  if (own !== undefined && choice !== undefined) {
    const at = own.site
      ? ` at ${own.site.file}:${String(own.site.line)}:${String(own.site.col)}`
      : ' in the inventory';
    return { choice, source: `${MANAGER_VAR}${at}` };
  }
  if (group !== undefined) return { choice: group.value, source: `group ${group.group}` };
  if (config.manager !== undefined) return { choice: config.manager, source: 'connection.manager' };
  return { choice: DEFAULTS.manager, source: 'default' };
}

/** Orders two group references by their order in the project file, so messages are stable. */
function orderPair<T extends { group: string }>(a: T, b: T, config: Config): [T, T] {
  const names = [...config.groups.keys()];
  return names.indexOf(a.group) <= names.indexOf(b.group) ? [a, b] : [b, a];
}

/** A policy's value and the group it was taken from. */
interface Picked<T> {
  group: string;
  value: T;
}

/**
 * The value set by the deepest group; groups at that same depth that disagree are a conflict
 * (Ansible would silently pick by name; a destructive policy must not be chosen that way).
 */
function pickPolicy<T extends string>(
  groups: readonly string[],
  depths: Map<string, number>,
  get: (g: string) => T | undefined,
  onConflict: (a: { group: string; value: string }, b: { group: string; value: string }) => void,
): Picked<T> | undefined {
  const set = groups.flatMap((g) => {
    const value = get(g);
    return value === undefined ? [] : [{ group: g, value, depth: depths.get(g) ?? 1 }];
  });
  if (set.length === 0) return undefined;
  const deepest = maxOf(set.map((s) => s.depth));
  const top = set.filter((s) => s.depth === deepest);
  const first = top[0];
  if (!first) return undefined;
  const other = top.find((s) => s.value !== first.value);
  if (other) onConflict(first, other);
  return { group: first.group, value: first.value };
}
