/** The inventory model: what an Ansible INI or YAML inventory file describes. */

/** Where a variable was written: the file (as the user named it) and the 1-based position of its name. */
export interface VarSite {
  file: string;
  line: number;
  col: number;
}

/** Where each variable of a `vars` record was written, by name (parallel to the record). */
export type VarSites = Record<string, VarSite>;

export interface InventoryHost {
  /** The inventory alias (what patterns match; `ansible_host` may give another address). */
  name: string;
  /**
   * The host's own vars: inline/inventory vars, then host_vars/ files over them. Group vars are
   * not included; see `hostVars` in vars.ts for the merged view.
   */
  vars: Record<string, unknown>;
  /** Groups the host is directly a member of, in file order ('ungrouped' included, 'all' not). */
  groups: string[];
  /** 1-based line of the first definition. */
  line?: number;
  col?: number;
  /**
   * Only when host_vars/ files contributed: the two layers that make up `vars`, which Ansible
   * keeps apart for precedence (inventory vars < host_vars files).
   */
  layers?: VarLayers;
  /** Where each of `vars` was written, where known (diagnostics point there). */
  varSites?: VarSites;
}

export interface InventoryGroup {
  name: string;
  /** Hosts directly in the group, in file order. */
  hosts: string[];
  /** Child groups, in file order. */
  children: string[];
  /** The group's own vars (inventory, then group_vars/ files over them). */
  vars: Record<string, unknown>;
  line?: number;
  col?: number;
  /** `ansible_group_priority` from the inventory file (default 1); higher wins at equal depth. */
  priority?: number;
  /** As for hosts: only when group_vars/ files contributed. */
  layers?: VarLayers;
  /** Where each of `vars` was written, where known. */
  varSites?: VarSites;
}

export interface VarLayers {
  /** Vars from the inventory file itself. */
  inventory: Record<string, unknown>;
  /** Vars from group_vars/ or host_vars/ files, merged in Ansible's file order. */
  files: Record<string, unknown>;
  /** Where the vars of each layer were written. */
  inventorySites?: VarSites;
  fileSites?: VarSites;
}

export interface Inventory {
  /** The file as the user named it. */
  file: string;
  /** Hosts in inventory order (order of first definition). */
  hosts: Map<string, InventoryHost>;
  /** Groups in Ansible's order ('all', 'ungrouped', then order of first mention). */
  groups: Map<string, InventoryGroup>;
}
