/** The project loader on real files: discovery, path resolution, what it reads. */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findConfigFile, loadProject } from '../../../src/config/load.ts';
import { UsageError } from '../../../src/errors.ts';

const BASE = new URL('../../fixtures/invalid/_base/', import.meta.url).pathname;
const SHA_A = '917b56511d731a0898ad33b8b8d57335869ce4388b5dd201c04a2b87a493ffee';
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'kpfleet-load-'));
  dirs.push(d);
  return d;
}

describe('loadProject', () => {
  it('expands ~ in file: paths to the home directory, and resolves others against kpfleet.yml', () => {
    const home = tmp();
    const project = tmp();
    mkdirSync(join(home, 'kp'));
    copyFileSync(join(BASE, 'patches/a.ko'), join(home, 'kp/a.ko'));
    mkdirSync(join(project, 'inv'));
    copyFileSync(join(BASE, 'inventory.ini'), join(project, 'inv/hosts.ini'));
    writeFileSync(
      join(project, 'kpfleet.yml'),
      `inventory: inv/hosts.ini\npatches:\n  a:\n    module: livepatch_a\n    kernel: "5.*"\n    file: ~/kp/a.ko\n    sha256: ${SHA_A}\ngroups:\n  web:\n    loaded: [a]\n`,
    );
    const cwd = tmp(); // run from elsewhere: paths still resolve against the project file
    const { config, diagnostics, inventory } = loadProject({
      cwd,
      configPath: join(project, 'kpfleet.yml'),
      home,
    });
    // a patch outside the project folder works, with a warning (issue 14 §6)
    expect(diagnostics.map((d) => `${d.severity} ${d.code}`)).toEqual([
      'warning rules/patch-file-outside',
    ]);
    expect(config.inventory).toBe(join(project, 'inv/hosts.ini'));
    expect(config.patches.get('a')?.source).toMatchObject({
      kind: 'file',
      path: join(home, 'kp/a.ko'),
    });
    expect(inventory?.hosts.size).toBe(5);
  });

  it('prefers kpfleet.yml, accepts kpfleet.yaml, and says where it looked', () => {
    const d = tmp();
    expect(() => findConfigFile(d)).toThrow(UsageError);
    expect(() => findConfigFile(d)).toThrow(`no kpfleet.yml in ${d}`);
    writeFileSync(join(d, 'kpfleet.yaml'), 'inventory: x\n');
    expect(findConfigFile(d)).toBe(join(d, 'kpfleet.yaml'));
    writeFileSync(join(d, 'kpfleet.yml'), 'inventory: x\n');
    expect(findConfigFile(d)).toBe(join(d, 'kpfleet.yml'));
    expect(() => findConfigFile(d, 'nope.yml')).toThrow('config file not found: nope.yml');
  });

  it('reports a YAML syntax error and does not go on to read the inventory', () => {
    const d = tmp();
    writeFileSync(join(d, 'kpfleet.yml'), 'inventory: missing.ini\nrollout: [\n');
    const { diagnostics } = loadProject({ cwd: d });
    expect(diagnostics.map((x) => x.code)).toEqual(['yaml/bad_indent']);
  });
});

