/**
 * The planner (issue 5), example by example: desired state × facts → each host's ordered changes.
 * Section numbers (§) are those of docs/kpatch-behaviour.md.
 */
import { STAGING_DIR } from '../../../src/host-paths.ts';
import { describe, expect, it } from 'vitest';
import type { PatchState } from '../../../src/config-model.ts';
import type { HostFacts } from '../../../src/facts/model.ts';
import type { Change, ChangeAction, HostPlan, LoadChange } from '../../../src/plan/model.ts';
import { CHANGE_ACTIONS, PLAN_FORMAT, PLAN_VERSION } from '../../../src/plan/model.ts';
import {
  packageMatches,
  packageModule,
  parsePackage,
  postLoads,
  sameName,
  streamPrefix,
} from '../../../src/plan/packages.ts';
import {
  buildPlan,
  hostFailure,
  rebootDue,
  summarizePlan,
  uncoveredHosts,
} from '../../../src/plan/plan.ts';
import { compareVersions, versionAtLeast } from '../../../src/util/version.ts';
import {
  DAY_MS,
  FINGERPRINT,
  KERNEL,
  NEXT_KERNEL,
  NOW,
  OLD_KERNEL,
  catalogue,
  facts,
  fileOf,
  filePatch,
  inst,
  klpFacts,
  klpInst,
  live,
  loaded,
  mod,
  plan,
  rhel,
  rpmInst,
  rpmPatch,
  sha,
  shaOf,
  want,
} from './builders.ts';

const actions = (p: HostPlan): ChangeAction[] => p.changes.map((c) => c.action);
const loadsOf = (p: HostPlan): LoadChange[] =>
  p.changes.filter((c): c is LoadChange => c.action === 'load');
const indexOf = (p: HostPlan, pred: (c: Change) => boolean): number => {
  const i = p.changes.findIndex(pred);
  expect(i, 'change not found').toBeGreaterThanOrEqual(0);
  return i;
};

// A file patch and what the planner is expected to do with it, in one place.
const CVE = filePatch('cve-2024-1086', { cves: ['CVE-2024-1086'] });
const CVE_FILE = fileOf(CVE); // livepatch-cve-2024-1086.ko
const CVE_MOD = CVE.module; // livepatch_cve_2024_1086
const CVE_SHA = shaOf(CVE);
const CVE_STAGED = `${STAGING_DIR}/${CVE_SHA.slice(0, 16)}/${CVE_FILE}`;
const CVE_INSTALLED = `/var/lib/kpatch/${KERNEL}/${CVE_FILE}`;

const uploadCve = {
  action: 'upload',
  patch: CVE.name,
  module: CVE_MOD,
  source: `patches/${CVE_FILE}`,
  sha256: CVE_SHA,
  destination: CVE_STAGED,
  reason: `patches/${CVE_FILE} is not on the host yet`,
} as const;
const installCve = (reason = 'declared loaded by group web', kernel = KERNEL) =>
  ({
    action: 'install',
    patch: CVE.name,
    module: CVE_MOD,
    kernel,
    file: CVE_STAGED,
    sha256: CVE_SHA,
    reason,
  }) as const;
const loadCve = (over: Partial<LoadChange> = {}): LoadChange => ({
  action: 'load',
  patch: CVE.name,
  module: CVE_MOD,
  file: CVE_INSTALLED,
  replacesModules: [],
  reenable: false,
  cves: ['CVE-2024-1086'],
  reason: 'declared loaded by group web',
  ...over,
});

/** CVE loaded and installed as declared. */
const cveConverged = () => ({ ...loaded(CVE_MOD), installed: [inst(CVE_FILE)] });

describe('planHost: file patches on the running kernel (§2.4, §2.7, §4.1)', () => {
  it('an empty host and a declared loaded patch: exactly upload, install -k <running>, load', () => {
    const p = plan({ patches: [CVE], want: [want(CVE.name, 'loaded')] });
    expect(p).toStrictEqual({
      host: 'web1',
      groups: ['all', 'web'],
      kernel: KERNEL,
      manager: 'kpatch',
      managerReason: 'auto: kpatch 0.9.7 is installed',
      factsFingerprint: FINGERPRINT,
      status: 'changes',
      reason: '3 changes to reach the declared state',
      changes: [uploadCve, installCve(), loadCve()],
      findings: [],
      cves: ['CVE-2024-1086'],
    });
    // the upload waits in kpfleet's staging folder; the install copies it from there
    expect(CVE_STAGED.startsWith(`${STAGING_DIR}/`)).toBe(true);
  });

  it('reasons name every group that declares the state', () => {
    const p = plan({ patches: [CVE], want: [want(CVE.name, 'loaded', ['web', 'db'])] });
    expect(p.changes.map((c) => c.reason)).toEqual([
      `patches/${CVE_FILE} is not on the host yet`,
      'declared loaded by groups web, db',
      'declared loaded by groups web, db',
    ]);
  });

  it('already converged: no change, status converged, with a reason', () => {
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'loaded')],
      facts: facts(cveConverged()),
    });
    expect(p).toMatchObject({
      status: 'converged',
      reason: 'as declared: 1 patch loaded and installed',
      changes: [],
      findings: [],
      cves: [],
    });
  });

  it('two patches converged: the reason counts them in plural', () => {
    const other = filePatch('cve-2023-4623');
    const p = plan({
      patches: [CVE, other],
      want: [want(CVE.name, 'loaded'), want(other.name, 'loaded')],
      facts: facts({
        patches: [live(CVE_MOD), live(other.module)],
        modules: [mod(CVE_MOD), mod(other.module)],
        installed: [inst(CVE_FILE), inst(fileOf(other))],
      }),
    });
    expect(p.status).toBe('converged');
    expect(p.reason).toBe('as declared: 2 patches loaded and installed');
  });

  const asDeclared: [PatchState, Partial<HostFacts>, string][] = [
    ['installed', { installed: [inst(CVE_FILE)] }, 'as declared: 1 patch installed'],
    ['absent', {}, 'as declared: 1 patch absent'],
  ];
  it.each(asDeclared)('declared %s and so it is: converged', (state, over, reason) => {
    const p = plan({ patches: [CVE], want: [want(CVE.name, state)], facts: facts(over) });
    expect(p).toMatchObject({ status: 'converged', reason, changes: [] });
  });

  it('nothing declared for the host: converged, and says so', () => {
    const p = plan({ patches: [CVE] });
    expect(p).toMatchObject({
      status: 'converged',
      reason: 'no patch is declared for this host',
      changes: [],
    });
  });

  it('installed but not loaded: only the load', () => {
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'loaded')],
      facts: facts({ installed: [inst(CVE_FILE)] }),
    });
    expect(p.changes).toStrictEqual([loadCve()]);
  });

  it('declared installed on an empty host: upload and install, no load', () => {
    const p = plan({ patches: [CVE], want: [want(CVE.name, 'installed')] });
    expect(p.changes).toStrictEqual([uploadCve, installCve('declared installed by group web')]);
    expect(p.cves).toEqual([]);
  });

  it('loaded but not installed (lost at reboot, §6 #33): upload and install only, saying why', () => {
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'loaded')],
      facts: facts(loaded(CVE_MOD)),
    });
    expect(p.changes).toStrictEqual([
      uploadCve,
      installCve(
        'loaded but not installed: it would be lost at reboot (declared loaded by group web)',
      ),
    ]);
    expect(p.changes[1]?.reason).toMatch(/reboot/);
    expect(p.status).toBe('changes');
    expect(p.cves).toEqual([]);
  });

  it('an installed copy with another sha256: uninstalled first (§2.7 #7), then upload, install, load; a checksum finding', () => {
    const stale = inst(CVE_FILE, { sha256: 'e'.repeat(64) });
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'loaded')],
      facts: facts({ installed: [stale] }),
    });
    expect(p.changes).toStrictEqual([
      {
        action: 'uninstall',
        module: CVE_MOD,
        kernel: KERNEL,
        file: CVE_FILE,
        patch: CVE.name,
        reason: `the installed copy is not the declared file (sha256 differs); replaced by ${CVE_FILE}`,
      },
      uploadCve,
      installCve(),
      loadCve(),
    ]);
    expect(p.findings).toStrictEqual([
      {
        kind: 'checksum',
        severity: 'warning',
        patch: CVE.name,
        module: CVE_MOD,
        message: `${CVE_INSTALLED} differs from patches/${CVE_FILE} (sha256 eeeeeeeeeeee…, declared ${CVE_SHA.slice(0, 12)}…): it is installed again`,
      },
    ]);
  });

  it('an installed copy with another sha256 while loaded: re-installed, not re-loaded', () => {
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'loaded')],
      facts: facts({ ...loaded(CVE_MOD), installed: [inst(CVE_FILE, { sha256: '0'.repeat(64) })] }),
    });
    expect(actions(p)).toEqual(['uninstall', 'upload', 'install']);
    expect(p.findings.map((f) => f.kind)).toEqual(['checksum']);
  });

  it('the declared file installed under another name (same sha256) counts as installed, and is loaded from where it is (§1.3, §2.4)', () => {
    const renamed = inst('livepatch-cve-2024-1086-v1.ko', { sha256: CVE_SHA });
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'loaded')],
      facts: facts({ installed: [renamed] }),
    });
    expect(actions(p)).toEqual(['load']);
    expect(loadsOf(p)[0]?.file).toBe(renamed.path);
  });

  it('the declared file installed under another name is not uninstalled as unmanaged (unmanaged: remove)', () => {
    const renamed = inst('livepatch-cve-2024-1086-v1.ko', { sha256: CVE_SHA });
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'loaded')],
      facts: facts({ ...loaded(CVE_MOD), installed: [renamed] }),
      desired: { unmanaged: 'remove' },
    });
    expect(p.changes).toEqual([]);
    expect(p.status).toBe('converged');
  });

  it('loaded but disabled (enabled=0 in sysfs, §2.4 step 3, §5.2 pre-5.1) and declared loaded: load with reenable', () => {
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'loaded')],
      facts: facts({
        patches: [live(CVE_MOD, { enabled: false })],
        modules: [mod(CVE_MOD, 1)],
        installed: [inst(CVE_FILE)],
      }),
    });
    expect(p.changes).toStrictEqual([
      loadCve({
        reenable: true,
        reason: 'loaded but disabled: re-enabled (declared loaded by group web)',
      }),
    ]);
    expect(p.findings).toEqual([]);
  });

  it('loaded but disabled and declared only installed: reported (issue: "re-enabled or reported")', () => {
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'installed')],
      facts: facts({
        patches: [live(CVE_MOD, { enabled: false })],
        modules: [mod(CVE_MOD, 1)],
        installed: [inst(CVE_FILE)],
      }),
    });
    expect(p.changes).toEqual([]);
    expect(p.findings).toContainEqual(
      expect.objectContaining({ kind: 'disabled', severity: 'warning', module: CVE_MOD }),
    );
  });
});

