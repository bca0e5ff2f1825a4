/**
 * The CLI on inventories whose connection variables kpfleet reads as Ansible does: a refused
 * template and a refused ssh option at validate with file:line:col; a `localhost
 * ansible_connection=local` that no group of kpfleet.yml selects does not block validate or the
 * commands (and is not contacted); `--limit` on an inventory with no hosts.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runInProcess } from '../../cli-in-process.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A project folder with kpfleet.yml (groups `web`) and the given inventory.ini. */
function project(inventory: string, groups = 'web'): string {
  const dir = mkdtempSync(join(tmpdir(), 'kpfleet-invconn-'));
  dirs.push(dir);
  writeFileSync(
    join(dir, 'kpfleet.yml'),
    `inventory: inventory.ini\nconnection:\n  ssh_config: false\ngroups:\n${groups
      .split(',')
      .map((g) => `  ${g}:\n    unmanaged: keep\n`)
      .join('')}`,
  );
  writeFileSync(join(dir, 'inventory.ini'), inventory);
  return dir;
}

const run = (dir: string, args: string[], env: Record<string, string> = {}) =>
  runInProcess(args, { cwd: dir, env });

describe('validate on connection variables', () => {
  it('refuses a template kpfleet does not render, at file:line:col, naming the variable', async () => {
    const dir = project('[web]\nweb1 ansible_host="{{ ip | ipaddr }}"\n');
    const r = await run(dir, ['validate']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(
      "inventory.ini:2:6: error: ansible_host '{{ ip | ipaddr }}' is a template kpfleet cannot render: the filter `ipaddr` is not supported (host web1)",
    );
    expect(r.stderr).toContain("lookup('env', 'NAME')");
  });

  it('renders a lookup of the environment, and never prints its value', async () => {
    const dir = project(`[web]\nweb1 ansible_host="{{ lookup('env', 'KP_ADDR') }}"\n`);
    const ok = await run(dir, ['hosts', '--json'], { KP_ADDR: '192.0.2.44' });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('192.0.2.44');
    const bad = await run(dir, ['validate'], { KP_ADDR: 'secret value' });
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain('(rendered from the environment) is not a host name');
    expect(bad.stderr).not.toContain('secret value');
  });

  it('refuses an ssh option by name, at file:line:col', async () => {
    const dir = project(
      "[web]\nweb1 ansible_host=10.0.0.1 ansible_ssh_common_args='-o StrictHostKeyChecking=no'\n",
    );
    const r = await run(dir, ['validate']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(
      "inventory.ini:2:28: error: ansible_ssh_common_args: '-o StrictHostKeyChecking=no' is refused: kpfleet does not apply the ssh option StrictHostKeyChecking (host web1)",
    );
  });

  it('never prints an ssh argument rendered from the environment', async () => {
    const dir = project('[web]\nweb1 ansible_host=10.0.0.1\n');
    mkdirSync(join(dir, 'group_vars'));
    writeFileSync(
      join(dir, 'group_vars', 'web.yml'),
      `ansible_ssh_common_args: "-o {{ lookup('env', 'KP_SECRET') }}"\nansible_ssh_extra_args: "{{ lookup('env', 'KP_SECRET2') }} -C"\n`,
    );
    const env = { KP_SECRET: 'Sup3rSecretToken=abc', KP_SECRET2: 'Other-Secret-XYZ' };
    for (const args of [['validate'], ['validate', '--json']]) {
      const r = await run(dir, args, env);
      expect(r.code).toBe(3);
      const all = r.stdout + r.stderr;
      expect(all).toContain('(rendered from the environment): an option in it is refused');
      expect(all).not.toContain('Sup3rSecret');
      expect(all).not.toContain('Other-Secret');
    }
  });

  it('refuses a line break in an ssh option, which ssh -G would print as a ProxyCommand', async () => {
    const dir = project('[web]\nweb1 ansible_host=10.0.0.1\n');
    mkdirSync(join(dir, 'group_vars'));
    writeFileSync(
      join(dir, 'group_vars', 'web.yml'),
      `ansible_ssh_common_args: "-o 'IdentityFile=\\"k\\nproxycommand touch pwned\\"'"\n`,
    );
    const r = await run(dir, ['validate']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('group_vars/web.yml:1:1: error: ansible_ssh_common_args:');
    expect(r.stderr).toContain('line break');
  });

  it('honours -J and -p from ansible_ssh_common_args', async () => {
    const dir = project(
      "[web]\nweb1 ansible_host=10.0.0.1 ansible_ssh_common_args='-J jump@bastion -p 2222'\n",
    );
    expect((await run(dir, ['validate'])).code).toBe(0);
  });
});

describe('hosts kpfleet does not touch', () => {
  const kolla =
    'localhost ansible_connection=local\n\n[deployment]\nlocalhost\n\n[web]\nweb1 ansible_host=10.0.0.1\nweb2 ansible_host=10.0.0.2 ansible_connection=docker\n';

  it('a local deployment host in no group of kpfleet.yml does not block validate', async () => {
    const dir = project(kolla.replace(' ansible_connection=docker', ''));
    const r = await run(dir, ['validate']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      "warning: ansible_connection 'local' is not supported: kpfleet connects over SSH (host localhost); no group of kpfleet.yml selects them, so kpfleet does not contact them",
    );
    expect(r.stdout).toContain('is valid');
  });

  it('nor the commands, which leave it out', async () => {
    const dir = project(kolla.replace(' ansible_connection=docker', ''));
    const r = await run(dir, ['hosts', '--json']);
    expect(r.code).toBe(0);
    const names = (JSON.parse(r.stdout) as { hosts: { name: string }[] }).hosts.map((h) => h.name);
    expect(names).toEqual(['web1', 'web2']);
  });

  it('a selected host with an unsupported connection still stops the run, unless --limit leaves it out', async () => {
    const dir = project(kolla);
    const all = await run(dir, ['hosts']);
    expect(all.code).toBe(3);
    expect(all.stderr).toContain("error: ansible_connection 'docker' is not supported");
    const limited = await run(dir, ['hosts', '--limit', 'web1']);
    expect(limited.code).toBe(0);
    expect(limited.stderr).toContain(
      "warning: ansible_connection 'docker' is not supported: kpfleet connects over SSH (host web2) (not selected by --limit)",
    );
    expect(limited.stdout).toContain('web1');
    expect(limited.stdout).not.toContain('web2');
  });
});

describe('--limit that matches no host', () => {
  it('in an inventory with no hosts: exit 0, one message, as Ansible', async () => {
    const dir = project('# nothing yet\n', 'all');
    const r = await run(dir, ['hosts', '--limit', 'web1']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('no hosts matched: inventory.ini has no hosts\n');
  });

  it('in an inventory with hosts: a usage error, said once', async () => {
    const dir = project('[web]\nweb1 ansible_host=10.0.0.1\n');
    const r = await run(dir, ['hosts', '--limit', 'nomatch']);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('--limit nomatch matches no host in inventory.ini');
    expect(r.stderr).not.toContain('Could not match');
  });
});

describe('a relative private key file in the inventory', () => {
  it('is looked for in the working directory, as ssh does for Ansible; validate warns when it is only beside kpfleet.yml', async () => {
    const dir = project(
      '[web]\nweb1 ansible_host=10.0.0.1 ansible_ssh_private_key_file=keys/deploy\n',
    );
    mkdirSync(join(dir, 'keys'));
    writeFileSync(join(dir, 'keys/deploy'), 'placeholder\n');
    const elsewhere = mkdtempSync(join(tmpdir(), 'kpfleet-cwd-'));
    dirs.push(elsewhere);
    const r = await run(elsewhere, ['validate', '-c', join(dir, 'kpfleet.yml')]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      `${join(dir, 'inventory.ini')}:2:28: warning: ansible_ssh_private_key_file 'keys/deploy' is relative: ssh (as Ansible runs it, and kpfleet) looks for it in the working directory`,
    );
    const hosts = await run(elsewhere, ['hosts', '--json', '-c', join(dir, 'kpfleet.yml')]);
    expect(hosts.stdout).toContain(join(elsewhere, 'keys/deploy'));
    const inside = await run(dir, ['validate']);
    expect(inside.stderr).toBe('');
  });
});

// An inventory of the project may not run a command (ProxyCommand) nor choose the agent socket
// kpfleet signs with (IdentityAgent) unless --trust-ssh-config; one outside the project may.
describe.each([
  ['ProxyCommand="ssh -W %h:%p bastion"', '`ProxyCommand` runs a command on this machine'],
  [
    'IdentityAgent=/tmp/someone-elses.sock',
    '`IdentityAgent` chooses the local socket kpfleet asks to sign with your keys',
  ],
])('-o %s in the inventory', (option, why) => {
  const inv = `[web]\nweb1 ansible_host=10.0.0.1 ansible_ssh_common_args='-o ${option}'\n`;
  it('is refused in a project file, as in a project ssh config, unless --trust-ssh-config', async () => {
    const dir = project(inv);
    const r = await run(dir, ['validate']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(
      `inventory.ini:2:28: error: ansible_ssh_common_args: ${why}, and the inventory is a file of the project (host web1)`,
    );
    expect(r.stderr).toContain('--trust-ssh-config');
    expect((await run(dir, ['validate', '--trust-ssh-config'])).code).toBe(0);
  });
  it('is used from an inventory outside the project, as an ssh config outside it is', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'kpfleet-inv-'));
    dirs.push(outside);
    writeFileSync(join(outside, 'hosts.ini'), inv);
    const dir = project('');
    writeFileSync(
      join(dir, 'kpfleet.yml'),
      `inventory: ${join(outside, 'hosts.ini')}\nconnection:\n  ssh_config: false\ngroups:\n  web:\n    unmanaged: keep\n`,
    );
    expect((await run(dir, ['validate'])).code).toBe(0);
  });
});
