/** The project loader on real files: discovery, path resolution, what it reads. */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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
    expect(diagnostics).toEqual([]);
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
