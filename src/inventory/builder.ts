/**
 * Building an Inventory the way Ansible's InventoryData does (add_group, add_host, add_child,
 * set_variable, reconcile_inventory), collecting Diagnostics instead of raising. Pure.
 */
import type { Diagnostic, Position } from '../diagnostics.ts';
import type { SourceText } from '../util/source.ts';
import type { Inventory, InventoryGroup, InventoryHost, VarSites } from './types.ts';
import { pushAll } from '../util/arrays.ts';
import { isPrintableAscii, onFirstUse } from '../util/ascii.ts';

/** A position: a character offset into the source, or a line:col. */
export type At = number | Position | undefined;

/** Python's `int(value)` as `set_priority(int(value))` uses it; undefined where Python raises. */
function pythonInt(value: unknown): number | undefined {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') return Number.isFinite(value) ? Math.trunc(value) : undefined;
  if (typeof value === 'string') {
    const t = value.trim();
    return /^[+-]?[0-9](?:_?[0-9])*$/.test(t)
      ? Number.parseInt(t.replace(/_/g, ''), 10)
      : undefined;
  }
  return undefined;
}

/** Ansible's INVALID_VARIABLE_NAMES: a group name that is not a valid variable name. */
export const invalidGroupChars = onFirstUse(
  () => /^[^\p{L}\p{Mn}\p{Pc}]|[^\p{L}\p{N}\p{Mn}\p{Pc}]/u,
);
/** The same over printable ASCII, where its letters are [A-Za-z], its digits [0-9], `_` its one connector. */
const INVALID_ASCII_GROUP_CHARS = /^[^A-Za-z_]|[^A-Za-z0-9_]/;

/** Whether a group name is not a valid variable name (Ansible warns). */
export function invalidGroupName(name: string): boolean {
  return isPrintableAscii(name)
    ? INVALID_ASCII_GROUP_CHARS.test(name)
    : invalidGroupChars().test(name);
}

/**
 * What several files of one inventory (a directory, as Ansible's InventoryData) build together:
 * each file's builder adds to it, and `reconcile` runs once after the last.
 */
export interface SharedInventory {
  inventory: Inventory;
  parents: Map<string, string[]>;
  /** The file that first defined each host (where a warning about it points). */
  hostFiles: Map<string, string>;
}

export function newSharedInventory(file: string): SharedInventory {
  return {
    inventory: { file, hosts: new Map(), groups: new Map() },
    parents: new Map(),
    hostFiles: new Map(),
  };
}

export class InventoryBuilder {
  readonly inventory: Inventory;
  readonly diagnostics: Diagnostic[] = [];
  readonly src: SourceText;
  private readonly parents: Map<string, string[]>;
  private readonly hostFiles: Map<string, string>;
  /** Set when this builder adds one file to a shared inventory: `finish` leaves reconciling to the caller. */
  private readonly shared: boolean;

  constructor(src: SourceText, shared?: SharedInventory) {
    this.src = src;
    const into = shared ?? newSharedInventory(src.file);
    this.shared = shared !== undefined;
    this.inventory = into.inventory;
    this.parents = into.parents;
    this.hostFiles = into.hostFiles;
    this.addGroup('all', undefined);
    this.addGroup('ungrouped', undefined);
    this.addChild('all', 'ungrouped', undefined);
  }

  error(code: string, message: string, at: At, hint?: string): void {
    this.diagnostics.push(this.src.diagnostic('error', code, message, at, hint));
  }

  warning(code: string, message: string, at: At, hint?: string): void {
    this.diagnostics.push(this.src.diagnostic('warning', code, message, at, hint));
  }

  private pos(at: At): Position | undefined {
    return typeof at === 'number' ? this.src.position(at) : at;
  }

  /** Remembers where `key` of `entity` was written (diagnostics about its value point there). */
  private site(entity: { varSites?: VarSites }, key: string, at: At): void {
    const p = this.pos(at);
    if (p === undefined) {
      if (entity.varSites) Reflect.deleteProperty(entity.varSites, key);
      return;
    }
    entity.varSites ??= {};
    entity.varSites[key] = { file: this.src.file, line: p.line, col: p.col };
  }

  addGroup(name: string, at: At): InventoryGroup {
    const existing = this.inventory.groups.get(name);
    if (existing) return existing;
    const group: InventoryGroup = { name, hosts: [], children: [], vars: {} };
    const p = this.pos(at);
    if (p) {
      group.line = p.line;
      group.col = p.col;
    }
    this.inventory.groups.set(name, group);
    this.parents.set(name, []);
    if (invalidGroupName(name)) {
      this.warning(
        'inventory/group-name',
        `invalid character(s) in group name '${name}'`,
        at,
        'Ansible keeps the name but warns; use letters, digits and underscores (not first a digit)',
      );
    }
    return group;
  }

