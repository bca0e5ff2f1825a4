/** Variable precedence for one host, as Ansible's VariableManager merges inventory vars. Pure. */
import { ancestorsOf, depths, parentsMap } from './graph.ts';
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
 * Empty for an unknown host.
 */
export function groupAncestry(inv: Inventory, host: string): string[] {
  const h = inv.hosts.get(host);
  if (!h) return [];
  const parents = parentsMap(inv);
  const mine = new Set<string>();
  for (const g of h.groups) {
    mine.add(g);
    for (const a of ancestorsOf(parents, g)) mine.add(a);
  }
  mine.delete('all');
  const depth = depths(inv);
  const key = (g: string): [number, number, string] => [
    depth.get(g) ?? 0,
    inv.groups.get(g)?.priority ?? 1,
    g,
  ];
  const sorted = [...mine].sort((a, b) => {
    const [da, pa, na] = key(a);
    const [db, pb, nb] = key(b);
    return da - db || pa - pb || (na < nb ? -1 : na > nb ? 1 : 0);
  });
  return inv.groups.has('all') ? ['all', ...sorted] : sorted;
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
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const layer of hostLayers(inv, host)) Object.assign(out, layer.vars);
  return out;
}

/** The layers `hostVars` merges, lowest precedence first (none for an unknown host). */
function hostLayers(inv: Inventory, host: string): Layer[] {
  const h = inv.hosts.get(host);
  if (!h) return [];
  const groups = groupAncestry(inv, host)
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
export function hostVarSources(inv: Inventory, host: string): Map<string, VarSource> {
  const out = new Map<string, VarSource>();
  for (const layer of hostLayers(inv, host)) {
    for (const [k, value] of Object.entries(layer.vars)) {
      const site = layer.sites?.[k];
      out.set(k, site ? { value, site } : { value });
    }
  }
  return out;
}
