/**
 * Issue 18: Ansible Vault in inventories, through the CLI. The password from
 * --vault-password-file or ANSIBLE_VAULT_PASSWORD_FILE (a plain file, or a script that is run);
 * without one, or with a wrong one, an error saying where and how to proceed; and a decrypted
 * value never shown, in text or JSON, even in the error about it.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runInProcess } from '../../cli-in-process.ts';
import { inlineVault, vaultEncrypt } from '../../vault-encrypt.ts';

const PASSWORD = 'kpfleet-test-password';
const BAD_USER = 'bad user;leaked-secret-word';
const HOST = 'secret-address.internal.example';

let dir: string;
/** A folder outside the project, where a password script may live. */
let outside: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kpfleet-vault-'));
  outside = mkdtempSync(join(tmpdir(), 'kpfleet-vault-home-'));
  mkdirSync(join(dir, 'inv/group_vars'), { recursive: true });
  // A group selects every host: kpfleet checks how to reach only hosts it would touch.
  writeFileSync(join(dir, 'kpfleet.yml'), 'inventory: inv\ngroups:\n  all:\n    unmanaged: keep\n');
  writeFileSync(
    join(dir, 'inv/hosts.yml'),
    `all:\n  hosts:\n    h1:\n      ansible_host: ${inlineVault(HOST, PASSWORD, 6)}\n`,
  );
  writeFileSync(join(dir, 'pw'), `${PASSWORD}\n`);
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

const run = (args: string[], env: Record<string, string> = {}) =>
  runInProcess(args, { cwd: dir, env });

function vaultedFile(rel: string, yaml: string): void {
  writeFileSync(join(dir, rel), vaultEncrypt(yaml, PASSWORD));
}