describe('planHost: replacement (§5.3 atomic replace)', () => {
  const Q = filePatch('cve-q', { cves: ['CVE-2023-0001'] });
  const P = filePatch('cve-p', { replaces: ['cve-q'], cves: ['CVE-2023-0001', 'CVE-2024-0002'] });
  const pStaged = `${STAGING_DIR}/${shaOf(P).slice(0, 16)}/${fileOf(P)}`;
  /** P's load, retiring Q (atomic replace), and Q's unload once P is enabled. */
  const LOAD_P = {
    action: 'load',
    patch: P.name,
    module: P.module,
    file: `/var/lib/kpatch/${KERNEL}/${fileOf(P)}`,
    replacesModules: [Q.module],
    reenable: false,
    cves: ['CVE-2023-0001', 'CVE-2024-0002'],
    reason: 'declared loaded by group web',
  } as const;
  const UNLOAD_Q = {
    action: 'unload',
    module: Q.module,
    leftover: false,
    patch: Q.name,
    after: P.module,
    reason: `replaced by cve-p: removed once ${P.module} is enabled`,
  } as const;

  it('Q loaded and installed, P replaces Q: load P (replacing Q) before unloading and uninstalling Q', () => {
    const p = plan({
      patches: [Q, P],
      want: [want(P.name, 'loaded')],
      facts: facts({ ...loaded(Q.module), installed: [inst(fileOf(Q))] }),
    });
    expect(p.changes).toStrictEqual([
      {
        action: 'upload',
        patch: P.name,
        module: P.module,
        source: `patches/${fileOf(P)}`,
        sha256: shaOf(P),
        destination: pStaged,
        reason: `patches/${fileOf(P)} is not on the host yet`,
      },
      {
        action: 'install',
        patch: P.name,
        module: P.module,
        kernel: KERNEL,
        file: pStaged,
        sha256: shaOf(P),
        reason: 'declared loaded by group web',
      },
      LOAD_P,
      UNLOAD_Q,
      {
        action: 'uninstall',
        module: Q.module,
        kernel: KERNEL,
        file: fileOf(Q),
        patch: Q.name,
        after: P.module,
        reason: 'replaced by cve-p',
      },
    ]);
    // the host is never without one of them
    const load = indexOf(p, (c) => c.action === 'load' && c.module === P.module);
    expect(load).toBeLessThan(indexOf(p, (c) => c.action === 'unload' && c.module === Q.module));
    expect(load).toBeLessThan(indexOf(p, (c) => c.action === 'uninstall' && c.module === Q.module));
    // Q is P's predecessor: not reported as unmanaged
    expect(p.findings).toEqual([]);
    expect(p.cves).toEqual(['CVE-2023-0001', 'CVE-2024-0002']);
  });

  it('replace already done (Q an inert leftover, refcount 0; P enabled): only rmmod Q and uninstall it', () => {
    const p = plan({
      patches: [Q, P],
      want: [want(P.name, 'loaded')],
      facts: facts({
        patches: [live(P.module)],
        modules: [mod(P.module, 1), mod(Q.module, 0)],
        installed: [inst(fileOf(P)), inst(fileOf(Q))],
      }),
    });
    expect(p.changes).toStrictEqual([
      {
        action: 'unload',
        module: Q.module,
        leftover: true,
        patch: Q.name,
        reason: `replaced by cve-p: removed once ${P.module} is enabled`,
      },
      {
        action: 'uninstall',
        module: Q.module,
        kernel: KERNEL,
        file: fileOf(Q),
        patch: Q.name,
        reason: 'replaced by cve-p',
      },
    ]);
    expect(p.cves).toEqual([]);
  });

  it('fully replaced (Q gone from memory and disk): converged', () => {
    const p = plan({
      patches: [Q, P],
      want: [want(P.name, 'loaded')],
      facts: facts({ ...loaded(P.module), installed: [inst(fileOf(P))] }),
    });
    expect(p).toMatchObject({ status: 'converged', changes: [] });
  });

  it('a predecessor declared installed (by another group) is unloaded after the load, its file kept', () => {
    const p = plan({
      patches: [Q, P],
      want: [want(Q.name, 'installed', ['db']), want(P.name, 'loaded')],
      facts: facts({
        ...loaded(Q.module),
        installed: [inst(fileOf(Q)), inst(fileOf(P))],
      }),
    });
    expect(p.changes).toStrictEqual([LOAD_P, UNLOAD_Q]);
  });

  it('a file successor of an RPM predecessor: the package is removed after the load, its file left to %postun (§4.3)', () => {
    const old = rhel(1, 2);
    const Qr = rpmPatch('rhel-1-2', old);
    const Pf = filePatch('hotfix', { replaces: ['rhel-1-2'] });
    const p = plan({
      patches: [Qr, Pf],
      want: [want(Pf.name, 'loaded')],
      facts: facts({
        ...loaded(old.module),
        packages: [old.nvra],
        installed: [inst(old.file), inst(fileOf(Pf))],
        rpmInstalled: [rpmInst(old.file)],
      }),
    });
    expect(actions(p)).toEqual(['load', 'unload', 'package-remove']);
    expect(p.changes[2]).toStrictEqual({
      action: 'package-remove',
      package: old.nvra,
      patch: Qr.name,
      after: Pf.module,
      reason: 'replaced by hotfix',
    });
  });

  it('cumulative patches load before non-cumulative ones, whatever the catalogue order (§5.3)', () => {
    const A = filePatch('stack-a');
    const C = filePatch('old-c');
    const B = filePatch('cumulative-b', { replaces: ['old-c'] });
    const installed = { installed: [inst(fileOf(A)), inst(fileOf(B))] };
    for (const order of [
      [A, C, B],
      [B, C, A],
    ]) {
      const p = plan({
        patches: order,
        want: order.filter((x) => x !== C).map((x) => want(x.name, 'loaded')),
        facts: facts(installed),
      });
      expect(loadsOf(p).map((l) => l.module)).toEqual([B.module, A.module]);
    }
  });

  it('loading a cumulative patch retires every enabled patch (§5.3): a declared loaded non-cumulative patch already enabled is loaded again after it', () => {
    const A = filePatch('stack-a');
    const C = filePatch('old-c');
    const B = filePatch('cumulative-b', { replaces: ['old-c'] });
    const p = plan({
      patches: [A, C, B],
      want: [want(A.name, 'loaded'), want(B.name, 'loaded')],
      facts: facts({ ...loaded(A.module), installed: [inst(fileOf(A)), inst(fileOf(B))] }),
    });
    expect(loadsOf(p).map((l) => l.module)).toEqual([B.module, A.module]);
  });
});