describe('an ssh config that runs commands (issue 14 §2)', () => {
  /**
   * home/.git (the home is a git work tree, as with dotfiles), the project in a subfolder of
   * home/infra, which is a repository of its own unless `inHomeRepo`.
   */
  function layout(
    sshConfig: string,
    inHomeRepo = false,
  ): { home: string; repo: string; project: string } {
    const home = tmp();
    mkdirSync(join(home, '.git'));
    mkdirSync(join(home, '.ssh'));
    const repo = join(home, 'infra');
    const project = join(repo, 'deploy/kpfleet');
    if (!inHomeRepo) mkdirSync(join(repo, '.git'), { recursive: true });
    mkdirSync(project, { recursive: true });
    copyFileSync(join(BASE, 'inventory.ini'), join(project, 'inventory.ini'));
    writeFileSync(
      join(project, 'kpfleet.yml'),
      `inventory: inventory.ini\nconnection:\n  ssh_config: ${sshConfig}\n`,
    );
    return { home, repo, project };
  }
  const codes = (project: string, home: string, trust = false): string[] =>
    loadProject({ cwd: project, home, trustSshConfig: trust }).diagnostics.map(
      (d) => `${d.file}:${String(d.pos?.line)}:${String(d.pos?.col)} ${d.code}`,
    );

  it('a file elsewhere in the git work tree is the project too (a pull request changes it)', () => {
    const { home, repo, project } = layout('../../ssh/config');
    mkdirSync(join(repo, 'ssh'));
    writeFileSync(join(repo, 'ssh/config'), 'Host *\n  ProxyCommand nc %h %p\n');
    expect(codes(project, home)).toEqual([
      `${join(repo, 'ssh/config')}:2:3 ssh-config/runs-command`,
    ]);
    expect(codes(project, home, true)).toEqual([]);
  });

  it('a symlink in the project to a file outside is still the project’s choice', () => {
    const { home, project } = layout('ssh_config');
    const outside = join(tmp(), 'config');
    writeFileSync(outside, 'Match exec true\n');
    symlinkSync(outside, join(project, 'ssh_config'));
    expect(codes(project, home)).toEqual(['ssh_config:1:7 ssh-config/runs-command']);
  });

  it('the operator’s own files are trusted: ~/.ssh (even when the home is a git work tree), and files outside the work tree', () => {
    const { home, project } = layout('~/.ssh/bastion.conf', true);
    writeFileSync(join(home, '.ssh/bastion.conf'), 'ProxyCommand ssh -W %h:%p bastion\n');
    expect(codes(project, home)).toEqual([]);
    const elsewhere = join(tmp(), 'ssh_config');
    writeFileSync(elsewhere, 'ProxyCommand ssh -W %h:%p bastion\n');
    writeFileSync(
      join(project, 'kpfleet.yml'),
      `inventory: inventory.ini\nconnection:\n  ssh_config: ${elsewhere}\n`,
    );
    expect(codes(project, home)).toEqual([]);
  });

  it('a file in the home’s own work tree but outside ~/.ssh is refused; outside the project’s own repository it is not', () => {
    const { home, project } = layout('~/notes/ssh.conf', true);
    mkdirSync(join(home, 'notes'));
    writeFileSync(join(home, 'notes/ssh.conf'), 'LocalCommand x\nPermitLocalCommand yes\n');
    expect(codes(project, home)).toEqual([
      `${join(home, 'notes/ssh.conf')}:1:1 ssh-config/runs-command`,
      `${join(home, 'notes/ssh.conf')}:2:1 ssh-config/runs-command`,
    ]);
    mkdirSync(join(home, 'infra/.git'));
    expect(codes(project, home)).toEqual([]);
  });
});

const ROOT = new URL('../../../', import.meta.url).pathname;

/** A project with patch `a` at `file` (relative to kpfleet.yml), in group web. */
function projectWithPatch(file: string): string {
  const d = tmp();
  copyFileSync(join(BASE, 'inventory.ini'), join(d, 'inventory.ini'));
  writeFileSync(
    join(d, 'kpfleet.yml'),
    `inventory: inventory.ini\npatches:\n  a:\n    module: livepatch_a\n    kernel: "5.*"\n    file: ${file}\n    sha256: ${SHA_A}\ngroups:\n  web:\n    loaded: [a]\n`,
  );
  return d;
}

/** `kpfleet validate` in a child process, given up after 20 s (a FIFO used to hang it). */
function validateCli(dir: string): { status: number | null; out: string } {
  const r = spawnSync(
    join(ROOT, 'node_modules/.bin/tsx'),
    [join(ROOT, 'src/cli/main.ts'), 'validate', '-c', join(dir, 'kpfleet.yml')],
    { cwd: dir, encoding: 'utf8', timeout: 20_000, env: { ...process.env, NO_COLOR: '1' } },
  );
  return { status: r.status, out: r.stdout + r.stderr };
}

