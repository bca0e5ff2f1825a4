/**
 * The status report as OpenVEX (src/report/status-openvex.ts), on the hand-written fixture, read
 * back and checked against the OpenVEX 0.2.0 rules (test/consumers/openvex.ts): one statement per
 * host × declared CVE with the status its coverage says, the action where one is needed, the
 * host and its kernel package as the product, a document id that depends on the statements only.
 */
import { describe, expect, it } from 'vitest';
import { kernelPurl, renderStatusOpenVex } from '../../../src/report/status-openvex.ts';
import { validateOpenVex } from '../../consumers/openvex.ts';
import { statusFixture } from './status-fixture.ts';

interface Statement {
  vulnerability: { name: string };
  status: string;
  justification?: string;
  action_statement?: string;
  status_notes?: string;
  products: { '@id': string; identifiers?: { purl: string }; subcomponents?: unknown[] }[];
}
interface VexDoc {
  '@id': string;
  timestamp: string;
  statements: Statement[];
}

const doc = (): VexDoc => JSON.parse(renderStatusOpenVex(statusFixture())) as VexDoc;
/** The statements about `host`, by its product @id. */
const about = (d: VexDoc, host: string): Statement[] =>
  d.statements.filter(
    (s) => s.products[0]?.['@id'] === `urn:kpfleet:host:${encodeURIComponent(host)}`,
  );