describe('planHost: kpatch-patch RPMs (§4.3)', () => {
  const v13 = rhel(1, 3);
  const v12 = rhel(1, 2);
  const P13 = rpmPatch('rhel-9.3-1-3', v13, { cves: ['CVE-2024-1086'] });
  const P12 = rpmPatch('rhel-9.3-1-2', v12, { cves: ['CVE-2023-4623'] });

  it('RHEL names: package, module and file agree with §4.3', () => {
    expect(v13).toEqual({
      package: 'kpatch-patch-5_14_0-362_8_1-1-3',
      nvra: 'kpatch-patch-5_14_0-362_8_1-1-3.el9_3.x86_64',
      module: 'kpatch_5_14_0_362_8_1_1_3',
      file: 'kpatch-5_14_0-362_8_1-1-3.ko',
    });
    expect(packageModule(v13.nvra)).toBe(v13.module);
  });

  it('package not installed: package-install of that exact version, then load', () => {
    const p = plan({ patches: [P13], want: [want(P13.name, 'loaded')] });
    expect(p.changes).toStrictEqual([
      {
        action: 'package-install',
        patch: P13.name,
        module: v13.module,
        package: v13.package,
        reason: 'declared loaded by group web',
      },
      {
        action: 'load',
        patch: P13.name,
        module: v13.module,
        replacesModules: [],
        reenable: false,
        cves: ['CVE-2024-1086'],
        reason: 'declared loaded by group web',
      },
    ]);
    expect(p.cves).toEqual(['CVE-2024-1086']);
  });

  it('declared installed: package-install only', () => {
    const p = plan({ patches: [P13], want: [want(P13.name, 'installed')] });
    expect(actions(p)).toEqual(['package-install']);
  });

  it('package installed, module installed and loaded: converged', () => {
    const p = plan({
      patches: [P13],
      want: [want(P13.name, 'loaded')],
      facts: facts({
        ...loaded(v13.module),
        packages: [v13.nvra],
        installed: [inst(v13.file)],
        rpmInstalled: [rpmInst(v13.file)],
      }),
    });
    expect(p).toMatchObject({ status: 'converged', changes: [], findings: [] });
  });

  it('package installed but its %post load failed: only the load (kpatch finds it by name)', () => {
    const p = plan({
      patches: [P13],
      want: [want(P13.name, 'loaded')],
      facts: facts({
        packages: [v13.nvra],
        installed: [inst(v13.file)],
        rpmInstalled: [rpmInst(v13.file)],
      }),
    });
    expect(p.changes).toStrictEqual([
      {
        action: 'load',
        patch: P13.name,
        module: v13.module,
        replacesModules: [],
        reenable: false,
        cves: ['CVE-2024-1086'],
        reason: 'declared loaded by group web',
      },
    ]);
  });

  it('package installed but its module uninstalled from /var/lib/kpatch: installed again from /usr/lib/kpatch', () => {
    const copy = rpmInst(v13.file);
    const p = plan({
      patches: [P13],
      want: [want(P13.name, 'loaded')],
      facts: facts({ ...loaded(v13.module), packages: [v13.nvra], rpmInstalled: [copy] }),
    });
    expect(p.changes).toStrictEqual([
      {
        action: 'install',
        patch: P13.name,
        module: v13.module,
        kernel: KERNEL,
        file: `/usr/lib/kpatch/${KERNEL}/${v13.file}`,
        sha256: copy.sha256,
        reason: `${v13.nvra} is installed but its module was uninstalled from /var/lib/kpatch/${KERNEL}: it would not load at boot`,
      },
    ]);
  });

  /** 1-2 installed (package, both copies) and loaded. */
  const upgradeFacts = () =>
    facts({
      ...loaded(v12.module),
      packages: [v12.nvra],
      installed: [inst(v12.file)],
      rpmInstalled: [rpmInst(v12.file)],
    });
  const P13replacing = rpmPatch('rhel-9.3-1-3', v13, {
    replaces: ['rhel-9.3-1-2'],
    cves: ['CVE-2023-4623', 'CVE-2024-1086'],
  });

  it('upgrade 1-2 → 1-3: package-install replacing the old package, load, unload the old module; no uninstall, no package-remove', () => {
    const p = plan({
      patches: [P12, P13replacing],
      want: [want(P13replacing.name, 'loaded')],
      facts: upgradeFacts(),
    });
    expect(p.changes).toStrictEqual([
      {
        action: 'package-install',
        patch: P13replacing.name,
        module: v13.module,
        package: v13.package,
        replacesPackage: v12.nvra,
        reason: `declared loaded by group web; ${v12.nvra} is installed instead`,
      },
      {
        action: 'load',
        patch: P13replacing.name,
        module: v13.module,
        replacesModules: [v12.module],
        reenable: false,
        cves: ['CVE-2023-4623', 'CVE-2024-1086'],
        reason: 'declared loaded by group web',
      },
      {
        action: 'unload',
        module: v12.module,
        leftover: false,
        patch: P12.name,
        after: v13.module,
        reason: `replaced by ${P13replacing.name}: removed once ${v13.module} is enabled`,
      },
    ]);
    expect(p.findings).toEqual([]);
  });

  it('upgrade with the old patch also declared absent: still no package-remove (the upgrade removes it, §4.3)', () => {
    const p = plan({
      patches: [P12, P13replacing],
      want: [want(P12.name, 'absent'), want(P13replacing.name, 'loaded')],
      facts: upgradeFacts(),
    });
    expect(actions(p)).toEqual(['package-install', 'load', 'unload']);
  });

  it('upgrade of a package the catalogue does not know (unmanaged: remove): the upgraded package is not also removed', () => {
    const p = plan({
      patches: [P13],
      want: [want(P13.name, 'loaded')],
      facts: upgradeFacts(),
      desired: { unmanaged: 'remove' },
    });
    expect(p.changes[0]).toMatchObject({ action: 'package-install', replacesPackage: v12.nvra });
    expect(p.changes.filter((c) => c.action === 'package-remove')).toEqual([]);
  });

  it('declared absent: unload and package-remove; no uninstall (%postun does it, §4.3)', () => {
    const p = plan({
      patches: [P13],
      want: [want(P13.name, 'absent')],
      facts: facts({
        ...loaded(v13.module),
        packages: [v13.nvra],
        installed: [inst(v13.file)],
        rpmInstalled: [rpmInst(v13.file)],
      }),
    });
    expect(p.changes).toStrictEqual([
      {
        action: 'unload',
        module: v13.module,
        leftover: false,
        patch: P13.name,
        reason: 'declared absent by group web',
      },
      {
        action: 'package-remove',
        package: v13.nvra,
        patch: P13.name,
        reason: 'declared absent by group web',
      },
    ]);
  });
});