describe('patch files (issue 14 §6)', () => {
  it('a patch file outside the project folder is a warning at its file: line', () => {
    const d = projectWithPatch('../shared/a.ko');
    mkdirSync(join(d, '../shared'), { recursive: true });
    dirs.push(join(d, '../shared'));
    copyFileSync(join(BASE, 'patches/a.ko'), join(d, '../shared/a.ko'));
    const { diagnostics } = loadProject({ cwd: d });
    expect(
      diagnostics.map(
        (x) => `${String(x.pos?.line)}:${String(x.pos?.col)} ${x.severity} ${x.code}: ${x.message}`,
      ),
    ).toEqual([
      `6:11 warning rules/patch-file-outside: patch file '../shared/a.ko' is outside the project folder ${d}`,
    ]);
  });

  it('a patch file reached through a symlink is a warning that says where it leads', () => {
    const d = projectWithPatch('patches/a.ko');
    mkdirSync(join(d, 'build'));
    copyFileSync(join(BASE, 'patches/a.ko'), join(d, 'build/a.ko'));
    symlinkSync(join(d, 'build'), join(d, 'patches'));
    const { diagnostics } = loadProject({ cwd: d });
    expect(diagnostics.map((x) => `${x.severity} ${x.code}: ${x.message}`)).toEqual([
      `warning rules/patch-file-symlink: patch file 'patches/a.ko' is reached through a symlink: it is ${join(d, 'build/a.ko')}`,
    ]);
  });

  it('a FIFO as a patch file is an error, and validate does not wait on it', () => {
    const d = projectWithPatch('patches/a.ko');
    mkdirSync(join(d, 'patches'));
    spawnSync('mkfifo', [join(d, 'patches/a.ko')]);
    const r = validateCli(d);
    expect(r.out).toMatch(
      /kpfleet\.yml:6:11: error: patch file 'patches\/a\.ko' cannot be read: it is a FIFO, not a regular file/,
    );
    expect(r.status).toBe(3);
  });

  it('a FIFO as a host_vars file is an error, and validate does not wait on it', () => {
    const d = projectWithPatch('patches/a.ko');
    mkdirSync(join(d, 'patches'));
    copyFileSync(join(BASE, 'patches/a.ko'), join(d, 'patches/a.ko'));
    mkdirSync(join(d, 'host_vars'));
    spawnSync('mkfifo', [join(d, 'host_vars/web1.yml')]);
    const r = validateCli(d);
    expect(r.out).toMatch(
      /host_vars\/web1\.yml: error: cannot read vars file: it is a FIFO, not a regular file/,
    );
    expect(r.status).toBe(3);
  });
});

