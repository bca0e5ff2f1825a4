import { describe, expect, it } from 'vitest';
import { parseInventory } from '../../../src/inventory/parse.ts';

function errors(file: string, text: string) {
  return parseInventory(file, text).diagnostics.map((d) => ({
    severity: d.severity,
    code: d.code,
    at: d.pos ? `${d.pos.line}:${d.pos.col}` : undefined,
    line: d.lineText,
    message: d.message,
  }));
}

describe('INI', () => {
  it('reads sections, ungrouped hosts, ports, typed inline vars and :vars', () => {
    const { inventory, diagnostics } = parseInventory(
      'hosts.ini',
      [
        'loose:2200 n=1 s="two words"',
        '[web]',
        'web1 ansible_host=192.0.2.1 debug=True mode=0644',
        '[web:vars]',
        'http_port = 8080',
        'flag=FALSE ',
        'ansible_group_priority=7',
      ].join('\n'),
    );
    expect(diagnostics).toEqual([]);
    expect([...inventory.hosts.keys()]).toEqual(['loose', 'web1']);
    expect(inventory.hosts.get('loose')).toMatchObject({
      vars: { ansible_port: 2200, n: 1, s: 'two words' },
      groups: ['ungrouped'],
      line: 1,
      col: 1,
    });
    expect(inventory.hosts.get('web1')?.vars).toEqual({
      ansible_host: '192.0.2.1',
      debug: true,
      mode: '0644',
    });
    const web = inventory.groups.get('web');
    expect(web?.vars).toEqual({ http_port: 8080, flag: 'FALSE' });
    expect(web?.priority).toBe(7);
    expect(inventory.groups.get('all')?.children).toEqual(['ungrouped', 'web']);
  });

  it('sets ansible_port only where the host is first defined, as Ansible does', () => {
    const { inventory } = parseInventory('i.ini', '[a]\nh1:22\n[b]\nh1:2222 x=1\n');
    expect(inventory.hosts.get('h1')?.vars).toEqual({ ansible_port: 22, x: 1 });
    expect(inventory.hosts.get('h1')?.groups).toEqual(['a', 'b']);
  });

  it('takes a host out of ungrouped once it is in a real group', () => {
    const { inventory } = parseInventory('i.ini', 'h1\nh2\n[g]\nh1\n');
    expect(inventory.groups.get('ungrouped')?.hosts).toEqual(['h2']);
    expect(inventory.hosts.get('h1')?.groups).toEqual(['g']);
  });

  it('accepts children declared before the group itself', () => {
    const { inventory, diagnostics } = parseInventory('i.ini', '[p:children]\nc\n[c]\nh\n');
    expect(diagnostics).toEqual([]);
    expect(inventory.groups.get('p')?.children).toEqual(['c']);
  });

  it('reports every bad line with line:col and the line itself', () => {
    expect(
      errors(
        'hosts.ini',
        [
          '[web]',
          'web1 foo',
          '[db:vars]',
          'x=1',
          '[app:children]',
          'nope',
          '[bad:type]',
          '[a b]',
          '[web]',
          'w[01:5] x="open',
          'h2:',
        ].join('\n'),
      ),
    ).toEqual([
      {
        severity: 'error',
        code: 'inventory/ini-syntax',
        at: '2:6',
        line: 'web1 foo',
        message: 'expected key=value host variable assignment, got: foo',
      },
      {
        severity: 'error',
        code: 'inventory/undefined-group',
        at: '3:2',
        line: '[db:vars]',
        message: 'section [db:vars] is not valid for undefined group: db',
      },
      {
        severity: 'error',
        code: 'inventory/undefined-group',
        at: '6:1',
        line: 'nope',
        message: 'section [app:children] includes undefined group: nope',
      },
      {
        severity: 'error',
        code: 'inventory/ini-section',
        at: '7:6',
        line: '[bad:type]',
        message: 'section [bad:type] has unknown type: type',
      },
      {
        severity: 'error',
        code: 'inventory/ini-section',
        at: '8:1',
        line: '[a b]',
        message: "invalid section entry '[a b]'",
      },
      {
        severity: 'error',
        code: 'inventory/ini-syntax',
        at: '10:11',
        line: 'w[01:5] x="open',
        message: 'cannot parse host definition: no closing quotation',
      },
      {
        severity: 'error',
        code: 'inventory/host-pattern',
        at: '11:1',
        line: 'h2:',
        message:
          "invalid host pattern 'h2:': ending in ':' is not allowed, this character is reserved to provide a port",
      },
    ]);
  });

  it('reports a range error at the host token, indented lines included', () => {
    expect(errors('i.ini', '[g]\n   w[01:5] a=1\n')).toMatchObject([
      {
        code: 'inventory/host-pattern',
        at: '2:4',
        message: 'host range must specify equal-length begin and end formats',
      },
    ]);
  });

  it('reports a children loop as an error and keeps the rest', () => {
    const r = parseInventory('i.ini', '[a:children]\nb\n[b:children]\na\n[b]\nh\n');
    expect(r.diagnostics).toMatchObject([
      {
        code: 'inventory/cycle',
        pos: { line: 4, col: 1 },
        message: "adding group 'a' as child to 'b' creates a recursive dependency loop",
      },
    ]);
    expect(r.inventory.groups.get('a')?.children).toEqual(['b']);
    expect(r.inventory.groups.get('b')?.children).toEqual([]);
  });

  it('is never parsed as YAML when named .ini', () => {
    const r = parseInventory('i.ini', 'all:\n  hosts:\n');
    expect(r.diagnostics[0]?.code).toBe('inventory/host-pattern');
  });
});