describe('planHost: declared absent (file patches)', () => {
  it('loaded and installed on two kernels: unload, then an uninstall per kernel', () => {
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'absent')],
      facts: facts({
        ...loaded(CVE_MOD),
        kernels: [OLD_KERNEL, KERNEL],
        installed: [inst(CVE_FILE), inst(CVE_FILE, { kernel: OLD_KERNEL })],
      }),
    });
    const why = 'declared absent by group web';
    expect(p.changes).toStrictEqual([
      { action: 'unload', module: CVE_MOD, leftover: false, patch: CVE.name, reason: why },
      {
        action: 'uninstall',
        module: CVE_MOD,
        kernel: KERNEL,
        file: CVE_FILE,
        patch: CVE.name,
        reason: why,
      },
      {
        action: 'uninstall',
        module: CVE_MOD,
        kernel: OLD_KERNEL,
        file: CVE_FILE,
        patch: CVE.name,
        reason: why,
      },
    ]);
    expect(p.cves).toEqual([]);
  });

  it('only an inert leftover in memory (§5.3): rmmod it (leftover)', () => {
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'absent')],
      facts: facts({ modules: [mod(CVE_MOD, 0)] }),
    });
    expect(p.changes).toStrictEqual([
      {
        action: 'unload',
        module: CVE_MOD,
        leftover: true,
        patch: CVE.name,
        reason: 'declared absent by group web',
      },
    ]);
  });
});

describe('planHost: unmanaged modules (group policy)', () => {
  const foreign = 'livepatch_foo';
  const foreignFacts = () => facts({ ...loaded(foreign), installed: [inst('livepatch-foo.ko')] });

  it('keep: no change, one warning for the module', () => {
    const p = plan({ patches: [CVE], facts: foreignFacts() });
    expect(p).toMatchObject({ status: 'converged', changes: [] });
    expect(p.findings).toStrictEqual([
      {
        kind: 'unmanaged',
        severity: 'warning',
        module: foreign,
        message: `${foreign} (not in the catalogue) is loaded; kept (unmanaged: keep)`,
      },
    ]);
  });

  it('keep: a catalogue patch not declared for this host is named in the finding', () => {
    const p = plan({ patches: [CVE], facts: facts(cveConverged()) });
    expect(p.changes).toEqual([]);
    expect(p.findings).toStrictEqual([
      {
        kind: 'unmanaged',
        severity: 'warning',
        module: CVE_MOD,
        patch: CVE.name,
        message: `${CVE_MOD} (catalogue patch ${CVE.name}, not declared for this host's groups) is loaded; kept (unmanaged: keep)`,
      },
    ]);
  });

  it('remove: unload and uninstall', () => {
    const p = plan({ patches: [CVE], facts: foreignFacts(), desired: { unmanaged: 'remove' } });
    const why = 'unmanaged: remove (not declared for this host)';
    expect(p.changes).toStrictEqual([
      { action: 'unload', module: foreign, leftover: false, reason: why },
      {
        action: 'uninstall',
        module: foreign,
        kernel: KERNEL,
        file: 'livepatch-foo.ko',
        reason: why,
      },
    ]);
    expect(p.status).toBe('changes');
  });

  it('keep: an inert leftover (refcount 0) is reported', () => {
    const p = plan({ patches: [], facts: facts({ modules: [mod('livepatch_old', 0)] }) });
    expect(p.changes).toEqual([]);
    expect(p.findings).toStrictEqual([
      {
        kind: 'unmanaged',
        severity: 'warning',
        module: 'livepatch_old',
        message:
          'livepatch_old (not in the catalogue) is resident but inert (refcount 0, replaced); kept (unmanaged: keep)',
      },
    ]);
  });

  it('remove: an inert leftover is rmmod-ed (leftover)', () => {
    const p = plan({
      patches: [],
      facts: facts({ modules: [mod('livepatch_old', 0)] }),
      desired: { unmanaged: 'remove' },
    });
    expect(p.changes).toStrictEqual([
      {
        action: 'unload',
        module: 'livepatch_old',
        leftover: true,
        reason: 'unmanaged: remove (not declared for this host); an inert leftover',
      },
    ]);
  });

  it('keep: loaded but disabled and undeclared is reported as disabled', () => {
    const p = plan({
      patches: [],
      facts: facts({ patches: [live(foreign, { enabled: false })], modules: [mod(foreign)] }),
    });
    expect(p.changes).toEqual([]);
    expect(p.findings).toStrictEqual([
      {
        kind: 'disabled',
        severity: 'warning',
        module: foreign,
        message: `${foreign} (not in the catalogue) is loaded but disabled; kept (unmanaged: keep)`,
      },
    ]);
  });

  it('remove: an unmanaged kpatch-patch package is removed, its file left to %postun (§4.3)', () => {
    const v = rhel(1, 1);
    const p = plan({
      patches: [],
      facts: facts({
        packages: [v.nvra],
        installed: [inst(v.file)],
        rpmInstalled: [rpmInst(v.file)],
      }),
      desired: { unmanaged: 'remove' },
    });
    expect(p.changes).toStrictEqual([
      {
        action: 'package-remove',
        package: v.nvra,
        reason: 'unmanaged: remove (not declared for this host)',
      },
    ]);
  });

  it('the empty 0-0 placeholder package (§4.3) carries no module: not unmanaged', () => {
    const p = plan({
      patches: [],
      facts: facts({ packages: ['kpatch-patch-5_14_0-362_8_1-0-0.el9_3.x86_64'] }),
      desired: { unmanaged: 'remove' },
    });
    expect(p.changes).toEqual([]);
    expect(p.findings).toEqual([]);
  });
});