describe('vaulted inventory data', () => {
  it('is used with --vault-password-file, and shown as <vaulted>', async () => {
    vaultedFile('inv/group_vars/all.yml', 'ansible_user: deploy-secret-user\n');
    const text = await run(['hosts', '--vault-password-file', 'pw']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('<vaulted>@<vaulted>');
    const json = await run(['hosts', '--json', '--vault-password-file', 'pw']);
    const out = json.stdout + json.stderr;
    expect(out).not.toContain(HOST);
    expect(out).not.toContain('deploy-secret-user');
    const hosts = (JSON.parse(json.stdout) as { hosts: { connection: unknown }[] }).hosts;
    expect(hosts[0]?.connection).toMatchObject({ address: '<vaulted>', user: '<vaulted>' });
  });

  it('takes the password file from ANSIBLE_VAULT_PASSWORD_FILE', async () => {
    const r = await run(['validate'], { ANSIBLE_VAULT_PASSWORD_FILE: join(dir, 'pw') });
    expect(r.code).toBe(0);
  });

  it('runs an executable password file and uses its output, as Ansible does', async () => {
    const script = join(outside, 'pw.sh');
    writeFileSync(script, `#!/bin/sh\nprintf '%s\\r\\n' '${PASSWORD}'\n`);
    chmodSync(script, 0o700);
    expect((await run(['validate', '--vault-password-file', script])).code).toBe(0);
    writeFileSync(script, '#!/bin/sh\nexit 3\n');
    const failed = await run(['validate', '--vault-password-file', script]);
    expect(failed.code).toBe(64);
    expect(failed.stderr).toContain('pw.sh failed (exit 3)');
  });

  it('refuses to run an executable password file inside the project (a pull request could add it)', async () => {
    const marker = join(outside, 'ran');
    const script = join(dir, 'pw.sh');
    writeFileSync(script, `#!/bin/sh\ntouch '${marker}'\nprintf '%s' '${PASSWORD}'\n`);
    chmodSync(script, 0o700);
    for (const [args, env] of [
      [['validate', '--vault-password-file', 'pw.sh'], {}],
      [['validate'], { ANSIBLE_VAULT_PASSWORD_FILE: script }],
    ] as const) {
      const r = await run([...args], env);
      expect(r.code).toBe(64);
      expect(r.stderr).toContain('pw.sh');
      expect(r.stderr).toContain('is executable and inside the project');
      expect(r.stderr).toContain('outside the repository');
      expect(existsSync(marker)).toBe(false);
    }
    // inside the git work tree that holds the project, beside its folder: refused as well
    mkdirSync(join(outside, 'repo/.git'), { recursive: true });
    mkdirSync(join(outside, 'repo/deploy'));
    writeFileSync(join(outside, 'repo/deploy/kpfleet.yml'), 'inventory: ../../../x\n');
    const beside = join(outside, 'repo/pw.sh');
    writeFileSync(beside, `#!/bin/sh\ntouch '${marker}'\n`);
    chmodSync(beside, 0o700);
    const r = await run([
      'validate',
      '-c',
      join(outside, 'repo/deploy/kpfleet.yml'),
      '--vault-password-file',
      beside,
    ]);
    expect(r.code).toBe(64);
    expect(existsSync(marker)).toBe(false);
  });

  it('without a password: an error at file:line:col saying how to give one', async () => {
    const r = await run(['validate']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('inv/hosts.yml:4:21: error: this !vault value is encrypted');
    expect(r.stderr).toContain('--vault-password-file FILE or ANSIBLE_VAULT_PASSWORD_FILE=FILE');
  });

  it('with a wrong password: an error naming the file, never the password', async () => {
    writeFileSync(join(dir, 'wrong'), 'not-the-right-one\n');
    vaultedFile('inv/group_vars/all.yml', 'x: 1\n');
    const r = await run(['validate', '--vault-password-file', 'wrong']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(
      'inv/group_vars/all.yml:1:1: error: this vars file cannot be decrypted',
    );
    expect(r.stderr).toContain('inv/hosts.yml:4:21: error: this !vault value cannot be decrypted');
    expect(r.stderr).not.toContain('not-the-right-one');
    expect(r.stderr).not.toContain(PASSWORD);
  });

  it('never leaks a vaulted ansible_user or ansible_host from the error about it', async () => {
    vaultedFile('inv/group_vars/all.yml', `ansible_user: "${BAD_USER}"\n`);
    writeFileSync(
      join(dir, 'inv/hosts.yml'),
      `all:\n  hosts:\n    h1:\n      ansible_host: ${inlineVault('-oProxyCommand=leaked-host-word', PASSWORD, 6)}\n`,
    );
    for (const args of [['validate'], ['validate', '--json'], ['hosts'], ['plan']]) {
      const r = await run([...args, '--vault-password-file', 'pw']);
      const out = r.stdout + r.stderr;
      expect(r.code, args.join(' ')).toBe(3);
      expect(out, args.join(' ')).toContain('<vaulted>');
      expect(out, args.join(' ')).not.toContain('leaked-secret-word');
      expect(out, args.join(' ')).not.toContain('leaked-host-word');
    }
  });

  it('never shows a vaulted value in part: templated into another, or an ssh argument refused', async () => {
    writeFileSync(
      join(dir, 'inv/hosts.yml'),
      `all:\n  hosts:\n    h1:\n      ansible_host: "{{ sub }}.example.com"\n      ansible_user: "{{ u }}x"\n      sub: ${inlineVault('secrethostpart', PASSWORD, 6)}\n      u: ${inlineVault('deployuser', PASSWORD, 6)}\n`,
    );
    const json = await run(['hosts', '--json', '--vault-password-file', 'pw']);
    expect(json.code).toBe(0);
    expect(json.stdout).not.toContain('secrethostpart');
    expect(json.stdout).not.toContain('deployuser');
    expect(json.stdout).toContain('"address": "<vaulted>.example.com"');
    vaultedFile(
      'inv/group_vars/all.yml',
      'ansible_ssh_common_args: "-o StrictHostKeyChecking=no -J jump-secret-word"\n',
    );
    for (const args of [['validate'], ['validate', '--json']]) {
      const r = await run([...args, '--vault-password-file', 'pw']);
      const out = r.stdout + r.stderr;
      expect(r.code, args.join(' ')).toBe(3);
      expect(out, args.join(' ')).toContain(
        'ansible_ssh_common_args <vaulted>: an option in it is refused',
      );
      expect(out, args.join(' ')).not.toContain('StrictHostKeyChecking=no');
    }
  });
});
