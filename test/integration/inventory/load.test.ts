import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ignoredInInventoryDir, loadInventory } from '../../../src/inventory/load.ts';
import { hostVars } from '../../../src/inventory/vars.ts';
import { realPathInProject } from '../../../src/config/project-files.ts';
import { showValue } from '../../../src/util/show.ts';
import { vaultEncrypt } from '../../vault-encrypt.ts';

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
    // An empty directory is an inventory directory with nothing in it (load-dir.test.ts).
    expect(loadInventory(dir).diagnostics.map((d) => d.code)).toEqual(['inventory/empty-dir']);
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

const load = () => loadInventory(join(dir, 'inv'), 'inv');

// Inventory directories beyond what the Ansible compat fixtures show: what kpfleet skips with a
// warning and what stays an error, where diagnostics point, Ansible's order and merge rules.
describe('an inventory directory', () => {
  it('skips what Ansible skips by default', () => {
    for (const name of ['.hidden', 'group_vars', 'host_vars', 'vars_plugins', 'a~', 'a.ini']) {
      expect(ignoredInInventoryDir(name), name).toBe(true);
    }
    for (const name of ['a.orig', 'a.cfg', 'a.retry', 'a.md', 'a.txt', 'a.rst', 'a.bak']) {
      expect(ignoredInInventoryDir(name), name).toBe(true);
    }
    for (const name of ['hosts', 'a.yml', 'a.yaml', 'a.json', 'a.INI', 'hosts.ini.d']) {
      expect(ignoredInInventoryDir(name), name).toBe(false);
    }
  });

  it('parses files in byte order, later vars over earlier ones', () => {
    write('inv/b', '[g]\nh1 v=b\n');
    write('inv/B', '[g]\nh2\nh1 v=B\n');
    write('inv/a.yml', 'g:\n  hosts:\n    h1:\n      v: a\n');
    const { inventory, diagnostics } = load();
    expect(diagnostics).toEqual([]);
    // B (0x42) < a.yml (0x61) < b (0x62)
    expect(inventory.groups.get('g')?.hosts).toEqual(['h2', 'h1']);
    expect(hostVars(inventory, 'h1')['v']).toBe('b');
  });

  it('skips an inventory script with a warning naming it, and reads the rest', () => {
    write('inv/hosts', '[web]\nw1\n');
    const script = write('inv/ec2.py', '#!/usr/bin/env python3\nprint("{}")\n');
    chmodSync(script, 0o755);
    write('inv/shebang', '#!/bin/sh\necho {}\n');
    const { inventory, diagnostics } = load();
    expect([...inventory.hosts.keys()]).toEqual(['w1']);
    expect(diagnostics.map((d) => [d.file, d.severity, d.code])).toEqual([
      ['inv/ec2.py', 'warning', 'inventory/dir-skipped'],
      ['inv/shebang', 'warning', 'inventory/dir-skipped'],
    ]);
    expect(diagnostics[0]?.message).toMatch(/inventory script/);
  });

  it('refuses a FIFO in it without opening it (it would wait for a writer)', () => {
    write('inv/hosts', '[web]\nw1\n');
    execFileSync('mkfifo', [join(dir, 'inv/fifo')]);
    const { inventory, diagnostics } = load();
    expect([...inventory.hosts.keys()]).toEqual(['w1']);
    expect(diagnostics.map((d) => [d.file, d.severity, d.message])).toEqual([
      ['inv/fifo', 'error', 'cannot read inventory: it is a FIFO, not a regular file'],
    ]);
  });

  it('refuses a link to /proc (/proc/self/environ would be quoted back in parse errors)', () => {
    write('inv/hosts', '[web]\nw1\n');
    symlinkSync('/proc/self/environ', join(dir, 'inv/zz'));
    const { diagnostics } = load();
    expect(diagnostics.map((d) => [d.file, d.severity, d.message, d.lineText])).toEqual([
      [
        'inv/zz',
        'error',
        'cannot read inventory: it is a kernel pseudo-file (/proc), not a regular file',
        undefined,
      ],
    ]);
  });

  it('does not go round a symlink loop (two links to . would make 2^40 paths)', () => {
    write('inv/hosts', '[web]\nw1\n');
    symlinkSync('.', join(dir, 'inv/a'));
    mkdirSync(join(dir, 'inv/sub'));
    symlinkSync('..', join(dir, 'inv/sub/b'));
    write('inv/group_vars/web/x.yml', 'v: 1\n');
    symlinkSync('.', join(dir, 'inv/group_vars/web/a'));
    symlinkSync('.', join(dir, 'inv/group_vars/web/b'));
    const { inventory, diagnostics } = load();
    expect([...inventory.hosts.keys()]).toEqual(['w1']);
    expect(hostVars(inventory, 'w1')['v']).toBe(1);
    expect(diagnostics.map((d) => [d.file, d.severity, d.code])).toEqual([
      ['inv/a', 'warning', 'inventory/dir-skipped'],
      ['inv/sub/b', 'warning', 'inventory/dir-skipped'],
    ]);
  });

  it('keeps an error in one file an error, at that file:line:col', () => {
    write('inv/01', '[web]\nw1\n');
    write('inv/sub/02.yml', 'web:\n  hosts:\n    w[1:]:\n');
    const { diagnostics } = load();
    expect(diagnostics).toEqual([
      expect.objectContaining({
        severity: 'error',
        file: 'inv/sub/02.yml',
        pos: expect.objectContaining({ line: 3 }) as unknown,
      }),
    ]);
  });

  it('sees groups another file declared ([x:children] naming a group from an earlier file)', () => {
    write('inv/1-base', '[db]\nd1\n');
    write('inv/2-tree', '[prod:children]\ndb\n');
    const { inventory, diagnostics } = load();
    expect(diagnostics).toEqual([]);
    expect(inventory.groups.get('prod')?.children).toEqual(['db']);
    // Reconciled once, after the last file: db hangs under prod only, not also under all.
    expect(inventory.groups.get('all')?.children).toEqual(['ungrouped', 'prod']);
  });

  it('applies group_vars/ inside the directory, not those of a subdirectory', () => {
    write('inv/hosts', '[web]\nw1\n');
    write('inv/sub/more', '[edge]\ne1\n');
    write('inv/group_vars/web.yml', 'a: 1\n');
    write('inv/sub/group_vars/edge.yml', 'b: 2\n');
    write('group_vars/web.yml', 'beside: the directory\n');
    const { inventory } = load();
    expect(hostVars(inventory, 'w1')).toEqual({ a: 1 });
    expect(hostVars(inventory, 'e1')).toEqual({});
  });

  it('points a host/group name clash at the file that defined the host', () => {
    write('inv/1', '[web]\nx\n');
    write('inv/2', '[x]\nw9\n');
    const { diagnostics } = load();
    expect(diagnostics).toEqual([
      expect.objectContaining({
        code: 'inventory/host-group-clash',
        file: 'inv/1',
        pos: { line: 2, col: 1 },
      }),
    ]);
  });

  it('is an error when nothing in it is an inventory', () => {
    write('inv/aws_ec2.yml', 'plugin: aws_ec2\n');
    write('inv/hosts.ini', '[web]\nw1\n');
    const { diagnostics } = load();
    expect(diagnostics.map((d) => [d.file, d.severity, d.code])).toEqual([
      ['inv', 'error', 'inventory/empty-dir'],
      ['inv/aws_ec2.yml', 'warning', 'inventory/dir-skipped'],
    ]);
  });
});