describe('planHost: uncovered kernels, blocked hosts', () => {
  const onOld = filePatch('cve-old', { kernels: [OLD_KERNEL, '5.14.0-70.*'] });

  it('uncovered, policy warn: a warning, converged, no change', () => {
    const p = plan({ patches: [onOld], want: [want(onOld.name, 'loaded')] });
    expect(p).toStrictEqual({
      host: 'web1',
      groups: ['all', 'web'],
      kernel: KERNEL,
      manager: 'kpatch',
      managerReason: 'auto: kpatch 0.9.7 is installed',
      factsFingerprint: FINGERPRINT,
      status: 'converged',
      reason: `nothing declared fits kernel ${KERNEL}`,
      changes: [],
      findings: [
        {
          kind: 'uncovered',
          severity: 'warning',
          message: `no declared patch fits kernel ${KERNEL}: cve-old (${OLD_KERNEL}, 5.14.0-70.*)`,
        },
      ],
      cves: [],
    });
  });

  it('uncovered, policy fail: blocked, no change, an error', () => {
    const p = plan({
      patches: [onOld],
      want: [want(onOld.name, 'loaded')],
      desired: { uncoveredKernel: 'fail', unmanaged: 'remove' },
      facts: facts(loaded('livepatch_foo')),
    });
    expect(p).toMatchObject({
      status: 'blocked',
      reason: `no declared patch fits kernel ${KERNEL}`,
      changes: [],
      cves: [],
      findings: [
        {
          kind: 'uncovered',
          severity: 'error',
          message: `no declared patch fits kernel ${KERNEL}: cve-old (${OLD_KERNEL}, 5.14.0-70.*) (uncovered_kernel: fail)`,
        },
      ],
    });
  });

  it('one declared patch fitting is enough: not uncovered', () => {
    const p = plan({
      patches: [onOld, CVE],
      want: [want(onOld.name, 'loaded'), want(CVE.name, 'loaded')],
      desired: { uncoveredKernel: 'fail' },
      facts: facts(cveConverged()),
    });
    expect(p.status).toBe('converged');
    expect(p.findings).toEqual([]);
  });

  it('a transition in progress (§5.2, one at a time): blocked, no change, the stalled tasks named', () => {
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'loaded')],
      facts: facts({
        patches: [live('livepatch_other', { transition: true })],
        modules: [mod('livepatch_other')],
        transition: {
          patch: 'livepatch_other',
          enabling: true,
          tasks: [
            { pid: 88, comm: 'kworker/3:1' },
            { pid: 1234, comm: 'qemu-kvm' },
          ],
          tasksComplete: true,
        },
      }),
    });
    expect(p).toMatchObject({
      status: 'blocked',
      reason: 'a live-patch transition is in progress (livepatch_other)',
      changes: [],
      cves: [],
    });
    expect(p.findings).toHaveLength(1);
    const f = p.findings[0];
    expect(f).toMatchObject({ kind: 'stalled', severity: 'error', module: 'livepatch_other' });
    expect(f?.message).toContain('livepatch_other is in an enabling transition');
    expect(f?.message).toContain('88 kworker/3:1, 1234 qemu-kvm');
  });

  it('a disabling transition whose tasks could not be read (not root): says so', () => {
    const p = plan({
      patches: [],
      facts: facts({
        patches: [live('livepatch_other', { enabled: false, transition: true })],
        transition: { patch: 'livepatch_other', enabling: false, tasks: [], tasksComplete: false },
      }),
    });
    expect(p.status).toBe('blocked');
    expect(p.findings[0]?.message).toContain('disabling transition');
    expect(p.findings[0]?.message).toContain('need root');
  });

  it('manager kpatch, kpatch not installed and changes needed (§6 #1): blocked, kpatch-missing', () => {
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'loaded')],
      facts: facts({ kpatch: { installed: false } }),
      desired: { manager: { choice: 'kpatch', source: 'connection.manager' } },
    });
    expect(p).toMatchObject({
      status: 'blocked',
      reason: 'kpatch is not installed',
      changes: [],
      cves: [],
      findings: [
        {
          kind: 'kpatch-missing',
          severity: 'error',
          message:
            '3 changes needed, but kpatch is not installed (or not in PATH for this user): install the kpatch package',
        },
      ],
    });
    expect(p).toMatchObject({ manager: 'kpatch', managerReason: 'connection.manager' });
  });

  it('auto, no kpatch utility and changes needed: the klp manager plans them (docs/klp-behaviour.md)', () => {
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'loaded')],
      facts: facts({ kpatch: { installed: false } }),
    });
    expect(p).toMatchObject({
      status: 'changes',
      manager: 'klp',
      managerReason: 'auto: no kpatch utility',
      cves: CVE.cves,
    });
    expect(p.changes.map((c) => c.action)).toEqual(['upload', 'install', 'enable-service', 'load']);
    expect(p.findings.map((f) => f.kind)).not.toContain('kpatch-missing');
  });

  it('manager klp set explicitly: used even where kpatch is installed, saying where it was set', () => {
    const source = 'kpfleet_manager at host_vars/web1.yml:1:1';
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'loaded')],
      desired: { manager: { choice: 'klp', source } },
    });
    expect(p).toMatchObject({ status: 'changes', manager: 'klp', managerReason: source });
    expect(p.changes.find((c) => c.action === 'load')).toMatchObject({
      file: `/var/lib/kpfleet/klp/${KERNEL}/${CVE_MOD}.ko`,
    });
  });

  it('a host that lost kpatch (auto → klp): its patch moves to the klp store, nothing is reloaded', () => {
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'loaded')],
      facts: facts({ ...cveConverged(), kpatch: { installed: false } }),
    });
    expect(p).toMatchObject({ manager: 'klp', managerReason: 'auto: no kpatch utility' });
    expect(p.changes.map((c) => c.action)).toEqual([
      'upload',
      'install',
      'enable-service',
      'uninstall',
    ]);
  });

  it('the klp manager with nothing to change: converged, saying so', () => {
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'loaded')],
      facts: klpFacts([klpInst(`${CVE_MOD}.ko`, { sha256: shaOf(CVE) })], loaded(CVE_MOD)),
    });
    expect(p).toMatchObject({
      status: 'converged',
      manager: 'klp',
      managerReason: 'auto: no kpatch utility',
      findings: [],
    });
  });

  it('kpatch not installed and nothing to change: converged', () => {
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'absent')],
      facts: facts({ kpatch: { installed: false } }),
    });
    expect(p.status).toBe('converged');
  });

  it('no livepatch support (§6 #5) and a load needed: blocked', () => {
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'loaded')],
      facts: facts({ livepatchSupported: false }),
    });
    expect(p).toMatchObject({
      status: 'blocked',
      reason: 'the kernel has no live-patch support',
      changes: [],
    });
    expect(p.findings.map((f) => [f.kind, f.severity])).toEqual([
      ['livepatch-unsupported', 'error'],
    ]);
  });

  it('no livepatch support but only an install needed: not blocked', () => {
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'installed')],
      facts: facts({ livepatchSupported: false }),
    });
    expect(p.status).toBe('changes');
    expect(actions(p)).toEqual(['upload', 'install']);
  });
});

describe('planHost: kpatch versions (§5.3, §6 #27)', () => {
  it.each([
    ['0.6.1', true],
    ['0.9.3', true],
    ['0.9.4', false],
    ['0.9.7', false],
    ['0.9.10-20.el9', false],
  ])(
    'kpatch %s with an inert leftover of the module to load: the load removes it first: %s',
    (version, pre) => {
      const p = plan({
        patches: [CVE],
        want: [want(CVE.name, 'loaded')],
        facts: facts({
          kpatch: { installed: true, version },
          modules: [mod(CVE_MOD, 0)],
          installed: [inst(CVE_FILE)],
        }),
      });
      // shown in the plan, done by the load step (kpatch < 0.9.4 fails with File exists, §6 #27)
      expect(p.changes).toStrictEqual([pre ? { ...loadCve(), removesLeftover: true } : loadCve()]);
      expect(p.findings).toEqual([]);
    },
  );
});

describe('planHost: boot-time loading (§4.2)', () => {
  it('kpatch.service disabled and nothing to install: enable-service', () => {
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'loaded')],
      facts: facts({
        ...cveConverged(),
        service: { present: true, enabled: false, state: 'disabled' },
      }),
    });
    expect(p.changes).toStrictEqual([
      {
        action: 'enable-service',
        reason: 'kpatch.service is disabled: installed patches would not load at boot',
      },
    ]);
    expect(p.status).toBe('changes');
  });

  it('kpatch.service disabled and an install planned: no enable-service (install enables it, §2.7)', () => {
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'loaded')],
      facts: facts({ service: { present: true, enabled: false, state: 'disabled' } }),
    });
    expect(actions(p)).toEqual(['upload', 'install', 'load']);
  });

  it('kpatch.service disabled and a package install planned: no enable-service (%post installs, §4.3)', () => {
    const P = rpmPatch('rhel', rhel(1, 3));
    const p = plan({
      patches: [P],
      want: [want(P.name, 'loaded')],
      facts: facts({ service: { present: true, enabled: false, state: 'disabled' } }),
    });
    expect(actions(p)).toEqual(['package-install', 'load']);
  });

  it('the enable-service comes before the loads', () => {
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'loaded')],
      facts: facts({
        installed: [inst(CVE_FILE)],
        service: { present: true, enabled: false, state: 'disabled' },
      }),
    });
    expect(actions(p)).toEqual(['enable-service', 'load']);
  });

  it('kpatch.service absent: a boot-disabled warning', () => {
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'loaded')],
      facts: facts({
        ...cveConverged(),
        service: { present: false, enabled: false, state: 'not-found' },
      }),
    });
    expect(p.changes).toEqual([]);
    expect(p.findings).toStrictEqual([
      {
        kind: 'boot-disabled',
        severity: 'warning',
        message:
          'kpatch.service is not present (not-found): installed patches are not loaded at boot',
      },
    ]);
  });

  it('kpatch.enable=0 on the command line: a boot-disabled warning, still converged', () => {
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'loaded')],
      facts: facts({
        ...cveConverged(),
        cmdline: 'ro kpatch.enable=0',
        kpatchDisabledAtBoot: true,
      }),
    });
    expect(p.status).toBe('converged');
    expect(p.findings).toStrictEqual([
      {
        kind: 'boot-disabled',
        severity: 'warning',
        message:
          'kpatch.enable=0 is on the kernel command line: kpatch.service loads nothing at boot (docs/kpatch-behaviour.md §4.2)',
      },
    ]);
  });
});

