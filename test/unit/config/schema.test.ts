import { describe, expect, it } from 'vitest';
import { validateSchema } from '../../../src/config/schema.ts';
import { parseYamlFile } from '../../../src/config/yaml-doc.ts';

function check(text: string) {
  const file = parseYamlFile('k.yml', text);
  expect(file.diagnostics).toEqual([]);
  return validateSchema(file).map((d) => ({
    at: `${d.pos?.line ?? 0}:${d.pos?.col ?? 0}`,
    code: d.code,
    message: d.message,
    hint: d.hint,
  }));
}

describe('schema errors point at the YAML node', () => {
  it('accepts a minimal project', () => {
    expect(check('inventory: hosts.ini\n')).toEqual([]);
  });

  it('unknown keys point at the key, with a did-you-mean', () => {
    expect(check('inventory: i.ini\nrollout:\n  forsk: 5\n')).toEqual([
      {
        at: '3:3',
        code: 'schema/unknown-key',
        message: "unknown key 'forsk' in rollout",
        hint: "did you mean 'forks'?",
      },
    ]);
  });

  it('wrong types and enum values point at the value', () => {
    expect(check('inventory: i.ini\nconnection:\n  become: su\n  port: "22"\n')).toEqual([
      {
        at: '3:11',
        code: 'schema/enum',
        message: "connection.become must be one of sudo, none, not 'su'",
        hint: "did you mean 'sudo'?",
      },
      {
        at: '4:9',
        code: 'schema/type',
        message: "connection.port must be an integer, not '22'",
        hint: undefined,
      },
    ]);
  });

  it('a missing key points at the mapping that lacks it', () => {
    expect(
      check('inventory: i.ini\npatches:\n  p1:\n    kernel: "5.*"\n    rpm: kpatch-patch-1-1\n'),
    ).toEqual([
      {
        at: '3:3',
        code: 'schema/missing-key',
        message: "patches.p1 is missing the required key 'module'",
        hint: undefined,
      },
    ]);
  });

  it('a oneOf reports the branch that fits the value, at the item', () => {
    expect(
      check('inventory: i.ini\npatches:\n  p1:\n    module: m\n    kernel: [a, 3]\n    rpm: x\n'),
    ).toEqual([
      {
        at: '5:17',
        code: 'schema/type',
        message: 'patches.p1.kernel[1] must be a string, not 3',
        hint: undefined,
      },
    ]);
    expect(
      check('inventory: i.ini\npatches:\n  p1:\n    module: m\n    kernel: {a: 1}\n    rpm: x\n'),
    ).toEqual([
      {
        at: '5:13',
        code: 'schema/type',
        message: 'patches.p1.kernel must be a string or a list of strings, not a mapping',
        hint: undefined,
      },
    ]);
  });

  it('patterns carry a message written for users', () => {
    const [d] = check(
      'inventory: i.ini\npatches:\n  p1:\n    module: livepatch-x\n    kernel: k\n    rpm: x\n',
    );
    expect(d).toMatchObject({
      at: '4:13',
      message:
        "patches.p1.module must be a kernel module name: letters, digits and '_', at most 55 characters, not 'livepatch-x'",
    });
  });

  it('invalid patch names point at the name', () => {
    const [d] = check(
      'inventory: i.ini\npatches:\n  "bad name":\n    module: m\n    kernel: k\n    rpm: x\n',
    );
    expect(d).toMatchObject({ at: '3:3', code: 'schema/name' });
  });

  it('reports every error at once', () => {
    const all = check(
      'inventory: 3\nrollout:\n  forks: 0\n  waves: []\n  max_failures: x\nbogus: 1\n',
    );
    expect(all.map((d) => d.at).sort()).toEqual(['1:12', '3:10', '4:10', '5:17', '6:1']);
  });

  it('keys that YAML reads as numbers are still found (stringKeys)', () => {
    expect(check('inventory: i.ini\ngroups:\n  80:\n    loaded: 5\n')).toEqual([
      {
        at: '4:13',
        code: 'schema/type',
        message: 'groups.80.loaded must be a list, not 5',
        hint: undefined,
      },
    ]);
  });
});

describe('YAML syntax errors', () => {
  it('are reported with their position and no schema pass', () => {
    const file = parseYamlFile('k.yml', 'inventory: a\nrollout:\n  forks: 1\n forks: 2\n');
    expect(file.value).toBeUndefined();
    expect(file.diagnostics[0]).toMatchObject({
      severity: 'error',
      file: 'k.yml',
      pos: { line: 4 },
    });
  });
  it('a duplicate key is an error in kpfleet.yml', () => {
    const file = parseYamlFile('k.yml', 'inventory: a\ninventory: b\n');
    expect(file.diagnostics).toEqual([
      expect.objectContaining({ code: 'yaml/duplicate_key', pos: { line: 2, col: 1 } }),
    ]);
  });
});