describe('an inventory file encrypted with ansible-vault', () => {
  const password = Buffer.from('kpfleet-test-password');

  it('is decrypted as Ansible does, its variables secret and placed at its header', () => {
    const inv = write(
      'inv',
      vaultEncrypt('[web]\nw1 ansible_user=deploy-user-x\n', 'kpfleet-test-password'),
    );
    const { inventory, diagnostics } = loadInventory(inv, 'inv', { vault: { password } });
    expect(diagnostics).toEqual([]);
    expect(inventory.groups.get('web')?.hosts).toEqual(['w1']);
    expect(hostVars(inventory, 'w1')).toEqual({ ansible_user: 'deploy-user-x' });
    expect(inventory.hosts.get('w1')?.varSites?.['ansible_user']).toEqual({
      file: 'inv',
      line: 1,
      col: 1,
    });
    expect(showValue('deploy-user-x')).toBe('<vaulted>');
  });

  it('without the password: one error at its first line, nothing parsed', () => {
    const inv = write('inv', vaultEncrypt('[web]\nw1\n', 'kpfleet-test-password'));
    const { inventory, diagnostics } = loadInventory(inv, 'inv');
    expect(inventory.hosts.size).toBe(0);
    expect(diagnostics).toEqual([
      expect.objectContaining({ code: 'inventory/vault-password', pos: { line: 1, col: 1 } }),
    ]);
  });

  it('reports an error in the decrypted text without quoting it', () => {
    const inv = write('inv', vaultEncrypt('[web]\nw[1:x] secret-line\n', 'kpfleet-test-password'));
    const { diagnostics } = loadInventory(inv, 'inv', { vault: { password } });
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]?.message).toMatch(/\(line 2 of the decrypted text\)$/);
    expect(diagnostics[0]?.pos).toBeUndefined();
    expect(diagnostics[0]?.lineText).toBeUndefined();
  });
});

