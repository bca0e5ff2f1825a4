/**
 * A saved plan is checked against the current kpfleet.yml before any host is contacted
 * (src/plan/verify.ts, docs/security.md "Saved plans"): every change the planner makes passes,
 * every hand-edit that reaches beyond the catalogue is refused naming host, change and field.
 */
import { describe, expect, it } from 'vitest';
import type { ModuleSignature, Patch } from '../../../src/config-model.ts';
import type { Change, HostPlan } from '../../../src/plan/model.ts';
import { diffChanges, diffHostPlan, verifyHostPlan } from '../../../src/plan/verify.ts';
import type { PlanProblem } from '../../../src/plan/verify.ts';
import {
  KERNEL,
  NEXT_KERNEL,
  catalogue,
  desired,
  facts,
  filePatch,
  inst,
  loaded,
  plan,
  rhel,
  rpmInst,
  rpmPatch,
  want,
} from './builders.ts';

const CVE = filePatch('cve-1', { cves: ['CVE-2024-1086'] });
const HOTFIX = filePatch('hotfix');
const OLD = filePatch('old');
const NEW = filePatch('new', { replaces: ['old'] });
const GONE = filePatch('gone');
const R1 = rhel(1, 1);
const RPM = rpmPatch('rpm-1', R1);
const ALL = [CVE, HOTFIX, OLD, NEW, GONE, RPM];

/** web1 wants cve-1 loaded; hotfix is in the catalogue but not declared for it. */
const genuine = (): HostPlan => plan({ patches: ALL, want: [want('cve-1', 'loaded')] });
const check = (hp: HostPlan, wanted = [want('cve-1', 'loaded')], over = {}): PlanProblem[] =>
  verifyHostPlan(hp, desired(wanted, over), catalogue(...ALL));
const edit = (hp: HostPlan, i: number, over: Record<string, unknown>): HostPlan => ({
  ...hp,
  changes: hp.changes.map((c, j) => (j === i ? { ...c, ...over } : c)),
});

describe('verifyHostPlan: what the planner makes passes', () => {
  it.each([
    ['upload, install, load', [want('cve-1', 'loaded')], facts()],
    [
      'a cumulative replacement and its clean-up',
      [want('new', 'loaded')],
      facts({ ...loaded('livepatch_old'), installed: [inst('livepatch-old.ko')] }),
    ],
    [
      'declared absent: unload and uninstall',
      [want('gone', 'absent')],
      facts({ ...loaded('livepatch_gone'), installed: [inst('livepatch-gone.ko')] }),
    ],
    [
      'a stale copy uninstalled, then the declared file installed',
      [want('cve-1', 'installed')],
      facts({ installed: [inst('livepatch-cve-1.ko', { sha256: 'e'.repeat(64) })] }),
    ],
    [
      'installed for a newer kernel that is installed on the host',
      [want('cve-1', 'installed')],
      facts({ kernels: [KERNEL, NEXT_KERNEL] }),
    ],
    ['a kpatch-patch package', [want('rpm-1', 'loaded')], facts()],
    [
      "a package's own copy installed again",
      [want('rpm-1', 'loaded')],
      facts({ ...loaded(R1.module), packages: [R1.nvra], rpmInstalled: [rpmInst(R1.file)] }),
    ],
  ])('%s', (_name, wanted, f) => {
    const withNext = filePatch('cve-1', { kernels: [KERNEL, NEXT_KERNEL] });
    const patches = _name.startsWith('installed for a newer') ? [withNext] : ALL;
    const hp = plan({ patches, want: wanted, facts: f });
    expect(hp.status).toBe('changes');
    expect(verifyHostPlan(hp, desired(wanted), catalogue(...patches))).toEqual([]);
  });

  it('unmanaged: remove allows removing what nothing declares', () => {
    const f = facts({ ...loaded('livepatch_vendor'), installed: [inst('livepatch-vendor.ko')] });
    const hp = plan({ patches: ALL, want: [], facts: f, desired: { unmanaged: 'remove' } });
    expect(hp.changes.map((c) => c.action)).toEqual(['unload', 'uninstall']);
    expect(check(hp, [], { unmanaged: 'remove' })).toEqual([]);
    // the same plan against a config that keeps what it does not declare
    expect(check(hp, [], { unmanaged: 'keep' }).map((p) => p.field)).toEqual(['module', 'module']);
  });
});