describe('planHost: the next kernel (installed, not running)', () => {
  const NEXT = filePatch('cve-next', { kernels: [NEXT_KERNEL], cves: ['CVE-2024-9999'] });
  const nextStaged = `${STAGING_DIR}/${shaOf(NEXT).slice(0, 16)}/${fileOf(NEXT)}`;
  const uploadNext = {
    action: 'upload',
    patch: NEXT.name,
    module: NEXT.module,
    source: `patches/${fileOf(NEXT)}`,
    sha256: shaOf(NEXT),
    destination: nextStaged,
    reason: `patches/${fileOf(NEXT)} is not on the host yet`,
  };
  const installNext = {
    action: 'install',
    patch: NEXT.name,
    module: NEXT.module,
    kernel: NEXT_KERNEL,
    file: nextStaged,
    sha256: shaOf(NEXT),
    reason: `declared loaded by group web, for kernel ${NEXT_KERNEL} (installed, not running)`,
  };

  it('a patch declared for a newer installed kernel: upload and install -k that kernel, no load', () => {
    const p = plan({
      patches: [NEXT],
      want: [want(NEXT.name, 'loaded')],
      facts: facts({ kernels: [KERNEL, NEXT_KERNEL] }),
    });
    expect(p.changes).toStrictEqual([uploadNext, installNext]);
    expect(p.cves).toEqual([]);
    // nothing fits the running kernel: still uncovered (warn)
    expect(p.findings.map((f) => [f.kind, f.severity])).toEqual([['uncovered', 'warning']]);
  });

  it('with a patch for the running kernel too: uploads, installs (running first), then the load', () => {
    const p = plan({
      patches: [CVE, NEXT],
      want: [want(CVE.name, 'loaded'), want(NEXT.name, 'loaded')],
      facts: facts({ kernels: [KERNEL, NEXT_KERNEL] }),
    });
    expect(p.changes).toStrictEqual([uploadCve, uploadNext, installCve(), installNext, loadCve()]);
    expect(p.findings).toEqual([]);
  });

  it('already installed for the newer kernel: nothing for it', () => {
    const p = plan({
      patches: [NEXT],
      want: [want(NEXT.name, 'loaded')],
      facts: facts({
        kernels: [KERNEL, NEXT_KERNEL],
        installed: [inst(fileOf(NEXT), { kernel: NEXT_KERNEL })],
      }),
    });
    expect(p.changes).toEqual([]);
  });

  it('a kernel the host does not have, or an older one: nothing installed for it', () => {
    const forOld = filePatch('cve-older', { kernels: [OLD_KERNEL] });
    const p = plan({
      patches: [NEXT, forOld],
      want: [want(NEXT.name, 'loaded'), want(forOld.name, 'loaded')],
      facts: facts({ kernels: [OLD_KERNEL, KERNEL] }),
    });
    expect(p.changes).toEqual([]);
  });
});

describe('reboot due (issue 5: released + reboot_due_after)', () => {
  const R = filePatch('cve-r', { released: '2024-01-01' });
  const rFacts = () => facts({ ...loaded(R.module), installed: [inst(fileOf(R))] });

  it('past the window: a warning on a converged host', () => {
    const p = plan({
      patches: [R],
      want: [want(R.name, 'loaded')],
      facts: rFacts(),
      rebootDueAfterMs: 30 * DAY_MS,
      now: NOW, // 2024-03-01
    });
    expect(p.status).toBe('converged');
    expect(p.findings).toStrictEqual([
      {
        kind: 'reboot-due',
        severity: 'warning',
        patch: R.name,
        module: R.module,
        message:
          'reboot due: cve-r (released 2024-01-01) is past its 30d support window since 2024-01-31 (30 days); reboot into the errata kernel',
      },
    ]);
  });

  it('a stalled host still reports it', () => {
    const p = plan({
      patches: [R],
      want: [want(R.name, 'loaded')],
      facts: facts({
        ...rFacts(),
        transition: { patch: R.module, enabling: true, tasks: [], tasksComplete: true },
      }),
      rebootDueAfterMs: 30 * DAY_MS,
    });
    expect(p.status).toBe('blocked');
    expect(p.findings.map((f) => f.kind)).toEqual(['reboot-due', 'stalled']);
  });

  const cases: [string, Parameters<typeof rebootDue>, number][] = [
    ['past the window', [rFacts(), catalogue(R), { rebootDueAfterMs: 30 * DAY_MS }, NOW], 1],
    [
      'not yet',
      [
        rFacts(),
        catalogue(R),
        { rebootDueAfterMs: 30 * DAY_MS },
        Date.parse('2024-01-15T00:00:00Z'),
      ],
      0,
    ],
    [
      'exactly at the end of the window',
      [
        rFacts(),
        catalogue(R),
        { rebootDueAfterMs: 30 * DAY_MS },
        Date.parse('2024-01-31T00:00:00Z'),
      ],
      0,
    ],
    ['no window', [rFacts(), catalogue(R), {}, NOW], 0],
    [
      'no released date',
      [rFacts(), catalogue(filePatch('cve-r')), { rebootDueAfterMs: 30 * DAY_MS }, NOW],
      0,
    ],
    ['not loaded', [facts(), catalogue(R), { rebootDueAfterMs: 30 * DAY_MS }, NOW], 0],
    [
      'loaded but disabled',
      [
        facts({ patches: [live(R.module, { enabled: false })] }),
        catalogue(R),
        { rebootDueAfterMs: 30 * DAY_MS },
        NOW,
      ],
      0,
    ],
  ];
  it.each(cases)('rebootDue: %s', (_, args, n) => {
    const found = rebootDue(...args);
    expect(found).toHaveLength(n);
    for (const f of found) expect(f).toMatchObject({ kind: 'reboot-due', patch: 'cve-r' });
  });
});

describe('CVEs', () => {
  const A = filePatch('a', { cves: ['CVE-2024-2', 'CVE-2023-9'] });
  const B = filePatch('b', { cves: ['CVE-2023-9', 'CVE-2024-1'] });

  it('the host plan lists the CVEs its loads close, sorted and unique', () => {
    const p = plan({ patches: [A, B], want: [want(A.name, 'loaded'), want(B.name, 'loaded')] });
    expect(p.cves).toEqual(['CVE-2023-9', 'CVE-2024-1', 'CVE-2024-2']);
  });

  it('summarizePlan: over every host, sorted and unique', () => {
    const h1 = plan({ patches: [A], want: [want(A.name, 'loaded')] });
    const h2 = { ...plan({ patches: [B], want: [want(B.name, 'loaded')] }), host: 'web2' };
    expect(summarizePlan([h2, h1]).cves).toEqual(['CVE-2023-9', 'CVE-2024-1', 'CVE-2024-2']);
  });
});

describe('what removals re-open (plan/cves.ts)', () => {
  const Q = filePatch('cve-q', { cves: ['CVE-2023-0001'] });
  const P = filePatch('cve-p', { replaces: ['cve-q'], cves: ['CVE-2024-0002'] });
  const OTHER = filePatch('other', { cves: ['CVE-2023-0001'] });

  it('a patch declared absent and unloaded while enabled re-opens its CVEs', () => {
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'absent')],
      facts: facts({ ...loaded(CVE_MOD), installed: [inst(CVE_FILE)] }),
    });
    expect(p.reopens).toEqual(['CVE-2024-1086']);
    expect(summarizePlan([p, { ...p, host: 'web2' }]).reopens).toEqual([
      { name: 'CVE-2024-1086', hosts: 2 },
    ]);
  });

  it('a predecessor replaced by a cumulative successor re-opens nothing (the successor carries its CVEs)', () => {
    const p = plan({
      patches: [Q, P],
      want: [want(P.name, 'loaded')],
      facts: facts({ ...loaded(Q.module), installed: [inst(fileOf(Q))] }),
    });
    expect(p.changes.some((c) => c.action === 'unload' && c.module === Q.module)).toBe(true);
    expect('reopens' in p).toBe(false);
    const s = summarizePlan([p]);
    expect('reopens' in s).toBe(false);
    // the unload is the replacement's clean-up, not a removal
    expect('removes' in s).toBe(false);
  });

  it('a removal whose CVE another enabled patch still fixes re-opens nothing', () => {
    const p = plan({
      patches: [Q, OTHER],
      want: [want(Q.name, 'absent'), want(OTHER.name, 'loaded')],
      facts: facts({
        patches: [live(Q.module), live(OTHER.module)],
        modules: [mod(Q.module), mod(OTHER.module)],
      }),
    });
    expect(p.changes.some((c) => c.action === 'unload' && c.module === Q.module)).toBe(true);
    expect(p.reopens).toBeUndefined();
    expect(summarizePlan([p]).removes).toEqual([{ name: Q.module, hosts: 1 }]);
  });

  it('an inert leftover unloaded protects nothing: nothing re-opened', () => {
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'absent')],
      facts: facts({ patches: [], modules: [mod(CVE_MOD, 0)] }),
    });
    expect(p.changes.some((c) => c.action === 'unload' && c.leftover)).toBe(true);
    expect(p.reopens).toBeUndefined();
  });
});

