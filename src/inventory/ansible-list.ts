/**
 * The JSON that `ansible-inventory -i INV --list` prints, built from an Inventory, so that
 * compatibility with Ansible can be checked structurally. Pure.
 */
import { groupGraph, groupHosts } from './graph.ts';
import type { Inventory } from './types.ts';
import { hostVars } from './vars.ts';

/** Variables ansible-inventory strips from its output (cli/inventory.py INTERNAL_VARS). */
const ANSIBLE_INTERNAL_VARS: readonly string[] = [
  'ansible_diff_mode',
  'ansible_config_file',
  'ansible_facts',
  'ansible_forks',
  'ansible_inventory_sources',
  'ansible_limit',
  'ansible_playbook_python',
  'ansible_run_tags',
  'ansible_skip_tags',
  'ansible_verbosity',
  'ansible_version',
  'inventory_dir',
  'inventory_file',
  'inventory_hostname',
  'inventory_hostname_short',
  'groups',
  'group_names',
  'omit',
  'playbook_dir',
];

export interface AnsibleListGroup {
  hosts?: string[];
  children?: string[];
}

export interface AnsibleList {
  _meta: { hostvars: Record<string, Record<string, unknown>> };
  [group: string]: AnsibleListGroup | { hostvars: Record<string, Record<string, unknown>> };
}

export function inventoryToAnsibleList(inv: Inventory): AnsibleList {
  const groups: Record<string, AnsibleListGroup> = {};
  const seen = new Set<string>();
  const format = (name: string): void => {
    const g = inv.groups.get(name);
    if (!g) return;
    const entry: AnsibleListGroup = {};
    if (name !== 'all' && g.hosts.length > 0) entry.hosts = [...g.hosts];
    for (const c of g.children) {
      if (!seen.has(c)) {
        format(c);
        seen.add(c);
      }
    }
    if (g.children.length > 0) entry.children = [...g.children];
    // ansible-inventory drops empty lists, then the group itself if nothing is left.
    if (entry.hosts || entry.children) groups[name] = entry;
  };
  format('all');

  const hostvars: Record<string, Record<string, unknown>> = {};
  // ansible-inventory lists hosts in the order of the 'all' group (then any stray host).
  const order = new Set([...groupHosts(inv, 'all'), ...inv.hosts.keys()]);
  const graph = groupGraph(inv);
  for (const h of order) {
    const vars = Object.fromEntries(
      Object.entries(hostVars(inv, h, {}, graph)).filter(
        ([k]) => !ANSIBLE_INTERNAL_VARS.includes(k),
      ),
    );
    if (Object.keys(vars).length > 0) hostvars[h] = vars;
  }
  return { ...groups, _meta: { hostvars } };
}