// A committed symlink must not make kpfleet read, and quote in a parse error, a file outside the
// project (~/.ssh/id_ed25519, .git/config with a CI token): with `inProject` (the loader gives it
// when the inventory is in the project), such a file or folder is refused at the link, unread.
describe('an inventory inside the project', () => {
  const SECRET = 'not-an-inventory SECRET-LINE-x9 [';
  let outside: string;
  beforeEach(() => {
    outside = mkdtempSync(join(tmpdir(), 'kpfleet-outside-'));
    writeFileSync(join(outside, 'id_ed25519'), `${SECRET}\n`);
    mkdirSync(join(outside, 'dir'));
    writeFileSync(join(outside, 'dir/hosts'), `${SECRET}\n`);
    writeFileSync(join(outside, 'vars.yml'), `${SECRET}\n`);
  });
  afterEach(() => {
    rmSync(outside, { recursive: true, force: true });
  });
  const loadIn = () =>
    loadInventory(join(dir, 'inv'), 'inv', { inProject: realPathInProject(dir, '/home/tester') });
  const shown = (ds: readonly { message: string; lineText?: string; hint?: string }[]) =>
    ds.map((d) => `${d.message} ${d.lineText ?? ''} ${d.hint ?? ''}`).join('\n');

  it('refuses a link to a file or folder outside it, unread, at the link', () => {
    write('inv/hosts', '[web]\nw1\n');
    symlinkSync(join(outside, 'id_ed25519'), join(dir, 'inv/zz'));
    symlinkSync(join(outside, 'dir'), join(dir, 'inv/sub'));
    const { inventory, diagnostics } = loadIn();
    expect([...inventory.hosts.keys()]).toEqual(['w1']);
    expect(diagnostics.map((d) => [d.file, d.severity, d.code, d.pos])).toEqual([
      ['inv/sub', 'error', 'inventory/outside-project', undefined],
      ['inv/zz', 'error', 'inventory/outside-project', undefined],
    ]);
    expect(shown(diagnostics)).not.toContain('SECRET');
  });

  it('refuses group_vars and host_vars files and folders that link outside it', () => {
    write('inv/hosts', '[web]\nw1\n[db]\nd1\n');
    mkdirSync(join(dir, 'inv/group_vars'));
    symlinkSync(join(outside, 'vars.yml'), join(dir, 'inv/group_vars/web.yml'));
    symlinkSync(join(outside, 'dir'), join(dir, 'inv/group_vars/db'));
    symlinkSync(outside, join(dir, 'inv/host_vars'));
    writeFileSync(join(outside, 'w1.yml'), `${SECRET}\n`);
    const { diagnostics } = loadIn();
    expect(diagnostics.map((d) => [d.file, d.code])).toEqual([
      ['inv/group_vars/db', 'inventory/outside-project'],
      ['inv/group_vars/web.yml', 'inventory/outside-project'],
      ['inv/host_vars', 'inventory/outside-project'],
    ]);
    expect(shown(diagnostics)).not.toContain('SECRET');
  });

  it('refuses a link into .git (actions/checkout keeps a token header in .git/config)', () => {
    write('.git/config', `[http]\n\textraheader = AUTHORIZATION: basic ${SECRET}\n`);
    write('inv/hosts', '[web]\nw1\n');
    symlinkSync('../.git/config', join(dir, 'inv/zz'));
    const { diagnostics } = loadIn();
    expect(diagnostics.map((d) => [d.file, d.code])).toEqual([
      ['inv/zz', 'inventory/outside-project'],
    ]);
    expect(shown(diagnostics)).not.toContain('SECRET');
  });

  it('refuses the inventory itself when it links outside', () => {
    symlinkSync(join(outside, 'id_ed25519'), join(dir, 'inv'));
    const { inventory, diagnostics } = loadIn();
    expect(inventory.hosts.size).toBe(0);
    expect(diagnostics.map((d) => [d.file, d.code])).toEqual([
      ['inv', 'inventory/outside-project'],
    ]);
  });

  it('still reads links that stay inside it, and everything when the inventory is outside', () => {
    write('shared/web.yml', 'a: 1\n');
    write('inv/hosts', '[web]\nw1\n');
    mkdirSync(join(dir, 'inv/group_vars'));
    symlinkSync('../../shared/web.yml', join(dir, 'inv/group_vars/web.yml'));
    symlinkSync(join(outside, 'vars.yml'), join(dir, 'inv/group_vars/all.yml'));
    writeFileSync(join(outside, 'vars.yml'), 'b: 2\n');
    expect(loadIn().diagnostics.map((d) => d.file)).toEqual(['inv/group_vars/all.yml']);
    // without inProject (an inventory the user points at outside the project): read, as Ansible
    const { inventory, diagnostics } = load();
    expect(diagnostics).toEqual([]);
    expect(hostVars(inventory, 'w1')).toEqual({ a: 1, b: 2 });
  });
});
