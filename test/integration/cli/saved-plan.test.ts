/**
 * `apply PLANFILE` refuses, before contacting any host, a plan made from another configuration
 * (naming what changed), a plan of another kpfleet, and a plan that names hosts twice or hosts
 * the inventory does not have; what an upload sends is the catalogue's file, hashed again
 * (docs/security.md "Saved plans"). Real project files; no host is needed for any of it.
 */
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { selectHostsForCli } from '../../../src/cli/commands/project.ts';
import { projectFingerprint } from '../../../src/workflow/hosts.ts';
import {
  catalogueReader,
  checkSavedPlan,
  PlanRefusedError,
  readPlanFile,
} from '../../../src/cli/commands/saved-plan.ts';
import type { CliIo } from '../../../src/cli/io.ts';
import { VERSION } from '../../../src/cli/version.ts';
import { buildPlan } from '../../../src/plan/plan.ts';
import type { HostPlan, Plan, UploadChange } from '../../../src/plan/model.ts';

const BASE = new URL('../../fixtures/invalid/_base/', import.meta.url).pathname;
const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function project(): string {
  const d = mkdtempSync(join(tmpdir(), 'kpfleet-saved-'));
  dirs.push(d);
  cpSync(BASE, d, { recursive: true });
  writeFileSync(
    join(d, 'kpfleet.yml'),
    [
      'inventory: inventory.ini',
      'rollout:',
      '  waves: [1, 100%]',
      'patches:',
      '  a:',
      '    module: livepatch_a',
      '    kernel: "5.*"',
      '    file: patches/a.ko',
      `    sha256: ${sha(join(d, 'patches/a.ko'))}`,
      'groups:',
      '  web:',
      '    loaded: [a]',
      '',
    ].join('\n'),
  );
  return d;
}

const io = (cwd: string): CliIo => ({
  stdout: { write: () => true },
  stderr: { write: () => true },
  env: { HOME: cwd },
  cwd,
});
const select = (d: string) => selectHostsForCli({}, io(d));

function savedPlan(d: string, hosts: HostPlan[] = []): Plan {
  return buildPlan(hosts, {
    createdAt: new Date().toISOString(),
    kpfleetVersion: VERSION,
    config: 'kpfleet.yml',
    configFingerprint: projectFingerprint(select(d)),
  });
}

const refusal = (fn: () => void): PlanRefusedError => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PlanRefusedError);
    return err as PlanRefusedError;
  }
  throw new Error('not refused');
};