describe('summarizePlan, buildPlan, hostFailure', () => {
  const changes = plan({ patches: [CVE], want: [want(CVE.name, 'loaded')] }); // upload, install, load
  const absent = {
    ...plan({
      patches: [CVE],
      want: [want(CVE.name, 'absent')],
      facts: facts({ ...loaded(CVE_MOD), installed: [inst(CVE_FILE)] }),
    }),
    host: 'web2',
  }; // unload, uninstall
  const converged = {
    ...plan({
      patches: [],
      facts: facts({ ...loaded('livepatch_a'), modules: [mod('livepatch_a'), mod('x', 0)] }),
    }),
    host: 'web3',
  }; // two unmanaged findings: one host
  const blocked = {
    ...plan({
      patches: [rpmPatch('r', rhel(1, 3))],
      want: [want('r', 'loaded')],
      facts: facts({ kpatch: { installed: false } }),
    }),
    host: 'web4',
  };
  const error = hostFailure('db1', ['db'], { code: 'facts/parse', message: 'bad output' }, false);
  const unreachable = hostFailure(
    'db2',
    ['db'],
    { code: 'ssh/unreachable', message: 'connection refused', step: 'connect' },
    true,
  );
  const info: HostPlan = {
    ...converged,
    host: 'web5',
    findings: [{ kind: 'boot-disabled', severity: 'info', message: 'informational only' }],
  };
  const hosts = [absent, changes, converged, blocked, error, unreachable, info];

  it('counts hosts per status, changes per action, hosts per finding kind (warnings and errors only)', () => {
    expect(summarizePlan(hosts)).toStrictEqual({
      hosts: 7,
      converged: 2,
      changes: 2,
      blocked: 1,
      errors: 1,
      unreachable: 1,
      uncovered: 0,
      actions: { upload: 1, install: 1, load: 1, unload: 1, uninstall: 1 },
      cves: ['CVE-2024-1086'],
      // web2 unloads the patch declared absent: its CVE is open again there
      removes: [{ name: CVE_MOD, hosts: 1 }],
      reopens: [{ name: 'CVE-2024-1086', hosts: 1 }],
      // web4 has no kpatch utility: auto makes it a klp host, blocked for its kpatch-patch package
      findings: { unmanaged: 1, 'manager-unsupported': 1 },
      managers: { kpatch: 4, klp: 1 },
    });
  });

  it('actions are listed in CHANGE_ACTIONS order, whatever the host order', () => {
    const keys = Object.keys(summarizePlan(hosts).actions);
    expect(keys).toEqual(['upload', 'install', 'load', 'unload', 'uninstall']);
    const rpm = plan({
      patches: [rpmPatch('r', rhel(1, 3))],
      want: [want('r', 'loaded')],
      facts: facts({ service: { present: true, enabled: false, state: 'disabled' } }),
    });
    const svc = plan({
      patches: [CVE],
      want: [want(CVE.name, 'loaded')],
      facts: facts({
        ...cveConverged(),
        service: { present: true, enabled: false, state: 'disabled' },
      }),
    });
    const all = Object.keys(summarizePlan([absent, svc, rpm, changes]).actions);
    expect(all).toEqual(CHANGE_ACTIONS.filter((a) => all.includes(a)));
    expect(all).toEqual([
      'upload',
      'install',
      'package-install',
      'enable-service',
      'load',
      'unload',
      'uninstall',
    ]);
  });

  it('an empty plan', () => {
    expect(summarizePlan([])).toStrictEqual({
      hosts: 0,
      converged: 0,
      changes: 0,
      blocked: 0,
      errors: 0,
      unreachable: 0,
      uncovered: 0,
      actions: {},
      cves: [],
      findings: {},
      managers: {},
    });
  });

  it('counts the uncovered hosts whatever their status, and never as covered', () => {
    const onOld = filePatch('cve-old', { kernels: [OLD_KERNEL] });
    const warn = plan({ patches: [onOld], want: [want(onOld.name, 'loaded')] });
    const fail = {
      ...plan({
        patches: [onOld],
        want: [want(onOld.name, 'loaded')],
        desired: { uncoveredKernel: 'fail' },
      }),
      host: 'web6',
    };
    expect([warn.status, fail.status]).toEqual(['converged', 'blocked']);
    expect(uncoveredHosts([converged, warn, fail, changes])).toEqual([
      { host: 'web1', kernel: KERNEL },
      { host: 'web6', kernel: KERNEL },
    ]);
    expect(summarizePlan([converged, warn, fail, changes])).toMatchObject({
      converged: 2, // statuses, as before: the words say which of them are covered
      blocked: 1,
      uncovered: 2,
    });
    expect(summarizePlan(hosts).uncovered).toBe(0);
  });

  it('hostFailure: error and unreachable hosts, no changes', () => {
    const groups = ['db'];
    const e = hostFailure('db1', groups, { code: 'facts/parse', message: 'bad output' }, false);
    expect(e).toStrictEqual({
      host: 'db1',
      groups: ['db'],
      status: 'error',
      reason: 'facts could not be read',
      changes: [],
      findings: [],
      error: { code: 'facts/parse', message: 'bad output' },
      cves: [],
    });
    expect(e.groups).not.toBe(groups);
    expect(unreachable).toMatchObject({
      status: 'unreachable',
      reason: 'not reached',
      error: { code: 'ssh/unreachable', step: 'connect' },
    });
  });

  it('buildPlan: format, version, meta and the summary; limit only when given', () => {
    const meta = {
      createdAt: '2024-03-01T00:00:00.000Z',
      kpfleetVersion: '0.1.0',
      config: 'kpfleet.yml',
      configFingerprint: { sha256: `sha256:${'0'.repeat(64)}`, parts: {} },
    };
    const p = buildPlan([changes], meta);
    expect(p).toStrictEqual({
      format: PLAN_FORMAT,
      version: PLAN_VERSION,
      ...meta,
      hosts: [changes],
      summary: summarizePlan([changes]),
    });
    expect(p).not.toHaveProperty('limit');
    expect(buildPlan([changes], { ...meta, limit: 'web' }).limit).toBe('web');
    expect(PLAN_FORMAT).toBe('kpfleet-plan');
    expect(PLAN_VERSION).toBe(3);
  });
});

