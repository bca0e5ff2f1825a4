/**
 * Module signatures in the planner (issue 21): a module the host's kernel would refuse for its
 * signature is not sent there (src/plan/host/phases/signatures.ts; docs/kpatch-behaviour.md §5.5).
 */
import { describe, expect, it } from 'vitest';
import type { ModuleSignature, Patch } from '../../../src/config-model.ts';
import type { SecurityFacts } from '../../../src/facts/model.ts';
import {
  KERNEL,
  facts,
  fileOf,
  filePatch,
  inst,
  live,
  loaded,
  mod,
  plan,
  rpmPatch,
  rhel,
  want,
} from './builders.ts';

function signed(p: Patch, signature: ModuleSignature): Patch {
  if (p.source.kind !== 'file') throw new Error('a file patch');
  return { ...p, source: { ...p.source, signature } };
}

const UNSIGNED = signed(filePatch('cve-2024-1086'), { signed: false });
const PKCS7: ModuleSignature = {
  signed: true,
  idType: 'PKCS#7',
  signer: 'Example Corp live patch signing key',
  keyId: '1A:2B',
  hashAlgo: 'sha256',
};
const ENFORCING: SecurityFacts = { lockdown: 'none', sigEnforce: true };
const LOCKED: SecurityFacts = { lockdown: 'integrity', sigEnforce: false };
const OPEN: SecurityFacts = { lockdown: 'none', sigEnforce: false };

const loadOn = (p: Patch, security: SecurityFacts) =>
  plan({ patches: [p], want: [want(p.name, 'loaded')], facts: facts({ security }) });

describe('planner: module signatures', () => {
  it('an unsigned module on a host that enforces signatures blocks the host, saying why and what insmod would say', () => {
    const p = loadOn(UNSIGNED, ENFORCING);
    expect(p.status).toBe('blocked');
    expect(p.changes).toEqual([]);
    expect(p.reason).toBe(
      `the kernel would refuse 1 module for its signature: ${UNSIGNED.name} (unsigned)`,
    );
    const f = p.findings.find((x) => x.kind === 'unsigned');
    expect(f).toMatchObject({ severity: 'error', module: UNSIGNED.module });
    expect(f?.message).toContain(
      'is not signed, and web1 refuses unsigned modules (sig_enforce=Y)',
    );
    expect(f?.message).toContain('Key was rejected by service');
  });

  it('lockdown alone refuses it too, and the message names it and what insmod says there (EPERM)', () => {
    const p = loadOn(UNSIGNED, LOCKED);
    expect(p.status).toBe('blocked');
    const m = p.findings.find((x) => x.kind === 'unsigned')?.message ?? '';
    expect(m).toContain('refuses unsigned modules (lockdown=integrity)');
    expect(m).toContain('insmod would fail with "Operation not permitted"');
    expect(m).not.toContain('Key was rejected');
  });

  it('a host that enforces nothing loads it, with nothing said', () => {
    const p = loadOn(UNSIGNED, OPEN);
    expect(p.status).toBe('changes');
    expect(
      p.findings.filter((x) => x.kind === 'unsigned' || x.kind === 'signature-unknown'),
    ).toEqual([]);
  });

  it('a host whose policy could not be read loads it, with a warning', () => {
    const p = loadOn(UNSIGNED, { sigEnforce: false });
    expect(p.status).toBe('changes');
    const f = p.findings.find((x) => x.kind === 'signature-unknown');
    expect(f).toMatchObject({ severity: 'warning', module: UNSIGNED.module });
    expect(f?.message).toContain('could not read whether web1 refuses unsigned modules');
  });

  it('a signature no kernel can parse blocks a host that checks signatures, enforcing or not (EBADMSG)', () => {
    const bad = signed(filePatch('cve-2024-1086'), {
      signed: true,
      malformed: 'sig_len past the file',
    });
    const p = loadOn(bad, OPEN);
    expect(p.status).toBe('blocked');
    expect(p.reason).toContain('cve-2024-1086 (signature unreadable)');
    expect(p.findings.find((x) => x.kind === 'unsigned')?.message).toContain(
      'has a signature the kernel cannot parse (sig_len past the file), and a kernel that checks module signatures refuses such a module whether it enforces them or not (EBADMSG)',
    );
    // facts that show no module signing at all (a kernel built without it checks nothing): a warning
    const q = loadOn(bad, {});
    expect(q.status).toBe('changes');
    expect(q.findings.find((x) => x.kind === 'signature-unknown')?.severity).toBe('warning');
  });

  it('a signature that is not PKCS#7 counts as none: blocked where enforced, loaded elsewhere', () => {
    const pgp = signed(filePatch('cve-2024-1086'), { signed: true, idType: 'PGP' });
    expect(loadOn(pgp, ENFORCING).status).toBe('blocked');
    expect(loadOn(pgp, ENFORCING).findings[0]?.message).toContain('is signed as PGP, not PKCS#7');
    expect(loadOn(pgp, OPEN).status).toBe('changes');
  });

  it('a PKCS#7 signature is not judged (the keyrings need root to read): loaded where enforced', () => {
    const p = loadOn(signed(filePatch('cve-2024-1086'), PKCS7), ENFORCING);
    expect(p.status).toBe('changes');
    expect(p.changes.map((c) => c.action)).toContain('load');
    expect(p.findings.filter((x) => x.kind === 'unsigned')).toEqual([]);
  });

  it('nothing sent, nothing judged: an unsigned module already installed and loaded blocks nothing', () => {
    const p = plan({
      patches: [UNSIGNED],
      want: [want(UNSIGNED.name, 'loaded')],
      facts: facts({
        ...loaded(UNSIGNED.module),
        installed: [inst(fileOf(UNSIGNED))],
        security: ENFORCING,
      }),
    });
    expect(p.status).toBe('converged');
    expect(p.findings.filter((x) => x.kind === 'unsigned')).toEqual([]);
  });

  it('an install for another kernel is a warning: the running kernel does not tell the next boot’s policy', () => {
    const next = '5.14.0-362.18.1.el9_3.x86_64';
    const p = plan({
      patches: [signed(filePatch('next', { kernels: [next] }), { signed: false })],
      want: [want('next', 'installed')],
      facts: facts({ kernels: [KERNEL, next], security: ENFORCING }),
    });
    expect(p.status).toBe('changes');
    const f = p.findings.find((x) => x.kind === 'unsigned');
    expect(f?.severity).toBe('warning');
    expect(f?.message).toContain(
      'if the kernel it is installed for does too, it will not load at boot',
    );
  });

  it('a load that only re-enables a module in sysfs runs no insmod: not judged', () => {
    const p = plan({
      patches: [UNSIGNED],
      want: [want(UNSIGNED.name, 'loaded')],
      facts: facts({
        patches: [live(UNSIGNED.module, { enabled: false })],
        modules: [mod(UNSIGNED.module, 1)],
        installed: [inst(fileOf(UNSIGNED))],
        security: ENFORCING,
      }),
    });
    expect(p.changes.map((c) => c.action)).toEqual(['load']);
    expect(p.status).toBe('changes');
    expect(p.findings.filter((x) => x.kind === 'unsigned')).toEqual([]);
  });

  it('a package source is its vendor’s to sign: never judged', () => {
    const p = plan({
      patches: [rpmPatch('el9-3', rhel(1, 3))],
      want: [want('el9-3', 'loaded')],
      facts: facts({ security: ENFORCING }),
    });
    expect(p.status).not.toBe('blocked');
  });
});
