/**
 * A file of an inventory inside the project that is a committed link to a file outside it
 * (`inventory/zz -> ~/.ssh/id_ed25519`, `-> .git/config`) is refused at validate, exit 3, unread
 * and never quoted, and no host is contacted; an inventory the user points at outside the project
 * is read as before, links and all.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runInProcess } from '../../cli-in-process.ts';

const SECRET = 'SECRET-KEY-LINE-q7 [not an inventory';
let dir: string;
let outside: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kpfleet-proj-'));
  outside = mkdtempSync(join(tmpdir(), 'kpfleet-elsewhere-'));
  writeFileSync(join(outside, 'id_ed25519'), `-----BEGIN OPENSSH PRIVATE KEY-----\n${SECRET}\n`);
  mkdirSync(join(dir, 'inventory'));
  writeFileSync(join(dir, 'inventory/hosts'), '[web]\nweb1 ansible_host=192.0.2.1\n');
  writeFileSync(
    join(dir, 'kpfleet.yml'),
    'inventory: inventory\nconnection:\n  ssh_config: false\ngroups:\n  web:\n    unmanaged: keep\n',
  );
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

const run = (args: string[]) => runInProcess(args, { cwd: dir });

describe('an inventory of the project linking outside it', () => {
  it('is refused at the link, exit 3, its content never printed, no host contacted', async () => {
    symlinkSync(join(outside, 'id_ed25519'), join(dir, 'inventory/zz'));
    const r = await run(['validate']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('inventory/zz: error: not read: the inventory is in the project');
    expect(r.stdout + r.stderr).not.toContain('SECRET');
    // plan would connect to web1: it stops at the same error first
    const plan = await run(['plan']);
    expect(plan.code).toBe(3);
    expect(plan.stdout + plan.stderr).not.toContain('SECRET');
    expect(plan.stdout + plan.stderr).not.toMatch(/192\.0\.2\.1.*(unreachable|timed out)/);
  });

  it('refuses the inventory file itself when it links outside', async () => {
    symlinkSync(join(outside, 'id_ed25519'), join(dir, 'hosts'));
    writeFileSync(
      join(dir, 'kpfleet.yml'),
      'inventory: hosts\nconnection:\n  ssh_config: false\ngroups:\n  web:\n    unmanaged: keep\n',
    );
    const r = await run(['validate']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('hosts: error: not read: the inventory is in the project');
    expect(r.stdout + r.stderr).not.toContain('SECRET');
  });

  it('refuses a group_vars file linked to .git/config (a CI token lives there)', async () => {
    mkdirSync(join(dir, '.git'));
    writeFileSync(join(dir, '.git/config'), `[http]\n\textraheader = ${SECRET}\n`);
    mkdirSync(join(dir, 'inventory/group_vars'));
    symlinkSync('../../.git/config', join(dir, 'inventory/group_vars/web.yml'));
    const r = await run(['validate']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('inventory/group_vars/web.yml: error: not read');
    expect(r.stdout + r.stderr).not.toContain('SECRET');
  });

  it('reads an inventory the user points at outside the project, as before', async () => {
    mkdirSync(join(outside, 'inv/group_vars'), { recursive: true });
    writeFileSync(join(outside, 'inv/hosts'), '[web]\nweb1 ansible_host=192.0.2.1\n');
    writeFileSync(join(outside, 'web.yml'), 'ansible_user: deploy\n');
    symlinkSync(join(outside, 'web.yml'), join(outside, 'inv/group_vars/web.yml'));
    writeFileSync(
      join(dir, 'kpfleet.yml'),
      `inventory: ${join(outside, 'inv')}\nconnection:\n  ssh_config: false\ngroups:\n  web:\n    unmanaged: keep\n`,
    );
    const r = await run(['hosts', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('deploy');
  });
});