describe('packages.ts: kpatch-patch names (§4.3)', () => {
  it.each([
    [
      'kpatch-patch-5_14_0-362_8_1-1-2.el9_3.x86_64',
      { name: 'kpatch-patch-5_14_0-362_8_1', version: '1', release: '2.el9_3', arch: 'x86_64' },
    ],
    [
      'kpatch-patch-5_14_0-362_8_1-1-2',
      { name: 'kpatch-patch-5_14_0-362_8_1', version: '1', release: '2' },
    ],
    [
      'kpatch-patch-4_18_0-193-0-0.el8.noarch',
      { name: 'kpatch-patch-4_18_0-193', version: '0', release: '0.el8', arch: 'noarch' },
    ],
    // an unknown suffix is not an arch: it stays in the release
    [
      'kpatch-patch-4_18_0-193-1-1.el8.sparc',
      { name: 'kpatch-patch-4_18_0-193', version: '1', release: '1.el8.sparc' },
    ],
    ['kpatch', undefined],
    ['kpatch-1', undefined],
  ])('parsePackage(%s)', (nvra, want) => {
    expect(parsePackage(nvra)).toStrictEqual(want);
  });

  it.each([
    ['kpatch-patch-5_14_0-362_8_1-1-2.el9_3.x86_64', 'kpatch-patch-5_14_0-362_8_1-1-2', true],
    ['kpatch-patch-5_14_0-362_8_1-1-2.el9_3.x86_64', 'kpatch-patch-5_14_0-362_8_1-1-2.el9_3', true],
    [
      'kpatch-patch-5_14_0-362_8_1-1-2.el9_3.x86_64',
      'kpatch-patch-5_14_0-362_8_1-1-2.el9_3.x86_64',
      true,
    ],
    [
      'kpatch-patch-5_14_0-362_8_1-1-2.el9_3.x86_64',
      'kpatch-patch-5_14_0-362_8_1-1-2.el9_3.aarch64',
      false,
    ],
    ['kpatch-patch-5_14_0-362_8_1-1-2.el9_3.x86_64', 'kpatch-patch-5_14_0-362_8_1-1-3', false],
    ['kpatch-patch-5_14_0-362_8_1-1-22.el9_3.x86_64', 'kpatch-patch-5_14_0-362_8_1-1-2', false],
    ['kpatch-patch-5_14_0-362_8_1-2-2.el9_3.x86_64', 'kpatch-patch-5_14_0-362_8_1-1-2', false],
    ['kpatch-patch-5_14_0-284_11_1-1-2.el9_2.x86_64', 'kpatch-patch-5_14_0-362_8_1-1-2', false],
    ['oddname', 'oddname', true],
  ])('packageMatches(%s, %s) = %s', (installed, declared, want) => {
    expect(packageMatches(installed, declared)).toBe(want);
  });

  it.each([
    ['kpatch-patch-5_14_0-362_8_1-1-2.el9_3.x86_64', 'kpatch-patch-5_14_0-362_8_1-1-3', true],
    ['kpatch-patch-5_14_0-362_8_1-1-2.el9_3.x86_64', 'kpatch-patch-5_14_0-284_11_1-1-3', false],
    ['kpatch', 'kpatch', false],
  ])('sameName(%s, %s) = %s', (a, b, want) => {
    expect(sameName(a, b)).toBe(want);
  });

  it.each([
    ['kpatch-patch-5_14_0-362_8_1-1-2.el9_3.x86_64', 'kpatch_5_14_0_362_8_1_1_2'],
    ['kpatch-patch-4_18_0-348_12_2-1-2.el8_5.x86_64', 'kpatch_4_18_0_348_12_2_1_2'],
    ['kpatch-patch-4_18_0-193-1-4.el8', 'kpatch_4_18_0_193_1_4'],
    ['kpatch-patch-5_14_0-362_8_1-0-0.el9_3.x86_64', undefined], // empty placeholder
    ['kpatch-0.9.7-2.el9.noarch', undefined],
    ['kernel-5.14.0-362.8.1.el9_3.x86_64', undefined],
  ])('packageModule(%s) = %s', (nvra, want) => {
    expect(packageModule(nvra)).toBe(want);
  });
});

describe('packages.ts: what a kpatch-patch %post does (§4.3)', () => {
  it.each([
    ['kpatch-patch-5_14_0-362_8_1-1-3', 'kpatch_5_14_0_362_8_1_'],
    ['kpatch-patch-5_14_0-362_8_1-1-3.el9_3.x86_64', 'kpatch_5_14_0_362_8_1_'],
    ['kpatch-patch-4_18_0-193-1-4.el8', 'kpatch_4_18_0_193_'],
    ['kpatch-0.9.7-2.el9.noarch', undefined],
    ['kpatch', undefined],
  ])('streamPrefix(%s) = %s', (nvr, want) => {
    expect(streamPrefix(nvr)).toBe(want);
  });

  // "If a newer version is already loaded (sort -V) … You will have to reboot to load a
  // downgraded kpatch-patch"; otherwise it runs kpatch load.
  it.each([
    ['nothing loaded', 'kpatch-patch-5_14_0-362_8_1-1-3', [], true],
    ['an older one loaded', 'kpatch-patch-5_14_0-362_8_1-1-3', ['kpatch_5_14_0_362_8_1_1_2'], true],
    ['the same loaded', 'kpatch-patch-5_14_0-362_8_1-1-3', ['kpatch_5_14_0_362_8_1_1_3'], true],
    [
      'a newer release loaded',
      'kpatch-patch-5_14_0-362_8_1-1-3',
      ['kpatch_5_14_0_362_8_1_1_4'],
      false,
    ],
    [
      'a newer version loaded',
      'kpatch-patch-5_14_0-362_8_1-1-3',
      ['kpatch_5_14_0_362_8_1_2_1'],
      false,
    ],
    [
      '1-10 loaded, 1-9 installed',
      'kpatch-patch-5_14_0-362_8_1-1-9',
      ['kpatch_5_14_0_362_8_1_1_10'],
      false,
    ],
    [
      "another kernel's stream loaded",
      'kpatch-patch-5_14_0-362_8_1-1-3',
      ['kpatch_5_14_0_427_13_1_9_9'],
      true,
    ],
    ['another live patch loaded', 'kpatch-patch-5_14_0-362_8_1-1-3', ['livepatch_foo'], true],
  ])('postLoads: %s', (_, nvr, enabled, want) => {
    expect(postLoads(nvr, enabled)).toBe(want);
  });
});

describe('util/version.ts', () => {
  it.each([
    [NEXT_KERNEL, KERNEL, 1],
    [KERNEL, NEXT_KERNEL, -1],
    [KERNEL, KERNEL, 0],
    [OLD_KERNEL, KERNEL, -1],
    ['5.14.0-362.13.1.el9_3.x86_64', '5.14.0-362.8.1.el9_3.x86_64', 1],
    ['0.9.10', '0.9.7', 1],
    ['0.9.7', '0.9.10', -1],
    ['1.0', '1.0.1', -1],
    ['1.0.1', '1.0', 1],
    ['1.0', '1-0', 0],
    ['1.0a', '1.0', 1],
    ['1a', '1.1', -1],
    ['1.1', '1a', 1],
    ['el9_3', 'el9_4', -1],
    ['abc', 'abd', -1],
  ])('compareVersions(%s, %s) = %s', (a, b, want) => {
    expect(compareVersions(a, b)).toBe(want);
  });

  it.each([
    ['0.9.7', '0.9.4', true],
    ['0.9.4', '0.9.4', true],
    ['0.9.3', '0.9.4', false],
    ['0.6.1', '0.9.4', false],
    ['0.9.10-20.el9', '0.9.4', true],
    [' 0.9.11\n', '0.9.4', true],
    ['1.0', '0.9.4', true],
    ['unknown', '0.1', false],
    [undefined, '0.1', false],
  ])('versionAtLeast(%j, %s) = %s', (v, min, want) => {
    expect(versionAtLeast(v, min)).toBe(want);
  });
});

// Sanity for the builders: the default host is the RHEL 9 one docs/kpatch-behaviour.md describes.
describe('builders', () => {
  it('facts(): RHEL 9, kpatch 0.9.7, live patching, kpatch.service enabled, nothing patched', () => {
    const f = facts();
    expect(f).toMatchObject({
      kernel: KERNEL,
      kpatch: { installed: true, version: '0.9.7' },
      livepatchSupported: true,
      service: { present: true, enabled: true },
      patches: [],
      modules: [],
      installed: [],
      rpmInstalled: [],
      packages: [],
      kernels: [KERNEL],
    });
    expect(inst(CVE_FILE)).toStrictEqual({
      kernel: KERNEL,
      file: CVE_FILE,
      path: CVE_INSTALLED,
      module: CVE_MOD,
      sha256: sha(CVE_FILE),
    });
  });
});