describe('verifyHostPlan: a hand-edited plan is refused, naming host, change and field', () => {
  const fieldOf = (ps: PlanProblem[]) => ps.map((p) => `${String(p.change)}:${p.field}`);

  it('an undeclared file uploaded, installed and loaded under the declared name', () => {
    const evil = 'ee'.repeat(32);
    const staged = `~/.kpfleet/stage/${evil.slice(0, 16)}/evil.ko`;
    let hp = genuine();
    hp = edit(hp, 0, { source: '/home/me/evil.ko', sha256: evil, destination: staged });
    hp = edit(hp, 1, { file: staged, sha256: evil });
    hp = edit(hp, 2, { file: `/var/lib/kpatch/${KERNEL}/evil.ko` });
    const problems = check(hp);
    expect(fieldOf(problems)).toEqual([
      '1:source',
      '1:sha256',
      '1:destination',
      '2:sha256',
      '2:file',
    ]);
    expect(problems[0]).toMatchObject({ host: 'web1', change: 1, action: 'upload' });
    expect(problems[0]?.message).toContain('"/home/me/evil.ko"');
    expect(problems[0]?.message).toContain('"patches/livepatch-cve-1.ko"');
  });

  it('a catalogue patch that is not declared for this host', () => {
    const hp = plan({ patches: ALL, want: [want('hotfix', 'loaded')] });
    const problems = check(hp); // the config declares only cve-1 for web1
    expect(fieldOf(problems)).toEqual(['1:patch', '2:patch', '3:patch']);
    expect(problems[2]?.message).toContain('"hotfix" is not declared loaded');
  });

  it('a load of a patch declared installed only, or for another kernel', () => {
    expect(fieldOf(check(genuine(), [want('cve-1', 'installed')]))).toEqual(['3:patch']);
    const other = filePatch('cve-1', { kernels: [NEXT_KERNEL] });
    const problems = verifyHostPlan(
      genuine(),
      desired([want('cve-1', 'loaded')]),
      catalogue(other),
    );
    expect(fieldOf(problems)).toContain('2:kernel');
    expect(fieldOf(problems)).toContain('3:patch');
  });

  it('install for a kernel the patch is not declared for', () => {
    expect(fieldOf(check(edit(genuine(), 1, { kernel: NEXT_KERNEL })))).toEqual(['2:kernel']);
  });

  it('a load file outside /var/lib/kpatch/<kernel>, or not a module file there', () => {
    for (const file of [
      '/tmp/evil.ko',
      `/var/lib/kpatch/${NEXT_KERNEL}/x.ko`,
      `/var/lib/kpatch/${KERNEL}/sub/x.ko`,
      `/var/lib/kpatch/${KERNEL}/x.sh`,
    ])
      expect(fieldOf(check(edit(genuine(), 2, { file })))).toEqual(['3:file']);
  });

  it('a load that retires a module its patch does not replace', () => {
    expect(fieldOf(check(edit(genuine(), 2, { replacesModules: ['livepatch_hotfix'] })))).toEqual([
      '3:replacesModules',
    ]);
  });

  it('removing a declared module, or an undeclared one when the policy keeps it', () => {
    const unload = (module: string): Change => ({
      action: 'unload',
      module,
      leftover: false,
      reason: 'x',
    });
    const hp = { ...genuine(), changes: [...genuine().changes, unload('livepatch_cve_1')] };
    expect(fieldOf(check(hp))).toEqual(['4:module']);
    const hp2 = { ...genuine(), changes: [...genuine().changes, unload('livepatch_vendor')] };
    expect(fieldOf(check(hp2))).toEqual(['4:module']);
    expect(check(hp2)[0]?.message).toContain('unmanaged: keep');
  });

  it('a package removal that is not a kpatch-patch (dnf remove openssh-server)', () => {
    const hp: HostPlan = {
      ...genuine(),
      changes: [
        ...genuine().changes,
        { action: 'package-remove', package: 'openssh-server-8.7p1-34.el9', reason: 'x' },
      ],
    };
    expect(fieldOf(check(hp, [want('cve-1', 'loaded')], { unmanaged: 'remove' }))).toEqual([
      '4:package',
    ]);
  });

  it('a package install of another package or version', () => {
    const hp = plan({ patches: ALL, want: [want('rpm-1', 'loaded')] });
    const problems = check(edit(hp, 0, { package: 'kpatch-patch-5_14_0-362_8_1-9-9' }), [
      want('rpm-1', 'loaded'),
    ]);
    expect(fieldOf(problems)).toEqual(['1:package']);
  });

  it('a stale-copy uninstall of a declared patch without the install that follows it', () => {
    const f = facts({ installed: [inst('livepatch-cve-1.ko', { sha256: 'e'.repeat(64) })] });
    const hp = plan({ patches: ALL, want: [want('cve-1', 'installed')], facts: f });
    expect(hp.changes[0]?.action).toBe('uninstall');
    const onlyRemoval = { ...hp, changes: hp.changes.slice(0, 1) };
    expect(fieldOf(check(onlyRemoval, [want('cve-1', 'installed')]))).toEqual(['1:patch']);
  });

  it('a clean-up "after" a load that is not in the plan', () => {
    const f = facts({ ...loaded('livepatch_old'), installed: [inst('livepatch-old.ko')] });
    const hp = plan({ patches: ALL, want: [want('new', 'loaded')], facts: f });
    const i = hp.changes.findIndex((c) => c.action === 'unload');
    expect(
      fieldOf(check(edit(hp, i, { after: 'livepatch_hotfix' }), [want('new', 'loaded')])),
    ).toEqual([`${String(i + 1)}:after`]);
  });

  it('host-level: groups that are not the current ones, changes on a host that has none', () => {
    expect(check({ ...genuine(), groups: ['all', 'db'] }).map((p) => p.field)).toEqual(['groups']);
    expect(check({ ...genuine(), status: 'converged' }).map((p) => p.field)).toEqual(['changes']);
    expect(check({ ...genuine(), changes: [] }).map((p) => p.field)).toEqual(['changes', 'cves']);
    const converged = plan({
      patches: ALL,
      want: [want('cve-1', 'loaded')],
      facts: facts({ ...loaded('livepatch_cve_1'), installed: [inst('livepatch-cve-1.ko')] }),
    });
    expect(converged.status).toBe('converged');
    expect(check({ ...converged, status: 'changes' }).map((p) => p.field)).toEqual(['changes']);
  });

  it('the CVEs a host says it closes are those its loads close', () => {
    expect(check({ ...genuine(), cves: ['CVE-2099-0001'] }).map((p) => p.message)).toEqual([
      'the plan says ["CVE-2099-0001"], its loads close ["CVE-2024-1086"]',
    ]);
  });

  it('is linear: a host with 100,000 removals is checked at once', () => {
    const changes: Change[] = Array.from({ length: 100_000 }, (_, i) => ({
      action: 'unload',
      module: `m${String(i)}`,
      leftover: false,
      reason: 'unmanaged: remove',
    }));
    const hp = { ...genuine(), changes, cves: [] };
    expect(check(hp, [want('cve-1', 'loaded')], { unmanaged: 'remove' })).toEqual([]);
  });
});

