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

const root = join(import.meta.dirname, '../../fixtures/ansible');
const cases = readdirSync(root, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

type Expected = string[] | { anyOrder: string[] } | { error: string };

function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8'));
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
  const { inventory, diagnostics } = loadInventory(join(dir, file), `${name}/${file}`);
  const readFile = (p: string): string => readFileSync(join(dir, p), 'utf8');

  it('parses without errors', () => {
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  });

  it('matches ansible-inventory --list', () => {
    expect(inventoryToAnsibleList(inventory)).toEqual(readJson(join(dir, 'expected-list.json')));
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