describe('private key files (issue 14 review)', () => {
  /** A project whose inventory and kpfleet.yml name key files. */
  function projectWithKeys(inventoryKey: string, configKey: string): string {
    const d = projectWithPatch('patches/a.ko');
    mkdirSync(join(d, 'patches'));
    copyFileSync(join(BASE, 'patches/a.ko'), join(d, 'patches/a.ko'));
    mkdirSync(join(d, 'keys'));
    writeFileSync(
      join(d, 'inventory.ini'),
      `[web]\nweb1 ansible_ssh_private_key_file=${inventoryKey}\nweb2\n`,
    );
    writeFileSync(
      join(d, 'kpfleet.yml'),
      readFileSync(join(d, 'kpfleet.yml'), 'utf8').replace(
        'inventory: inventory.ini\n',
        `inventory: inventory.ini\nconnection:\n  private_key_file: ${configKey}\n`,
      ),
    );
    return d;
  }

  it('a FIFO, a device or a file over 64 KiB as a key is an error at file:line:col; validate does not wait', () => {
    const d = projectWithKeys('keys/fifo', '/dev/zero');
    spawnSync('mkfifo', [join(d, 'keys/fifo')]);
    const r = validateCli(d);
    expect(r.out).toMatch(
      /inventory\.ini:2:6: error: ansible_ssh_private_key_file 'keys\/fifo' cannot be used as a private key: it is a FIFO, not a regular file \(host web1\)/,
    );
    expect(r.out).toMatch(
      /kpfleet\.yml:3:21: error: connection\.private_key_file '\/dev\/zero' cannot be used as a private key: it is a character device, not a regular file/,
    );
    expect(r.status).toBe(3);

    writeFileSync(join(d, 'keys/big'), Buffer.alloc(70_000, 0x41));
    writeFileSync(join(d, 'keys/ok'), 'a key');
    writeFileSync(
      join(d, 'inventory.ini'),
      '[web]\nweb1 ansible_ssh_private_key_file=keys/big\nweb2 ansible_ssh_private_key_file=keys/missing\n',
    );
    writeFileSync(
      join(d, 'kpfleet.yml'),
      readFileSync(join(d, 'kpfleet.yml'), 'utf8').replace('/dev/zero', 'keys/ok'),
    );
    const { diagnostics } = loadProject({ cwd: d });
    // a key that is not there is not an error here: ssh skips a missing identity, and a CI job
    // that only validates has no keys
    expect(diagnostics.map((x) => `${x.file}:${String(x.pos?.line)} ${x.message}`)).toEqual([
      "inventory.ini:2 ansible_ssh_private_key_file 'keys/big' cannot be used as a private key: it is 70000 bytes, more than the 64 KiB a private key may be (host web1)",
    ]);
  });
});

describe('support windows (issue 17: covered until)', () => {
  const project = (extra: string, support = '') => {
    const dir = tmp();
    mkdirSync(join(dir, 'patches'));
    copyFileSync(join(BASE, 'patches/a.ko'), join(dir, 'patches/a.ko'));
    copyFileSync(join(BASE, 'inventory.ini'), join(dir, 'inventory.ini'));
    const patch = (name: string, more = '') =>
      `  ${name}:\n    module: livepatch_${name}\n    kernel: "5.${name === 'a' ? '1' : '2'}*"\n    file: patches/a.ko\n    sha256: ${SHA_A}\n    released: 2026-01-01\n${more}`;
    writeFileSync(
      join(dir, 'kpfleet.yml'),
      `inventory: inventory.ini\n${extra}patches:\n${patch('a', support)}${patch('b')}groups:\n  web:\n    loaded: [a, b]\n`,
    );
    return loadProject({ cwd: dir, configPath: join(dir, 'kpfleet.yml') });
  };

  it('a patch’s own support wins over patch_defaults.support, which every other patch takes', () => {
    const { config, diagnostics } = project(
      'patch_defaults:\n  support: 365d\n',
      '    support: 90d\n',
    );
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(config.patches.get('a')?.supportMs).toBe(90 * 86_400_000);
    expect(config.patches.get('b')?.supportMs).toBe(365 * 86_400_000);
  });

  it('without either, a patch has no window of its own (rollout.reboot_due_after applies)', () => {
    const { config } = project('');
    expect(config.patches.get('a')?.supportMs).toBeUndefined();
  });

  it('a support window out of range is an error at its line', () => {
    const { diagnostics } = project('patch_defaults:\n  support: 12h\n', '    support: 4000d\n');
    const errs = diagnostics.filter((d) => d.code === 'rules/duration-range');
    expect(errs.map((d) => [d.pos?.line, d.message])).toEqual([
      [3, expect.stringContaining('patch_defaults.support must be between 1d and 3650d')],
      [11, expect.stringContaining('support must be between 1d and 3650d')],
    ]);
  });
});
