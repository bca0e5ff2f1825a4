/** Variable precedence for one host, as Ansible's VariableManager merges inventory vars. Pure. */
import { ancestorsOf, groupGraph } from './graph.ts';
import type { GroupGraph } from './graph.ts';
import type {
  Inventory,
  InventoryGroup,
  InventoryHost,
  VarLayers,
  VarSite,
  VarSites,
} from './types.ts';

function layers(entity: InventoryGroup | InventoryHost): VarLayers {
  if (entity.layers) return entity.layers;
  const sites = entity.varSites;
  return { inventory: entity.vars, files: {}, ...(sites ? { inventorySites: sites } : {}) };
}

/** One layer of a host's variables, with where they were written. */
interface Layer {
  vars: Record<string, unknown>;
  sites: VarSites | undefined;
}

/**
 * Every group the host is in, ancestors included, in Ansible's precedence order (lowest first):
 * 'all', then the others sorted by (depth, ansible_group_priority, name), as `sort_groups` does.
 * Empty for an unknown host. Pass the inventory's `graph` when asking for many hosts: hosts in
 * the same groups then share one walk (the answer is shared too: do not change it).
 */
export function groupAncestry(
  inv: Inventory,
  host: string,
  graph: GroupGraph = groupGraph(inv),
): readonly string[] {
  const h = inv.hosts.get(host);
  if (!h) return [];
  const key = h.groups.join('\0');
  const known = graph.ancestry.get(key);
  if (known !== undefined) return known;
  const mine = new Set<string>();
  for (const g of h.groups) {
    mine.add(g);
    for (const a of ancestorsOf(graph.parents, g)) mine.add(a);
  }
  mine.delete('all');
  const order = (g: string): [number, number, string] => [
    graph.depth.get(g) ?? 0,
    inv.groups.get(g)?.priority ?? 1,
    g,
  ];
  const sorted = [...mine].sort((a, b) => {
    const [da, pa, na] = order(a);
    const [db, pb, nb] = order(b);
    return da - db || pa - pb || (na < nb ? -1 : na > nb ? 1 : 0);
  });
  const out = inv.groups.has('all') ? ['all', ...sorted] : sorted;
  graph.ancestry.set(key, out);
  return out;
}

/**
 * A host's variables merged as Ansible does with the default hash_behaviour=replace (a later
 * layer replaces a key wholesale): `base` < 'all' < groups by `groupAncestry` < group_vars/all
 * files < group_vars/<group> files < host inventory vars < host_vars files.
 */
export function hostVars(
  inv: Inventory,
  host: string,
  base: Record<string, unknown> = {},
  graph?: GroupGraph,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const layer of hostLayers(inv, host, graph)) Object.assign(out, layer.vars);
  return out;
}

/** The layers `hostVars` merges, lowest precedence first (none for an unknown host). */
function hostLayers(inv: Inventory, host: string, graph?: GroupGraph): Layer[] {
  const h = inv.hosts.get(host);
  if (!h) return [];
  const groups = groupAncestry(inv, host, graph)
    .map((g) => inv.groups.get(g))
    .filter((g): g is InventoryGroup => g !== undefined);
  const own = (l: VarLayers): Layer => ({ vars: l.inventory, sites: l.inventorySites });
  const files = (l: VarLayers): Layer => ({ vars: l.files, sites: l.fileSites });
  return [
    ...groups.map((g) => own(layers(g))),
    ...groups.map((g) => files(layers(g))),
    own(layers(h)),
    files(layers(h)),
  ];
}

/** A host variable as `hostVars` resolves it, with where the winning value was written. */
export interface VarSource {
  value: unknown;
  /** Absent when the parser did not record a position for it. */
  site?: VarSite;
}

/** `hostVars` (without `base`), each value with its site: where a diagnostic about it points. */
export function hostVarSources(
  inv: Inventory,
  host: string,
  graph?: GroupGraph,
): Map<string, VarSource> {
  const out = new Map<string, VarSource>();
  for (const layer of hostLayers(inv, host, graph)) {
    for (const [k, value] of Object.entries(layer.vars)) {
      const site = layer.sites?.[k];
      out.set(k, site ? { value, site } : { value });
    }
  }
  return out;
}

/** One variable of a host as `hostVarSources` resolves it, without merging the others. */
export function hostVarSource(
  inv: Inventory,
  host: string,
  name: string,
  graph?: GroupGraph,
): VarSource | undefined {
  let out: VarSource | undefined;
  for (const layer of hostLayers(inv, host, graph)) {
    if (!Object.hasOwn(layer.vars, name)) continue;
    const value = layer.vars[name];
    const site = layer.sites?.[name];
    out = site ? { value, site } : { value };
  }
  return out;
}

/** Whether any group or host of the inventory sets `name`, in any layer (one walk, no merge). */
export function inventorySets(inv: Inventory, name: string): boolean {
  const sets = (e: InventoryGroup | InventoryHost): boolean => {
    const l = layers(e);
    return Object.hasOwn(l.inventory, name) || Object.hasOwn(l.files, name);
  };
  for (const g of inv.groups.values()) if (sets(g)) return true;
  for (const h of inv.hosts.values()) if (sets(h)) return true;
  return false;
}
