/** Walking the group graph as Ansible's Group does (ancestors, depth, descendants, hosts). Pure. */
import type { Inventory } from './types.ts';
import { pushAll } from '../util/arrays.ts';

export function parentsMap(inv: Inventory): Map<string, string[]> {
  const parents = new Map<string, string[]>();
  for (const g of inv.groups.keys()) parents.set(g, []);
  for (const g of inv.groups.values()) {
    for (const c of g.children) parents.get(c)?.push(g.name);
  }
  return parents;
}

/** Every ancestor of a group (not the group itself). */
export function ancestorsOf(parents: Map<string, string[]>, group: string): Set<string> {
  const seen = new Set<string>();
  const stack = [...(parents.get(group) ?? [])];
  while (stack.length > 0) {
    const g = stack.pop() ?? '';
    if (seen.has(g)) continue;
    seen.add(g);
    pushAll(stack, parents.get(g) ?? []);
  }
  return seen;
}

/** Group depth as Ansible computes it: the longest path from a root ('all' is 0). */
export function depths(inv: Inventory, parents = parentsMap(inv)): Map<string, number> {
  const memo = new Map<string, number>();
  const visiting = new Set<string>();
  const depth = (g: string): number => {
    const known = memo.get(g);
    if (known !== undefined) return known;
    if (visiting.has(g)) return 0; // a loop (never built by the parsers): cut it
    visiting.add(g);
    let d = 0;
    for (const p of parents.get(g) ?? []) d = Math.max(d, depth(p) + 1);
    visiting.delete(g);
    memo.set(g, d);
    return d;
  };
  for (const g of inv.groups.keys()) depth(g);
  return memo;
}

/**
 * The group graph of a loaded inventory, walked once for every host: each group's parents and
 * depth, and each distinct set of direct groups' ancestry (`groupAncestry`), which the hosts of
 * a fleet share. Made for an inventory that no longer changes; one made before a change to its
 * groups does not see it.
 */
export interface GroupGraph {
  parents: Map<string, string[]>;
  depth: Map<string, number>;
  /** Direct groups (joined by NUL) → ancestry, as `groupAncestry` returns it. */
  ancestry: Map<string, readonly string[]>;
}

export function groupGraph(inv: Inventory): GroupGraph {
  const parents = parentsMap(inv);
  return { parents, depth: depths(inv, parents), ancestry: new Map() };
}

/**
 * `get_descendants(include_self=True, preserve_ordering=True)`: the group, its children, then
 * their children level by level. (Ansible walks each level through a Python set, so with several
 * parents on one level its order varies from run to run; this takes them in list order.)
 */
function descendants(inv: Inventory, group: string): string[] {
  const start = inv.groups.get(group);
  if (!start) return [];
  const ordered = [group, ...start.children];
  const seen = new Set<string>();
  let level = [...new Set(start.children)];
  while (level.length > 0) {
    for (const g of level) seen.add(g);
    const next: string[] = [];
    for (const g of level) {
      for (const c of inv.groups.get(g)?.children ?? []) {
        if (seen.has(c)) continue;
        if (!ordered.includes(c)) ordered.push(c);
        if (!next.includes(c)) next.push(c);
      }
    }
    level = next;
  }
  return [...new Set(ordered)];
}

/** `Group.get_hosts()`: hosts of the group and all its descendants, first occurrence wins. */
export function groupHosts(inv: Inventory, group: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const g of descendants(inv, group)) {
    for (const h of inv.groups.get(g)?.hosts ?? []) {
      if (seen.has(h)) continue;
      seen.add(h);
      out.push(h);
    }
  }
  return out;
}
