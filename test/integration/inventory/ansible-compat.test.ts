/**
 * Compatibility with Ansible, checked against output recorded from the real thing
 * (scripts/gen-ansible-fixtures.sh; the Ansible version is in test/fixtures/ansible/VERSION).
 * Ansible is not needed to run these tests.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/errors.ts';
import { inventoryToAnsibleList } from '../../../src/inventory/ansible-list.ts';
import { loadInventory } from '../../../src/inventory/load.ts';
import { limitHostsDetailed, selectHostsDetailed } from '../../../src/inventory/pattern.ts';
import { decryptVault } from '../../../src/inventory/vault.ts';

const root = join(import.meta.dirname, '../../fixtures/ansible');
const cases = readdirSync(root, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

type Expected = string[] | { anyOrder: string[] } | { error: string };

function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** A case's test password for its committed vault files, as Ansible reads a password file. */
function vaultPassword(dir: string): Buffer | undefined {
  const path = join(dir, 'vault-password');
  return existsSync(path) ? Buffer.from(readFileSync(path, 'utf8').trim()) : undefined;
}

/**
 * ansible-inventory --list shows an inline `!vault` value as {"__ansible_vault": ciphertext};
 * kpfleet holds the plaintext: the expectation decrypted, to compare the two.
 */
function openVaults(v: unknown, password: Buffer | undefined): unknown {
  if (Array.isArray(v)) return v.map((x) => openVaults(x, password));
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  const cipher = o['__ansible_vault'];
  if (typeof cipher === 'string' && password) return decryptVault(cipher, password).toString();
  return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, openVaults(x, password)]));
}

it('has the fixtures the brief asks for', () => {
  expect(readFileSync(join(root, 'VERSION'), 'utf8')).toMatch(/^ansible \[core \d+\.\d+/);
  expect(cases.length).toBeGreaterThanOrEqual(15);
  const patterns = cases.flatMap((c) =>
    Object.keys(readJson(join(root, c, 'expected-patterns.json')) as Record<string, unknown>),
  );
  expect(patterns.length).toBeGreaterThanOrEqual(60);
});

describe.each(cases)('%s', (name) => {
  const dir = join(root, name);
  const file = readdirSync(dir).find((f) => f === 'inventory' || f.startsWith('inventory.'));
  if (file === undefined) throw new Error(`${name}: no inventory file`);
  const password = vaultPassword(dir);
  const { inventory, diagnostics } = loadInventory(
    join(dir, file),
    `${name}/${file}`,
    password ? { vault: { password } } : {},
  );
  const readFile = (p: string): string => readFileSync(join(dir, p), 'utf8');

  it('parses without errors', () => {
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  });

  it('matches ansible-inventory --list', () => {
    const want = openVaults(readJson(join(dir, 'expected-list.json')), password);
    expect(inventoryToAnsibleList(inventory)).toEqual(want);
  });

  it('skips, with a warning, the files of a directory Ansible could not parse', () => {
    const path = join(dir, 'expected-unparsed.json');
    const want = existsSync(path) ? (readJson(path) as string[]).map((f) => `${name}/${f}`) : [];
    const skipped = diagnostics.filter((d) => d.code === 'inventory/dir-skipped');
    expect(skipped.map((d) => d.file).sort()).toEqual(want);
  });

  const expected = readJson(join(dir, 'expected-patterns.json')) as Record<string, Expected>;
  const warningsPath = join(dir, 'expected-pattern-warnings.json');
  const expectedWarnings = existsSync(warningsPath)
    ? (readJson(warningsPath) as Record<string, string[]>)
    : {};

  it.each(Object.keys(expected))('pattern %s', (line) => {
    const want = expected[line];
    const [pattern = '', limit] = line.split(' --limit ');
    const run = () =>
      limit === undefined
        ? selectHostsDetailed(inventory, pattern, { readFile })
        : limitHostsDetailed(inventory, pattern, limit, { readFile });
    if (want !== undefined && !Array.isArray(want) && 'error' in want) {
      expect(run).toThrow(UsageError);
      // Python shows the path as bytes (b'file'); kpfleet shows it plainly.
      expect(run).toThrow(want.error.replace(/b'([^']*)'/g, '$1'));
      return;
    }
    const got = run();
    if (Array.isArray(want)) expect(got.hosts).toEqual(want);
    else expect([...got.hosts].sort()).toEqual(want?.anyOrder);
    expect(got.warnings).toEqual(expectedWarnings[line] ?? []);
  });
});