describe('diffChanges: the saved changes against those planned now', () => {
  it('names the first change and field that differ', () => {
    const a = genuine().changes;
    expect(diffChanges(a, a)).toBeUndefined();
    const b = edit(genuine(), 2, { file: `/var/lib/kpatch/${KERNEL}/other.ko` }).changes;
    expect(diffChanges(b, a)).toBe(
      `change 3 (load): file is "/var/lib/kpatch/${KERNEL}/other.ko" in the plan, kpfleet plans "/var/lib/kpatch/${KERNEL}/livepatch-cve-1.ko"`,
    );
    expect(diffChanges(a.slice(0, 2), a)).toBe('the plan has 2 changes, kpfleet plans 3 now');
  });

  it('does not care in which order a file lists the keys of a change (jq -S)', () => {
    const a = genuine().changes;
    const sorted = a.map(
      (c) => Object.fromEntries(Object.entries(c).sort(([x], [y]) => (x < y ? -1 : 1))) as Change,
    );
    expect(JSON.stringify(sorted)).not.toBe(JSON.stringify(a));
    expect(diffChanges(sorted, a)).toBeUndefined();
  });
});

describe('diffHostPlan: a saved host plan against the one made under the lock', () => {
  it('refuses a plan that hides (or invents) a re-opened CVE, whose changes are the same', () => {
    const now: HostPlan = { ...genuine(), reopens: ['CVE-2024-1086'] };
    expect(diffHostPlan(now, now)).toBeUndefined();
    const hiding: HostPlan = { ...now };
    delete hiding.reopens;
    expect(diffHostPlan(hiding, now)).toBe(
      'the plan says its changes re-open [], kpfleet finds they re-open ["CVE-2024-1086"]',
    );
    expect(diffHostPlan(now, genuine())).toBe(
      'the plan says its changes re-open ["CVE-2024-1086"], kpfleet finds they re-open []',
    );
  });

  it('refuses a host whose manager flipped: the saved plan says kpatch, planned again it is klp', () => {
    const saved = genuine();
    // the same host planned now with the klp manager set: blocked, but the manager is named first
    const now = plan({
      patches: ALL,
      want: [want('cve-1', 'loaded')],
      desired: { manager: { choice: 'klp', source: 'group web' } },
    });
    expect(diffHostPlan(saved, now)).toBe(
      'the plan manages it with "kpatch" (auto: kpatch 0.9.7 is installed), kpfleet now chooses "klp" (group web)',
    );
    // the same changes under another manager are still refused: a manager is not a label
    expect(diffHostPlan({ ...saved, manager: 'klp', managerReason: 'edited' }, saved)).toBe(
      'the plan manages it with "klp" (edited), kpfleet now chooses "kpatch" (auto: kpatch 0.9.7 is installed)',
    );
    expect(diffHostPlan(saved, genuine())).toBeUndefined();
  });

  it('names a difference in the changes first', () => {
    const a = genuine();
    const b = edit(genuine(), 2, { file: `/var/lib/kpatch/${KERNEL}/other.ko` });
    expect(diffHostPlan(b, a)).toBe(diffChanges(b.changes, a.changes));
  });
});

