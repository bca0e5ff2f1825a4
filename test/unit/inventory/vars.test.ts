import { describe, expect, it } from 'vitest';
import { inventoryToAnsibleList } from '../../../src/inventory/ansible-list.ts';
import { parseInventory } from '../../../src/inventory/parse.ts';
import { groupGraph } from '../../../src/inventory/graph.ts';
import { groupAncestry, hostVars } from '../../../src/inventory/vars.ts';

function ini(text: string) {
  const { inventory, diagnostics } = parseInventory('i.ini', text);
  expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return inventory;
}

describe('groupAncestry', () => {
  it('orders by depth, then ansible_group_priority, then ASCII name', () => {
    const inv = ini(
      [
        '[b]\nh', // depth 1
        '[a]\nh', // depth 1, but priority 3
        '[Z]\nh', // depth 1: 'Z' < 'b' in ASCII
        '[leaf]\nh',
        '[mid:children]\nleaf',
        '[top:children]\nmid',
        '[a:vars]\nansible_group_priority=3',
      ].join('\n'),
    );
    expect(groupAncestry(inv, 'h')).toEqual(['all', 'Z', 'b', 'top', 'a', 'mid', 'leaf']);
  });

  it('uses the longest path from all as the depth', () => {
    const inv = ini('[x:children]\ny\n[y:children]\nz\n[z]\nh\n[w:children]\nz\n');
    // z is at depth 3 through x → y, even though w → z is shorter.
    expect(groupAncestry(inv, 'h')).toEqual(['all', 'w', 'x', 'y', 'z']);
  });

  it('includes ungrouped for ungrouped hosts, and nothing for unknown hosts', () => {
    const inv = ini('h\n');
    expect(groupAncestry(inv, 'h')).toEqual(['all', 'ungrouped']);
    expect(groupAncestry(inv, 'nope')).toEqual([]);
  });

  it('walks the graph once for the hosts that share their groups (one graph for the inventory)', () => {
    const hosts = (g: string, n: number) =>
      Array.from({ length: n }, (_, i) => `${g}${String(i)}`).join('\n');
    const inv = ini(
      `[web]\n${hosts('w', 50)}\n[db]\n${hosts('d', 50)}\nboth\n[web:children]\nedge\n[edge]\nboth\n[prod:children]\nweb\ndb\n`,
    );
    const graph = groupGraph(inv);
    for (const h of inv.hosts.keys()) {
      expect(groupAncestry(inv, h, graph)).toEqual(groupAncestry(inv, h));
      expect(hostVars(inv, h, {}, graph)).toEqual(hostVars(inv, h));
    }
    // web's hosts, db's hosts, and `both` (in db and edge): three walks for 101 hosts
    expect(graph.ancestry.size).toBe(3);
    expect(groupAncestry(inv, 'both', graph)).toEqual(['all', 'prod', 'db', 'web', 'edge']);
  });
});

describe('hostVars', () => {
  const inv = ini(
    [
      '[web]',
      'w1 role=host',
      'w2',
      '[prod:children]',
      'web',
      '[web:vars]',
      'role=web',
      'web_only={"a": 1}',
      '[prod:vars]',
      'role=prod',
      'env=prod',
      'web_only={"b": 2}',
      '[all:vars]',
      'role=all',
      'ansible_user=deploy',
    ].join('\n'),
  );

  it('merges base < all < parent < child < host, replacing values wholesale', () => {
    expect(hostVars(inv, 'w1', { ansible_user: 'root', ansible_port: 22 })).toEqual({
      ansible_user: 'deploy',
      ansible_port: 22,
      role: 'host',
      env: 'prod',
      web_only: { a: 1 },
    });
    expect(hostVars(inv, 'w2').role).toBe('web');
  });

  it('puts group_vars files above every inventory group var, as Ansible does', () => {
    const prod = inv.groups.get('prod');
    if (!prod) throw new Error('no prod');
    const copy = structuredClone(inv);
    const p = copy.groups.get('prod');
    if (!p) throw new Error('no prod');
    p.layers = { inventory: prod.vars, files: { role: 'group_vars/prod' } };
    p.vars = { ...prod.vars, role: 'group_vars/prod' };
    // The parent's file beats the child's inventory vars, but not the host's own.
    expect(hostVars(copy, 'w2').role).toBe('group_vars/prod');
    expect(hostVars(copy, 'w1').role).toBe('host');
  });

  it('returns only the base for an unknown host', () => {
    expect(hostVars(inv, 'nope', { a: 1 })).toEqual({ a: 1 });
  });
});

describe('inventoryToAnsibleList', () => {
  it('omits empty groups as keys but keeps them as children, and all.hosts', () => {
    const inv = ini('top\n[p:children]\nempty\nc\n[empty]\n[c]\nh x=1\n');
    expect(inventoryToAnsibleList(inv)).toEqual({
      _meta: { hostvars: { h: { x: 1 } } },
      all: { children: ['ungrouped', 'p'] },
      ungrouped: { hosts: ['top'] },
      p: { children: ['empty', 'c'] },
      c: { hosts: ['h'] },
    });
  });
});