describe('renderStatusOpenVex', () => {
  it('is a valid OpenVEX 0.2.0 document: one statement per host × declared CVE', () => {
    const d = doc();
    expect(validateOpenVex(d)).toEqual([]);
    const pairs = statusFixture().hosts.flatMap((h) => h.cves.map((c) => [h.host, c.cve]));
    expect(d.statements).toHaveLength(pairs.length);
    expect(d.timestamp).toBe('2026-12-04T12:00:00.000Z');
  });

  it('a live-patched host: not_affected, inline_mitigations_already_exist', () => {
    const web01 = about(doc(), 'web01');
    expect(web01.map((s) => [s.vulnerability.name, s.status, s.justification])).toEqual([
      ['CVE-2023-4623', 'not_affected', 'inline_mitigations_already_exist'],
      ['CVE-2023-5178', 'not_affected', 'inline_mitigations_already_exist'],
    ]);
    expect(web01[0]?.status_notes).toMatch(/el9-cumulative-3.*supported until 2027-03-01/);
  });

  it('a host not converged: affected, and the action is to run kpfleet apply', () => {
    const web02 = about(doc(), 'web02');
    expect(web02.map((s) => s.status)).toEqual(['affected', 'affected']);
    for (const s of web02) {
      expect(s.justification).toBeUndefined();
      expect(s.action_statement).toMatch(/run kpfleet apply to load el9-cumulative-3/);
    }
  });

  it('a host no patch fits: affected, and the action says no patch fits its kernel', () => {
    const batch04 = about(doc(), 'batch04');
    expect(batch04.map((s) => s.status)).toEqual(['affected', 'affected']);
    expect(batch04[0]?.action_statement).toMatch(
      /no declared live patch fits kernel 5\.14\.0-284\.11\.1\.el9_2\.x86_64/,
    );
    expect(batch04[0]?.action_statement).not.toMatch(/kpfleet apply/);
  });

  it('an unreachable host: under_investigation; a host with nothing declared: no statement', () => {
    const d = doc();
    const odd = about(d, 'odd-<b>"x",=1');
    expect(odd.map((s) => s.status)).toEqual(['under_investigation', 'under_investigation']);
    expect(odd[0]?.products[0]?.identifiers).toBeUndefined(); // its kernel is unknown
    expect(about(d, 'db01')).toEqual([]);
  });

  it('the product: the host as urn:kpfleet:host:<name>, its running kernel package as the purl', () => {
    // web02, on web01's kernel, has its CVEs exposed: without it, web01's kernel is named
    const r = statusFixture();
    r.hosts = r.hosts.filter((h) => h.host !== 'web02');
    const [s] = about(JSON.parse(renderStatusOpenVex(r)) as VexDoc, 'web01');
    expect(s?.products).toEqual([
      {
        '@id': 'urn:kpfleet:host:web01',
        identifiers: { purl: 'pkg:rpm/redhat/kernel@5.14.0-362.8.1.el9_3?arch=x86_64' },
        subcomponents: [
          {
            '@id': 'pkg:rpm/redhat/kernel@5.14.0-362.8.1.el9_3?arch=x86_64',
            identifiers: { purl: 'pkg:rpm/redhat/kernel@5.14.0-362.8.1.el9_3?arch=x86_64' },
          },
        ],
      },
    ]);
    expect(kernelPurl({ kernel: '6.1.0-18-amd64', os: 'debian', arch: 'x86_64' })).toBe(
      'pkg:deb/debian/linux-image-6.1.0-18-amd64?arch=amd64', // Debian's name for x86_64
    );
    expect(kernelPurl({ kernel: '6.6.1', os: 'arch' })).toBe('pkg:generic/linux@6.6.1');
  });

  it('never not_affected for a kernel purl on which another host has the CVE exposed', () => {
    // a scanner matching by purl (go-vex, Trivy) takes every statement naming the kernel, the
    // last one winning: web03's not_affected would hide web02's affected, on the same kernel
    const d = doc();
    const ids = (p: Statement['products'][number]): string[] => [
      p['@id'],
      ...(p.identifiers ? [p.identifiers.purl] : []),
    ];
    const notMitigated = new Set(
      d.statements
        .filter((x) => x.status !== 'not_affected')
        .flatMap((x) =>
          x.products.flatMap((p) => ids(p).map((id) => `${x.vulnerability.name} ${id}`)),
        ),
    );
    expect(about(d, 'web02').map((x) => x.status)).toEqual(['affected', 'affected']);
    const mitigated = d.statements.filter((x) => x.status === 'not_affected');
    expect(mitigated.length).toBeGreaterThan(0);
    for (const x of mitigated)
      for (const p of x.products) {
        expect(p.subcomponents).toBeUndefined();
        for (const id of ids(p))
          expect(notMitigated.has(`${x.vulnerability.name} ${id}`)).toBe(false);
      }
    expect(about(d, 'web01')[0]?.status_notes).toMatch(/kernel package is not named/);
    expect(validateOpenVex(d)).toEqual([]);
  });

  it('nor for a kernel purl that a host which does not declare the CVE runs (in no group)', () => {
    const r = statusFixture();
    const web01 = r.hosts.find((h) => h.host === 'web01');
    if (!web01) throw new Error('fixture: web01');
    // only web01 declares the CVEs; db09 runs its kernel with nothing declared, nothing live
    r.hosts = [web01, { ...web01, host: 'db09', groups: [], state: 'none', patches: [], cves: [] }];
    const d = JSON.parse(renderStatusOpenVex(r)) as VexDoc;
    expect(d.statements.map((x) => x.status)).toEqual(['not_affected', 'not_affected']);
    for (const x of d.statements) expect(x.products[0]?.identifiers).toBeUndefined();
  });

  it('an os-release ID or uname -m that names an Object property is no vendor or architecture', () => {
    // both are the host's to print: ID=constructor, uname -m toString pass the probe's rules
    expect(kernelPurl({ kernel: '6.1.0', os: 'constructor', arch: 'x86_64' })).toBe(
      'pkg:generic/linux@6.1.0?arch=x86_64',
    );
    expect(kernelPurl({ kernel: '6.1.0-18-amd64', os: 'debian', arch: 'toString' })).toBe(
      'pkg:deb/debian/linux-image-6.1.0-18-amd64?arch=toString',
    );
  });

  it('an odd host name is percent-encoded in the IRI, never raw', () => {
    const text = renderStatusOpenVex(statusFixture());
    const ids = (JSON.parse(text) as VexDoc).statements.map((s) => s.products[0]?.['@id'] ?? '');
    expect(ids).toContain('urn:kpfleet:host:odd-%3Cb%3E%22x%22%2C%3D1');
    for (const id of ids) expect(id).toMatch(/^urn:kpfleet:host:[A-Za-z0-9%._~-]+$/);
  });

  it('a host name with a lone surrogate (YAML "\\uD800") is encoded, distinct, not a crash', () => {
    const r = statusFixture();
    r.hosts = r.hosts.map((h) =>
      h.host === 'web02'
        ? { ...h, host: 'web\ud800x' }
        : h.host === 'web03'
          ? { ...h, host: 'web\\ud800x' } // its safe-text spelling, a name of its own
          : h,
    );
    const d = JSON.parse(renderStatusOpenVex(r)) as VexDoc;
    const ids = new Set(d.statements.map((s) => s.products[0]?.['@id'] ?? ''));
    expect(ids).toContain('urn:kpfleet:host:web%ED%A0%80x');
    expect(ids).toContain('urn:kpfleet:host:web%5Cud800x');
    expect(validateOpenVex(d)).toEqual([]);
  });

  it('the document @id is stable for the same report, and changes with its statements', () => {
    const a = doc()['@id'];
    expect(a).toMatch(/^urn:kpfleet:vex:sha256:[0-9a-f]{64}$/);
    expect(doc()['@id']).toBe(a);
    const other = statusFixture();
    other.hosts = other.hosts.filter((h) => h.host !== 'web02');
    expect((JSON.parse(renderStatusOpenVex(other)) as VexDoc)['@id']).not.toBe(a);
  });
});