describe('YAML', () => {
  it('reads groups, null bodies, YAML 1.1 scalars as PyYAML does, and string host lists', () => {
    const { inventory, diagnostics } = parseInventory(
      'inv.yml',
      [
        'all:',
        '  vars: {on_flag: on, y_is_text: y, mode: 0644, exp: 1e3}',
        '  children:',
        '    web:',
        '      hosts:',
        '        web[1:2]:2222:',
        '          ansible_user: ops',
        '    db:',
        '      hosts: db1',
        '    empty:',
      ].join('\n'),
    );
    expect(diagnostics).toEqual([]);
    expect(inventory.groups.get('all')?.vars).toEqual({
      on_flag: true,
      y_is_text: 'y',
      mode: 420,
      exp: '1e3',
    });
    expect(inventory.hosts.get('web2')).toMatchObject({
      vars: { ansible_port: 2222, ansible_user: 'ops' },
      groups: ['web'],
      line: 6,
      col: 9,
    });
    expect(inventory.groups.get('db')?.hosts).toEqual(['db1']);
    expect(inventory.groups.get('all')?.children).toEqual(['ungrouped', 'web', 'db', 'empty']);
  });

  it('warns on duplicate keys, keeping the last value as Ansible does', () => {
    const r = parseInventory('inv.yml', 'all:\n  vars:\n    a: 1\n    a: 2\n');
    expect(r.inventory.groups.get('all')?.vars).toEqual({ a: 2 });
    expect(errors('inv.yml', 'all:\n  vars:\n    a: 1\n    a: 2\n')).toEqual([
      {
        severity: 'warning',
        code: 'inventory/duplicate-key',
        at: '4:5',
        line: '    a: 2',
        message: "duplicate key 'a': the last value is used, as Ansible does",
      },
    ]);
  });

  it('reports structure errors at the offending node', () => {
    expect(errors('inv.yml', 'all:\n  hosts:\n    - web1\n')).toMatchObject([
      {
        code: 'inventory/yaml-structure',
        at: '3:5',
        message: 'invalid "hosts" entry for group "all": requires a mapping, found a list',
      },
    ]);
    expect(errors('inv.yml', 'web:\n  hosts:\n    80:\n')).toMatchObject([
      { code: 'inventory/host-pattern', at: '3:5', message: 'host pattern 80 must be a string' },
    ]);
    expect(errors('inv.yml', 'web:\n  hostz:\n    h:\n')).toMatchObject([
      { severity: 'warning', at: '2:3' },
    ]);
  });

  it('reports a YAML syntax error with its position for a .yml file', () => {
    expect(errors('inv.yml', 'all:\n  vars:\n    a: "unterminated\n')).toMatchObject([
      {
        severity: 'error',
        code: 'inventory/yaml-syntax',
        at: '3:21',
        line: '    a: "unterminated',
      },
    ]);
    expect(errors('inv.yml', 'all:\n  a: b: c\n')).toMatchObject([
      {
        code: 'inventory/yaml-syntax',
        at: '2:6',
        message: 'Nested mappings are not allowed in compact mappings',
      },
    ]);
  });

  it('falls back to INI for an extensionless file that is not a YAML mapping', () => {
    const r = parseInventory('hosts', '[web]\nweb1\n');
    expect(r.diagnostics).toEqual([]);
    expect(r.inventory.groups.get('web')?.hosts).toEqual(['web1']);
  });

  it('reports a cycle through children', () => {
    const d = errors('inv.yml', 'a:\n  children:\n    b:\n      children:\n        a:\n');
    expect(d).toMatchObject([{ code: 'inventory/cycle', at: '3:5' }]);
  });

  it('rejects inventory plugin configuration files', () => {
    expect(errors('aws_ec2.yml', 'plugin: amazon.aws.aws_ec2\n')).toMatchObject([
      { code: 'inventory/plugin-config', at: '1:1' },
    ]);
  });
});

describe('robustness', () => {
  it('never throws on hostile input', () => {
    const nested = 'h x=' + '['.repeat(20000) + '\n';
    expect(() => parseInventory('i.ini', nested)).not.toThrow();
    expect(parseInventory('i.ini', nested).inventory.hosts.get('h')?.vars['x']).toMatch(/^\[+$/);
    const r = parseInventory('i.ini', '[g]\nh[1:99999999]\n');
    expect(r.diagnostics[0]?.message).toMatch(/more than 100000 hosts/);
    const bomb =
      'a: &a [x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nall:\n  vars:\n    d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n';
    expect(() => parseInventory('i.yml', bomb)).not.toThrow();
  });
});