  /** `add_host(host, group, port)`: the port only applies when the host is first created. */
  addHost(
    name: string,
    group: string | undefined,
    port: number | undefined,
    at: At,
  ): InventoryHost {
    let host = this.inventory.hosts.get(name);
    if (!host) {
      host = { name, vars: {}, groups: [] };
      const p = this.pos(at);
      if (p) {
        host.line = p.line;
        host.col = p.col;
      }
      this.hostFiles.set(name, this.src.file);
      if (port !== undefined && port !== 0) {
        host.vars['ansible_port'] = port;
        this.site(host, 'ansible_port', at);
      }
      this.inventory.hosts.set(name, host);
    }
    if (group !== undefined) this.addHostToGroup(host, group);
    return host;
  }

  private addHostToGroup(host: InventoryHost, groupName: string): void {
    const group = this.inventory.groups.get(groupName);
    if (!group) return;
    // host.groups holds every group it is in but `all`: a lookup in it stays cheap at any size
    if (groupName === 'all' ? group.hosts.includes(host.name) : host.groups.includes(groupName))
      return;
    group.hosts.push(host.name);
    if (groupName !== 'all') host.groups.push(groupName);
  }

  setGroupVar(groupName: string, key: string, value: unknown, at: At): void {
    const group = this.inventory.groups.get(groupName);
    if (!group) return;
    if (key === 'ansible_group_priority') {
      const n = pythonInt(value);
      if (n === undefined) {
        this.error(
          'inventory/group-priority',
          `ansible_group_priority of group '${groupName}' must be an integer, got ${JSON.stringify(value)}`,
          at,
        );
      } else group.priority = n;
      return;
    }
    group.vars[key] = value;
    this.site(group, key, at);
  }

  setHostVar(hostName: string, key: string, value: unknown, at: At): void {
    const host = this.inventory.hosts.get(hostName);
    if (!host) return;
    host.vars[key] = value;
    this.site(host, key, at);
  }

  ancestors(groupName: string): Set<string> {
    const seen = new Set<string>();
    const stack = [...(this.parents.get(groupName) ?? [])];
    while (stack.length > 0) {
      const g = stack.pop() ?? '';
      if (seen.has(g)) continue;
      seen.add(g);
      pushAll(stack, this.parents.get(g) ?? []);
    }
    return seen;
  }

  /** `add_child(group, child)` for a child group; a loop is an error and the edge is dropped. */
  addChild(parentName: string, childName: string, at: At): boolean {
    const parent = this.inventory.groups.get(parentName);
    const child = this.inventory.groups.get(childName);
    if (!parent || !child) return false;
    if (parentName === childName) {
      this.error('inventory/cycle', `group '${parentName}' cannot be a child of itself`, at);
      return false;
    }
    if (parent.children.includes(childName)) return false;
    if (this.ancestors(parentName).has(childName)) {
      this.error(
        'inventory/cycle',
        `adding group '${childName}' as child to '${parentName}' creates a recursive dependency loop`,
        at,
      );
      return false;
    }
    parent.children.push(childName);
    const ps = this.parents.get(childName);
    if (ps && !ps.includes(parentName)) ps.push(parentName);
    return true;
  }

  /** The end of one file: the inventory, reconciled unless it is shared with other files. */
  finish(): Inventory {
    return this.shared ? this.inventory : this.reconcile();
  }

  /** `reconcile_inventory`: top-level groups under 'all', 'ungrouped' fixed up, name clashes. */
  reconcile(): Inventory {
    const { groups, hosts } = this.inventory;
    for (const g of groups.values()) {
      if (g.name !== 'all' && this.ancestors(g.name).size === 0)
        this.addChild('all', g.name, undefined);
    }
    const ungrouped = groups.get('ungrouped');
    for (const host of hosts.values()) {
      const mine = new Set<string>();
      for (const g of host.groups) {
        mine.add(g);
        for (const a of this.ancestors(g)) mine.add(a);
      }
      if (groups.get('all')?.hosts.includes(host.name)) mine.add('all');
      if (mine.has('ungrouped')) {
        const others = [...mine].some((g) => g !== 'all' && g !== 'ungrouped');
        if (others && ungrouped !== undefined && host.groups.includes('ungrouped')) {
          ungrouped.hosts = ungrouped.hosts.filter((h) => h !== host.name);
          host.groups = host.groups.filter((g) => g !== 'ungrouped');
        }
      } else if (mine.size === 0 || (mine.size === 1 && mine.has('all'))) {
        this.addHostToGroup(host, 'ungrouped');
      }
    }
    for (const host of hosts.values()) {
      if (groups.has(host.name)) {
        const at = host.line === undefined ? undefined : { line: host.line, col: host.col ?? 1 };
        const file = this.hostFiles.get(host.name) ?? this.src.file;
        const message = `found both group and host with same name: ${host.name}`;
        const hint = 'a pattern naming it selects the host, but &/! terms select the group';
        if (file === this.src.file) this.warning('inventory/host-group-clash', message, at, hint);
        else {
          const d: Diagnostic = {
            severity: 'warning',
            code: 'inventory/host-group-clash',
            message,
            file,
            hint,
          };
          if (at !== undefined) d.pos = at;
          this.diagnostics.push(d);
        }
      }
    }
    return this.inventory;
  }
}