describe('verifyHostPlan: the manager', () => {
  it('refuses a plan whose manager is not the one kpfleet.yml or the inventory sets', () => {
    const hp = genuine();
    const klp = { manager: { choice: 'klp' as const, source: 'group web' } };
    expect(check(hp, [want('cve-1', 'loaded')], klp)).toEqual([
      {
        host: 'web1',
        field: 'manager',
        message:
          'the plan says manager "kpatch", kpfleet.yml and the inventory set "klp" (group web)',
      },
    ]);
    // auto leaves the choice to the facts, checked under the lock (diffHostPlan)
    expect(check(hp)).toEqual([]);
    const kpatch = { manager: { choice: 'kpatch' as const, source: 'connection.manager' } };
    expect(check(hp, [want('cve-1', 'loaded')], kpatch)).toEqual([]);
  });

  it('refuses a host with changes that names no manager', () => {
    const hp = genuine();
    delete hp.manager;
    delete hp.managerReason;
    expect(check(hp)).toEqual([
      { host: 'web1', field: 'manager', message: 'a host with changes names its manager' },
    ]);
  });
});

describe("an upload's signature", () => {
  const unsigned = (): Patch => {
    const p = filePatch('cve-1');
    if (p.source.kind === 'file') p.source.signature = { signed: false };
    return p;
  };
  const fromUnsigned = (): HostPlan =>
    plan({ patches: [unsigned()], want: [want('cve-1', 'loaded')] });
  const verify = (hp: HostPlan) =>
    verifyHostPlan(hp, desired([want('cve-1', 'loaded')]), catalogue(unsigned()));
  const uploadOf = (changes: Change[]) => {
    const c = changes[0];
    if (c?.action !== 'upload') throw new Error('the plan starts with an upload');
    return c;
  };

  it("the planner puts the file's signature on its upload, and the plan verifies", () => {
    const hp = fromUnsigned();
    expect(hp.changes[0]).toMatchObject({ action: 'upload', signature: { signed: false } });
    expect(verify(hp)).toEqual([]);
    // a catalogue that did not read it (a hand-built one): no signature on the upload
    expect(genuine().changes[0]).not.toHaveProperty('signature');
  });

  it('a plan that claims another signature than the file has, or none, is refused', () => {
    const forged = edit(fromUnsigned(), 0, {
      signature: { signed: true, idType: 'PKCS#7', signer: 'Red Hat Secure Boot Signing' },
    });
    const problems = verify(forged);
    expect(problems.map((p) => `${String(p.change)}:${p.field}`)).toEqual(['1:signature']);
    expect(problems[0]?.message).toContain('the file says {"signed":false}');
    const hidden = structuredClone(fromUnsigned());
    delete uploadOf(hidden.changes).signature;
    const dropped = verify(hidden);
    expect(dropped.map((p) => `${String(p.change)}:${p.field}`)).toEqual(['1:signature']);
    // a plan made before kpfleet read signatures is told so, not only shown `null`
    expect(dropped[0]?.message).toMatch(/made before kpfleet read patch files' signatures/);
    expect(dropped[0]?.message).toContain('the file says {"signed":false}');
  });

  it('the keys of a signature may come in any order (saved plan against a fresh one)', () => {
    const signature: ModuleSignature = {
      signed: true,
      idType: 'PKCS#7',
      signer: 'k',
      keyId: '01',
      hashAlgo: 'sha256',
    };
    const a = fromUnsigned().changes;
    const b = structuredClone(a);
    uploadOf(a).signature = signature;
    uploadOf(b).signature = {
      hashAlgo: 'sha256',
      keyId: '01',
      signer: 'k',
      idType: 'PKCS#7',
      signed: true,
    };
    expect(diffChanges(a, b)).toBeUndefined();
    uploadOf(b).signature = { ...signature, signer: 'other' };
    expect(diffChanges(a, b)).toMatch(
      /^change 1 \(upload\): signature is .*"signer":"k".* in the plan, kpfleet plans .*"other"/,
    );
  });
});

describe('review (issue 21): a saved klp plan cannot name another file or module', () => {
  const STORE = `/var/lib/kpfleet/klp/${KERNEL}`;
  const klpPlan = (): HostPlan =>
    plan({
      patches: ALL,
      want: [want('cve-1', 'loaded')],
      facts: facts({ kpatch: { installed: false } }),
      manager: 'klp',
    });
  const klpCheck = (hp: HostPlan): PlanProblem[] =>
    verifyHostPlan(
      hp,
      desired([want('cve-1', 'loaded')], { manager: { choice: 'klp', source: 'test' } }),
      catalogue(...ALL),
    );

  it('the genuine klp plan passes', () => {
    const hp = klpPlan();
    expect(hp.manager).toBe('klp');
    expect(klpCheck(hp)).toEqual([]);
  });

  it("refuses a load of a declared patch from another module's file in the store", () => {
    const hp = klpPlan();
    const i = hp.changes.findIndex((c) => c.action === 'load');
    // livepatch-hotfix.ko is in the catalogue but not declared for this host
    const bad = edit(hp, i, { file: `${STORE}/livepatch-hotfix.ko` });
    expect(klpCheck(bad).map((p) => p.field)).toContain('file');
  });

  it("refuses an uninstall from kpatch's store that names a declared patch but another module", () => {
    const hp = klpPlan();
    const extra: Change = {
      action: 'uninstall',
      patch: 'cve-1',
      module: 'livepatch_unmanaged',
      kernel: KERNEL,
      file: 'livepatch-unmanaged.ko',
      reason: 'edited',
    };
    const bad = { ...hp, changes: [...hp.changes, extra] };
    expect(klpCheck(bad).length).toBeGreaterThan(0);
  });

  it('refuses a klp boot unit that is not kpfleet-klp.service', () => {
    // the klp step writes kpfleet-klp.service whatever the plan says: a plan naming another unit
    // shows a reviewer something kpfleet does not do
    const hp = klpPlan();
    const i = hp.changes.findIndex((c) => c.action === 'enable-service');
    expect(i).toBeGreaterThanOrEqual(0);
    const bad = edit(hp, i, { unit: 'sshd.service' });
    expect(klpCheck(bad).map((p) => p.field)).toContain('unit');
  });
});

describe('review 2 (issue 21): a saved klp plan cannot remove the copy it installs', () => {
  const klpCheck = (hp: HostPlan): PlanProblem[] =>
    verifyHostPlan(
      hp,
      desired([want('cve-1', 'loaded')], { manager: { choice: 'klp', source: 'test' } }),
      catalogue(...ALL),
    );

  it("refuses an uninstall of the declared patch's own <module>.ko after its install", () => {
    const hp = plan({
      patches: ALL,
      want: [want('cve-1', 'loaded')],
      facts: facts({ kpatch: { installed: false } }),
      manager: 'klp',
    });
    expect(klpCheck(hp)).toEqual([]);
    // `installs` holds for any install of the patch, so this passes as "a copy under another
    // name": it removes the boot copy the install just made (§K.1: the store keeps a module as
    // <module>.ko and nothing else; only a copy under another name goes after the install)
    const extra: Change = {
      action: 'uninstall',
      patch: 'cve-1',
      module: 'livepatch_cve_1',
      kernel: KERNEL,
      file: 'livepatch_cve_1.ko',
      store: 'klp',
      reason: 'edited',
    };
    const bad = { ...hp, changes: [...hp.changes, extra] };
    expect(klpCheck(bad).map((p) => p.field)).toContain('file');
  });
});
