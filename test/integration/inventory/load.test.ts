import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadInventory } from '../../../src/inventory/load.ts';
import { hostVars } from '../../../src/inventory/vars.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kpfleet-inv-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(rel: string, text: string): string {
  const p = join(dir, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, text);
  return p;
}

describe('loadInventory', () => {
  it('reports an unreadable inventory as a diagnostic, not a throw', () => {
    const r = loadInventory(join(dir, 'missing.ini'), 'missing.ini');
    expect(r.diagnostics).toEqual([
      expect.objectContaining({
        severity: 'error',
        code: 'inventory/unreadable',
        file: 'missing.ini',
      }),
    ]);
    expect([...r.inventory.groups.keys()]).toEqual(['all', 'ungrouped']);
    expect(loadInventory(dir).diagnostics[0]?.message).toMatch(/directory/);
  });

  it('layers group_vars and host_vars files with Ansible precedence', () => {
    const inv = write(
      'inventory.ini',
      '[web]\nw1 role=inline\nw2\n[prod:children]\nweb\n[web:vars]\nrole=web\n',
    );
    write('group_vars/prod.yml', 'role: prod-file\nprod: yes\n');
    write('group_vars/web/a.yml', 'a: 1\n');
    write('group_vars/web/b', 'a: 2\nb: 2\n');
    write('group_vars/web.yml', 'never: read\n');
    write('group_vars/web/.hidden.yml', 'never: read\n');
    write('host_vars/w2.yaml', 'h: 2\n');
    write('host_vars/w2.json', '{"never": "read"}');
    const { inventory, diagnostics } = loadInventory(inv, 'inventory.ini');
    expect(diagnostics).toEqual([]);
    expect(inventory.groups.get('web')?.vars).toEqual({ role: 'web', a: 2, b: 2 });
    expect(hostVars(inventory, 'w1')).toEqual({ role: 'inline', prod: true, a: 2, b: 2 });
    // group_vars/prod (a parent's file) beats [web:vars] from the inventory itself.
    expect(hostVars(inventory, 'w2')).toEqual({ role: 'prod-file', prod: true, a: 2, b: 2, h: 2 });
  });

  it('reports a broken vars file by its display path and line', () => {
    const inv = write('inventory.yml', 'all:\n  hosts:\n    h1:\n');
    write('host_vars/h1.yml', 'ok: 1\nbad: [1\n');
    write('group_vars/all.yml', '- a list\n');
    const { diagnostics } = loadInventory(inv, 'site/inventory.yml');
    expect(diagnostics).toEqual([
      expect.objectContaining({
        file: 'site/group_vars/all.yml',
        code: 'inventory/vars-structure',
        pos: { line: 1, col: 1 },
      }),
      expect.objectContaining({
        file: 'site/host_vars/h1.yml',
        code: 'inventory/yaml-syntax',
        pos: { line: 2, col: 8 },
      }),
    ]);
  });
});
