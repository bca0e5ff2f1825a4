/**
 * The built CLI (bin/kpfleet.js → dist/), run as a user runs it: output and exit codes
 * (docs/exit-codes.md). `npm run test:e2e` builds first.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SCHEMA_NAMES, standaloneValidator } from '../../src/schema-validators.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/kpfleet.js');

function kpfleet(args: string[], cwd = ROOT) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const work = mkdtempSync(join(tmpdir(), 'kpfleet-e2e-'));
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('kpfleet (built)', () => {
  it('validates the example project: exit 0', () => {
    const r = kpfleet(['validate', '-c', 'examples/kpfleet.yml']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(
      /examples\/kpfleet\.yml is valid: 4 patches, 3 groups, 6 hosts in inventory\.ini/,
    );
    expect(r.code).toBe(0);
  });

  it('finds kpfleet.yml in the working directory', () => {
    const r = kpfleet(['validate'], join(ROOT, 'examples'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^✔ kpfleet\.yml is valid/);
  });

  it('rejects an invalid project with file:line:col and exit 3, contacting no host', () => {
    const dir = join(work, 'invalid');
    cpSync(join(ROOT, 'examples'), dir, { recursive: true });
    const text = readFileSync(join(dir, 'kpfleet.yml'), 'utf8')
      .replace('forks: 50', 'forsk: 50')
      .replace(
        'loaded: [cve-2024-1086, el9-cumulative-3]',
        'loaded: [cve-2024-1068, el9-cumulative-3]',
      );
    writeFileSync(join(dir, 'kpfleet.yml'), text);
    const r = kpfleet(['validate'], dir);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain("kpfleet.yml:10:3: error: unknown key 'forsk' in rollout");
    expect(r.stderr).toContain('  10 |   forsk: 50');
    expect(r.stderr).toContain("hint: did you mean 'forks'?");
    // the line of the misspelt patch in the example, wherever it is now
    const line = text.split('\n').findIndex((l) => l.includes('cve-2024-1068, el9')) + 1;
    expect(r.stderr).toContain(
      `kpfleet.yml:${String(line)}:14: error: unknown patch 'cve-2024-1068' in groups.web.loaded`,
    );
    expect(r.stderr).toMatch(/configuration is invalid \(2 errors\); no host was contacted/);
  });

  it('validate --json gives the diagnostics as data, exit 3', () => {
    const dir = join(work, 'json');
    cpSync(join(ROOT, 'examples'), dir, { recursive: true });
    writeFileSync(join(dir, 'kpfleet.yml'), 'inventory: inventory.ini\nrollout: {forks: 0}\n');
    const r = kpfleet(['validate', '--json'], dir);
    expect(r.code).toBe(3);
    const out = JSON.parse(r.stdout) as {
      valid: boolean;
      diagnostics: { code: string; pos: unknown }[];
    };
    expect(out.valid).toBe(false);
    expect(out.diagnostics).toEqual([
      expect.objectContaining({
        code: 'schema/range',
        file: 'kpfleet.yml',
        pos: { line: 2, col: 18 },
      }),
    ]);
  });

  it('hosts --limit resolves patterns and desired state', () => {
    const r = kpfleet(['hosts', '-c', 'examples/kpfleet.yml', '--limit', 'db', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as {
      hosts: {
        name: string;
        connection: { address: string; port: number | null; user: string };
        patches: { name: string; state: string }[];
      }[];
    };
    expect(out.hosts.map((h) => h.name)).toEqual(['db-a.example.com', 'db-b.example.com']);
    expect(out.hosts[1]?.connection).toMatchObject({
      address: '10.0.2.12',
      port: 2222,
      user: 'dbadmin',
    });
    expect(out.hosts[0]?.patches.map((p) => `${p.name}=${p.state}`)).toEqual([
      'cve-2024-1086=installed',
      'old-debug-patch=absent',
    ]);
  });

  it('exit 64 for usage errors', () => {
    expect(kpfleet(['validate', '--bogus']).code).toBe(64);
    expect(kpfleet(['frobnicate']).code).toBe(64);
    expect(kpfleet([]).code).toBe(64);
    const none = kpfleet(['validate'], work);
    expect(none.code).toBe(64);
    expect(none.stderr).toMatch(/no kpfleet\.yml in /);
    const limit = kpfleet(['hosts', '-c', 'examples/kpfleet.yml', '--limit', 'nosuchgroup']);
    expect(limit.code).toBe(64);
    expect(limit.stderr).toMatch(/matches no host/);
  });

  it("runs the build's validators, generated from the schemas as they are now", () => {
    for (const name of SCHEMA_NAMES) {
      const built = readFileSync(join(ROOT, `dist/validators/${name}.cjs`), 'utf8');
      expect(built, `dist/validators/${name}.cjs: run npm run build`).toBe(
        standaloneValidator(name),
      );
    }
  });

  it('validate loads no schema compiler and no ssh2', () => {
    // the CLI in a process that lists the CommonJS modules it loaded (ajv, ssh2, yaml and
    // commander are CommonJS; listr2 is ESM: test/unit/cli/startup-imports.test.ts keeps it out)
    const script = [
      "import { createRequire } from 'node:module';",
      `const { runCli } = await import(${JSON.stringify(join(ROOT, 'dist/cli/main.js'))});`,
      "const code = await runCli(['validate', '-c', 'examples/kpfleet.yml']);",
      'const loaded = Object.keys(createRequire(import.meta.url).cache);',
      'process.stderr.write(JSON.stringify({ code, loaded }));',
    ].join('\n');
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
      timeout: 30_000,
    });
    const { code, loaded } = JSON.parse(r.stderr) as { code: number; loaded: string[] };
    expect(code).toBe(0);
    const packages = new Set(loaded.map((f) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f)?.[1]));
    // the one of ajv that loads: the helpers of the generated code, never its compiler
    expect(
      loaded.filter((f) => f.includes('/ajv/dist/') && !f.includes('/ajv/dist/runtime/')),
    ).toEqual([]);
    expect(loaded.some((f) => f.endsWith('dist/validators/kpfleet.cjs'))).toBe(true);
    expect(packages.has('yaml')).toBe(true);
    expect(packages.has('ssh2')).toBe(false);
  });

  it('the bundle carries the validators: no file of dist/validators or ajv is loaded', () => {
    // the bundle as bin/kpfleet.js runs it, in a process that lists the CommonJS modules loaded
    const preload = join(work, 'list-modules.cjs');
    writeFileSync(
      preload,
      "process.on('exit', () => process.stderr.write('\\nMODULES ' + JSON.stringify(Object.keys(require.cache))));\n",
    );
    const plan = join(work, 'bad-plan.json');
    writeFileSync(plan, JSON.stringify({ format: 'kpfleet-plan', version: 3 }));
    const run = (args: string[]) => {
      const r = spawnSync(process.execPath, ['-r', preload, BIN, ...args], {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1' },
        timeout: 30_000,
      });
      const [stderr = '', modules = '[]'] = r.stderr.split('\nMODULES ');
      const loaded = JSON.parse(modules) as string[];
      expect(loaded.filter((f) => f.includes('/validators/') || f.includes('/ajv/'))).toEqual([]);
      return { code: r.status, stdout: r.stdout, stderr };
    };
    // validators run from the bundle: kpfleet.yml's, and the plan's on a plan only its schema
    // refuses (the report's is carried the same way, from the one list of schemas)
    expect(run(['validate', '-c', 'examples/kpfleet.yml']).code).toBe(0);
    const badPlan = run(['apply', '-c', 'examples/kpfleet.yml', plan]);
    expect(badPlan.code).toBe(64);
    expect(badPlan.stderr).toContain('bad-plan.json is not a valid plan: data must have required');
  });

  it('--help and --version exit 0', () => {
    const help = kpfleet(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/validate/);
    expect(help.stdout).toMatch(/Exit codes/);
    const sub = kpfleet(['hosts', '--help']);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toMatch(/--limit <pattern>/);
    const version = kpfleet(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