describe('the configuration fingerprint of a plan', () => {
  it('is the same for the same project wherever it is checked out', () => {
    const a = project();
    const b = project();
    expect(projectFingerprint(select(a))).toEqual(projectFingerprint(select(b)));
    expect(() => checkSavedPlan(savedPlan(a), select(b), 'plan.json')).not.toThrow();
  });

  it.each([
    [
      'a patch (a new build declared)',
      (d: string) => {
        const before = sha(join(d, 'patches/a.ko'));
        writeFileSync(join(d, 'patches/a.ko'), 'a new build');
        edit(d, before, sha(join(d, 'patches/a.ko')));
      },
      'patch a changed',
    ],
    [
      'a group',
      (d: string) => edit(d, 'loaded: [a]', 'installed: [a]'),
      'group web changed; host web1 changed; host web2 changed',
    ],
    [
      'the inventory',
      (d: string) =>
        writeFileSync(
          join(d, 'inventory.ini'),
          readFileSync(join(d, 'inventory.ini'), 'utf8') + '\n[web]\nweb9\n',
        ),
      'host web9 added',
    ],
    ['the rollout', (d: string) => edit(d, 'waves: [1, 100%]', 'waves: [100%]'), 'rollout changed'],
    [
      "a host's address",
      (d: string) =>
        edit(
          d,
          'inventory: inventory.ini',
          'inventory: inventory2.ini',
          'web1 ansible_host=10.9.9.9',
        ),
      'host web1 changed',
    ],
    [
      "a group's manager",
      (d: string) => edit(d, 'loaded: [a]', 'loaded: [a]\n    manager: klp'),
      'group web changed; host web1 changed; host web2 changed',
    ],
    [
      "a host's kpfleet_manager",
      (d: string) =>
        edit(
          d,
          'inventory: inventory.ini',
          'inventory: inventory2.ini',
          'web1 kernel_hint=el8 kpfleet_manager=kpatch',
        ),
      'host web1 changed',
    ],
  ])('a plan made before %s changed is refused, saying what changed', (_what, change, says) => {
    const d = project();
    const plan = savedPlan(d);
    change(d);
    const err = refusal(() => checkSavedPlan(plan, select(d), 'plan.json'));
    expect(err.exitCode).toBe(64);
    expect(err.code).toBe('E_PLAN_REFUSED');
    expect(err.message).toContain('plan.json was made from another configuration');
    expect(err.message).toContain(says);
  });

  it('a manager set to auto, the default, changes no host', () => {
    const d = project();
    const plan = savedPlan(d);
    edit(d, 'inventory: inventory.ini', 'inventory: inventory.ini\nconnection:\n  manager: auto');
    expect(() => checkSavedPlan(plan, select(d), 'plan.json')).not.toThrow();
  });

  it('a saved plan of another format version (2: before managers) is refused whole', () => {
    const d = project();
    const file = join(d, 'old.json');
    writeFileSync(file, JSON.stringify({ ...savedPlan(d), version: 2 }));
    expect(() => readPlanFile(file)).toThrow(
      `${file} is not a kpfleet plan of version 3 (format "kpfleet-plan", version 2)`,
    );
    writeFileSync(file, JSON.stringify(savedPlan(d)));
    expect(readPlanFile(file).version).toBe(3);
  });

  it('a plan of another kpfleet version is refused', () => {
    const d = project();
    const plan = { ...savedPlan(d), kpfleetVersion: '0.0.1' };
    expect(refusal(() => checkSavedPlan(plan, select(d), 'p.json')).message).toContain(
      'was made by kpfleet "0.0.1"',
    );
  });

  it('a host twice, or one the inventory does not have, is refused', () => {
    const d = project();
    const h = (host: string): HostPlan => ({
      host,
      groups: [],
      status: 'converged',
      reason: 'x',
      changes: [],
      findings: [],
      cves: [],
    });
    const err = refusal(() =>
      checkSavedPlan(savedPlan(d, [h('db1'), h('db1'), h('evil')]), select(d), 'p.json'),
    );
    expect(err.problems.map((p) => `${p.host}: ${p.message}`)).toEqual([
      'db1: the plan names this host twice',
      'evil: not a host of the inventory',
    ]);
  });
});

describe('what an upload sends', () => {
  const upload = (source: string, patch = 'a'): UploadChange => ({
    action: 'upload',
    patch,
    module: 'livepatch_a',
    source,
    sha256: '0'.repeat(64),
    destination: '~/.kpfleet/stage/0000000000000000/a.ko',
    reason: 'x',
  });

  it("is the catalogue's file, never a path the plan names", async () => {
    const d = project();
    const read = catalogueReader(select(d).config);
    expect((await read(upload('patches/a.ko'))).equals(readFileSync(join(d, 'patches/a.ko')))).toBe(
      true,
    );
    await expect(read(upload('/etc/shadow'))).rejects.toThrow(
      '/etc/shadow is not the file kpfleet.yml declares for a',
    );
    await expect(read(upload('patches/a.ko', 'b'))).rejects.toThrow('not the file');
  });

  it('is hashed again: a file changed after kpfleet.yml was checked is refused', async () => {
    const d = project();
    const read = catalogueReader(select(d).config);
    writeFileSync(join(d, 'patches/a.ko'), 'replaced after validation');
    await expect(read(upload('patches/a.ko'))).rejects.toMatchObject({
      code: 'E_PATCH_CHANGED',
      exitCode: 1,
    });
  });
});

function edit(d: string, from: string, to: string, inventoryLine?: string): void {
  const f = join(d, 'kpfleet.yml');
  writeFileSync(f, readFileSync(f, 'utf8').replace(from, to));
  if (inventoryLine !== undefined) {
    const inv = readFileSync(join(d, 'inventory.ini'), 'utf8').replace(
      'web1 kernel_hint=el8',
      inventoryLine,
    );
    writeFileSync(join(d, 'inventory2.ini'), inv);
  }
}
