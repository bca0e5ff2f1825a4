/** The project loader on real files: discovery, path resolution, what it reads. */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
