/**
 * The OpenVEX checker of the tests (test/consumers/openvex.ts) checked itself: a valid document
 * passes, and each rule of the specification broken once is reported, naming the rule; and the
 * optional official schema (OPENVEX_SCHEMA) is applied when named.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { validateOpenVex } from '../../consumers/openvex.ts';

type Doc = Record<string, unknown> & { statements: Record<string, unknown>[] };

function valid(): Doc {
  return {
    '@context': 'https://openvex.dev/ns/v0.2.0',
    '@id': 'urn:kpfleet:vex:sha256:00ff',
    author: 'kpfleet',
    role: 'Fleet operator',
    timestamp: '2026-12-04T12:00:00.000Z',
    version: 1,
    tooling: 'kpfleet 1.0.0',
    statements: [
      {
        vulnerability: { name: 'CVE-2024-1086' },
        timestamp: '2026-12-04T12:00:00Z',
        products: [
          {
            '@id': 'urn:kpfleet:host:web01',
            identifiers: { purl: 'pkg:rpm/redhat/kernel@5.14.0-362.8.1.el9_3?arch=x86_64' },
            subcomponents: [{ '@id': 'pkg:rpm/redhat/kernel@5.14.0' }],
          },
        ],
        status: 'not_affected',
        justification: 'inline_mitigations_already_exist',
      },
      {
        vulnerability: { name: 'CVE-2024-1086' },
        products: [{ '@id': 'urn:kpfleet:host:web02' }],
        status: 'affected',
        action_statement: 'run kpfleet apply',
      },
      {
        vulnerability: { name: 'CVE-2024-1086' },
        products: [{ identifiers: { '@cpe23': 'cpe:2.3:o:linux:linux_kernel:6.1:*:*:*:*:*:*:*' } }],
        status: 'under_investigation',
      },
      {
        vulnerability: { name: 'CVE-2024-1086' },
        products: [{ '@id': 'urn:kpfleet:host:web04' }],
        status: 'not_affected',
        impact_statement: 'the module is never loaded',
      },
    ],
  };
}

/** The problems of the valid document changed by `change`. */
function broken(change: (d: Doc) => void): string[] {
  const d = valid();
  change(d);
  return validateOpenVex(d);
}
const first = (d: Doc): Record<string, unknown> => d.statements[0] ?? {};

/** OPENVEX_SCHEMA as the run was started with (a test below sets its own). */
const GIVEN_SCHEMA = process.env.OPENVEX_SCHEMA;
afterEach(() => {
  if (GIVEN_SCHEMA === undefined) delete process.env.OPENVEX_SCHEMA;
  else process.env.OPENVEX_SCHEMA = GIVEN_SCHEMA;
});

describe('validateOpenVex', () => {
  it('passes a valid document', () => {
    expect(validateOpenVex(valid())).toEqual([]);
  });

  it.each<[string, (d: Doc) => void, RegExp]>([
    [
      'not_affected without a justification or an impact_statement',
      (d) => delete first(d).justification,
      /statements\/0 not_affected needs exactly one of a justification or an impact_statement/,
    ],
    [
      'not_affected with both a justification and an impact_statement',
      (d) => (first(d).impact_statement = 'live patched'),
      /statements\/0 not_affected needs exactly one of a justification or an impact_statement/,
    ],
    [
      'affected without an action_statement',
      (d) => delete d.statements[1]?.action_statement,
      /statements\/1 affected needs an action_statement/,
    ],
    ['an empty statements list', (d) => (d.statements = []), /\/statements .*fewer than 1/],
    [
      'a bad status',
      (d) => (first(d).status = 'patched'),
      /statements\/0\/status .*allowed values/,
    ],
    [
      'an unknown key in a statement',
      (d) => (first(d).severity = 'high'),
      /statements\/0 .*unknown key "severity"/,
    ],
    ['an unknown key in the document', (d) => (d.extra = 1), /unknown key "extra"/],
    [
      'an unknown justification',
      (d) => (first(d).justification = 'live_patched'),
      /statements\/0\/justification .*allowed values/,
    ],
    [
      'the context of another version',
      (d) => (d['@context'] = 'https://openvex.dev/ns/v0.0.1'),
      /\/@context must be equal to constant/,
    ],
    ['an @id that is not an IRI', (d) => (d['@id'] = 'vex 1'), /\/@id must match format "uri"/],
    ['no author', (d) => delete d.author, /must have required property 'author'/],
    ['version 0', (d) => (d.version = 0), /\/version must be >= 1/],
    ['a version that is no integer', (d) => (d.version = '1'), /\/version must be integer/],
    [
      'a timestamp that is not RFC 3339',
      (d) => (d.timestamp = '04/12/2026 12:00'),
      /\/timestamp must match format "date-time"/,
    ],
    [
      'a statement timestamp that is not RFC 3339',
      (d) => (first(d).timestamp = '2026-12-04'),
      /statements\/0\/timestamp must match format "date-time"/,
    ],
    [
      'a statement without vulnerability.name',
      (d) => (first(d).vulnerability = { '@id': 'https://nvd.nist.gov/vuln/detail/CVE-1' }),
      /statements\/0\/vulnerability must have required property 'name'/,
    ],
    [
      'a statement without products',
      (d) => delete first(d).products,
      /statements\/0 must have required property 'products'/,
    ],
    [
      'a product without @id or identifiers',
      (d) => (first(d).products = [{ hashes: { 'sha-256': 'ab' } }]),
      /statements\/0\/products\/0 must have required property '@id'/,
    ],
    [
      'an unknown identifier type',
      (d) => (first(d).products = [{ identifiers: { swid: 'x' } }]),
      /statements\/0\/products\/0\/identifiers.* must be equal to one of the allowed values/,
    ],
    [
      'a subcomponent with an unknown key',
      (d) =>
        (first(d).products = [{ '@id': 'urn:x:y', subcomponents: [{ '@id': 'urn:a', x: 1 }] }]),
      /subcomponents\/0 .*unknown key "x"/,
    ],
    [
      'the same statement twice',
      (d) => d.statements.push(structuredClone(d.statements[0] ?? {})),
      /\/statements must NOT have duplicate items/,
    ],
  ])('reports %s', (_name, change, message) => {
    const problems = broken(change);
    expect(problems.join('\n')).toMatch(message);
  });

  it('is not fooled by a document that is not an object', () => {
    expect(validateOpenVex(null)).not.toEqual([]);
    expect(validateOpenVex([valid()])).not.toEqual([]);
  });

  it('also checks against the schema file named by OPENVEX_SCHEMA, with format iri read as uri', () => {
    const dir = mkdtempSync(join(tmpdir(), 'openvex-schema-'));
    try {
      const file = join(dir, 'schema.json');
      // a stand-in for the official schema: it insists on a role, which ours does not
      writeFileSync(
        file,
        JSON.stringify({
          $schema: 'https://json-schema.org/draft/2020-12/schema',
          type: 'object',
          required: ['role'],
          properties: { '@id': { type: 'string', format: 'iri' } },
        }),
      );
      process.env.OPENVEX_SCHEMA = file;
      expect(validateOpenVex(valid())).toEqual([]);
      const noRole = broken((d) => delete d.role);
      expect(noRole).toEqual([
        expect.stringMatching(
          /^official schema \(.*schema\.json\): \/ must have required property 'role'/,
        ),
      ]);
      expect(broken((d) => (d['@id'] = 'not an iri')).join('\n')).toMatch(
        /official schema .*\/@id must match format "iri"/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
