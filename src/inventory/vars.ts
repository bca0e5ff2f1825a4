/** Variable precedence for one host, as Ansible's VariableManager merges inventory vars. Pure. */
import { ancestorsOf, depths, parentsMap } from './graph.ts';
import type { Inventory, InventoryGroup, InventoryHost, VarLayers } from './types.ts';

function layers(entity: InventoryGroup | InventoryHost): VarLayers {
  return entity.layers ?? { inventory: entity.vars, files: {} };
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
  const h = inv.hosts.get(host);
  const out: Record<string, unknown> = { ...base };
  if (!h) return out;
  const groups = groupAncestry(inv, host)
    .map((g) => inv.groups.get(g))
    .filter((g): g is InventoryGroup => g !== undefined);
  for (const g of groups) Object.assign(out, layers(g).inventory);
  for (const g of groups) Object.assign(out, layers(g).files);
  Object.assign(out, layers(h).inventory, layers(h).files);
  return out;
}
