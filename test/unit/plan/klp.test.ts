/**
 * The planner under the klp manager (issue 21, docs/klp-behaviour.md §K.5, §K.6): the same rules
 * as under kpatch with the klp store, kpfleet's own boot unit, no kpatch utility, no packages; and
 * moving a host between managers with no moment unpatched and no moment out of the boot set.
 */
import { describe, expect, it } from 'vitest';
import type { Change } from '../../../src/plan/model.ts';
import {
  facts,
  filePatch,
  inst,
  KERNEL,
  klpFacts,
  klpInst,
  live,
  loaded,
  mod,
  plan,
  rhel,
  rpmPatch,
  shaOf,
  want,
} from './builders.ts';

const actions = (cs: readonly Change[]): string[] =>
  cs.map((c) => `${c.action}${'store' in c ? `:${c.store}` : ''}`);
const STORE = `/var/lib/kpfleet/klp/${KERNEL}`;

describe('planHost under the klp manager', () => {
  const a = filePatch('a');

  it('an empty host: upload, install into the klp store, its boot unit, load from the store', () => {
    const hp = plan({
      patches: [a],
      want: [want('a', 'loaded')],
      facts: klpFacts([], {}, { enabled: false, current: false, state: 'not-found' }),
      manager: 'klp',
    });
    expect(hp.status).toBe('changes');
    expect(actions(hp.changes)).toEqual(['upload', 'install', 'enable-service', 'load']);
    expect(hp.changes[2]).toMatchObject({ unit: 'kpfleet-klp.service' });
    expect(hp.changes[3]).toMatchObject({ module: 'livepatch_a', file: `${STORE}/livepatch_a.ko` });
  });

  it('loaded and in the store, the unit current: converged', () => {
    const hp = plan({
      patches: [a],
      want: [want('a', 'loaded')],
      facts: klpFacts([klpInst('livepatch_a.ko', { sha256: shaOf(a) })], loaded('livepatch_a')),
      manager: 'klp',
    });
    expect(hp.status).toBe('converged');
  });

  it('a boot script that is not this kpfleet’s, or a disabled unit: written and enabled again', () => {
    for (const boot of [{ current: false }, { enabled: false, state: 'disabled' }]) {
      const hp = plan({
        patches: [a],
        want: [want('a', 'loaded')],
        facts: klpFacts(
          [klpInst('livepatch_a.ko', { sha256: shaOf(a) })],
          loaded('livepatch_a'),
          boot,
        ),
        manager: 'klp',
      });
      expect(actions(hp.changes)).toEqual(['enable-service']);
    }
  });

  it('no systemctl: no boot unit planned, a warning says patches will not load at boot', () => {
    const hp = plan({
      patches: [a],
      want: [want('a', 'loaded')],
      facts: klpFacts([], {}, { systemctl: false, enabled: false, current: false, state: '' }),
      manager: 'klp',
    });
    expect(actions(hp.changes)).toEqual(['upload', 'install', 'load']);
    expect(hp.findings.find((f) => f.kind === 'boot-disabled')?.message).toMatch(/no systemctl/);
  });

  it('kpfleet.enable=0 on the command line is reported; kpatch-missing never blocks a klp host', () => {
    const hp = plan({
      patches: [a],
      want: [want('a', 'loaded')],
      facts: klpFacts([], { cmdline: 'ro kpfleet.enable=0' }),
      manager: 'klp',
    });
    expect(hp.status).toBe('changes');
    expect(hp.findings.map((f) => f.kind)).not.toContain('kpatch-missing');
    expect(hp.findings.find((f) => f.kind === 'boot-disabled')?.message).toMatch(
      /kpfleet\.enable=0/,
    );
  });

  it('a kpatch-patch package on a klp host: blocked (manager-unsupported), nothing planned', () => {
    const r = rhel(1, 1);
    const hp = plan({
      patches: [rpmPatch('r', r)],
      want: [want('r', 'loaded')],
      facts: klpFacts(),
      manager: 'klp',
    });
    expect(hp.status).toBe('blocked');
    expect(hp.changes).toEqual([]);
    expect(hp.findings.find((f) => f.kind === 'manager-unsupported')?.message).toMatch(
      /manager: kpatch/,
    );
  });

  it('an inert leftover of the name: the load is planned without removesLeftover (the loader rmmods it)', () => {
    const hp = plan({
      patches: [a],
      want: [want('a', 'loaded')],
      facts: klpFacts([klpInst('livepatch_a.ko', { sha256: shaOf(a) })], {
        modules: [mod('livepatch_a', 0)],
      }),
      manager: 'klp',
    });
    expect(actions(hp.changes)).toEqual(['load']);
    expect(hp.changes[0]).not.toHaveProperty('removesLeftover');
  });

  it('declared absent: unloaded, and removed from the klp store', () => {
    const hp = plan({
      patches: [a],
      want: [want('a', 'absent')],
      facts: klpFacts([klpInst('livepatch_a.ko', { sha256: shaOf(a) })], loaded('livepatch_a')),
      manager: 'klp',
    });
    expect(actions(hp.changes)).toEqual(['unload', 'uninstall:klp']);
  });
});

describe('moving a host between managers (§K.6)', () => {
  const a = filePatch('a');

  it('kpatch → klp: installed in the klp store and its unit set up before the kpatch copy goes; never reloaded', () => {
    const hp = plan({
      patches: [a],
      want: [want('a', 'loaded')],
      facts: klpFacts(
        [],
        { ...loaded('livepatch_a'), installed: [inst('livepatch-a.ko', { sha256: shaOf(a) })] },
        { enabled: false, current: false, state: 'not-found' },
      ),
      manager: 'klp',
    });
    expect(actions(hp.changes)).toEqual(['upload', 'install', 'enable-service', 'uninstall']);
    expect(hp.changes[3]).toMatchObject({ file: 'livepatch-a.ko', kernel: KERNEL });
    expect(hp.changes[3]).not.toHaveProperty('store'); // kpatch's store
    // the install says why: the patch is installed, in the other manager's store (a reboot would
    // still load it from there), not "loaded but not installed"
    expect(hp.changes[1]?.reason).toBe(
      `declared loaded by group web; the host's manager is klp, and /var/lib/kpatch/${KERNEL}/livepatch-a.ko is the kpatch manager's copy`,
    );
  });

  it('klp → kpatch: the klp copy goes once kpatch holds it', () => {
    const hp = plan({
      patches: [a],
      want: [want('a', 'loaded')],
      facts: facts({
        ...loaded('livepatch_a'),
        klp: {
          store: [klpInst('livepatch_a.ko', { sha256: shaOf(a) })],
          boot: { systemctl: true, enabled: true, state: 'enabled', current: true },
        },
      }),
      manager: 'kpatch',
    });
    expect(actions(hp.changes)).toEqual(['upload', 'install', 'uninstall:klp']);
  });

  it('kpatch → klp on a host without systemctl: the kpatch copy is kept (it is what loads at boot)', () => {
    const hp = plan({
      patches: [a],
      want: [want('a', 'loaded')],
      facts: klpFacts(
        [klpInst('livepatch_a.ko', { sha256: shaOf(a) })],
        { ...loaded('livepatch_a'), installed: [inst('livepatch-a.ko', { sha256: shaOf(a) })] },
        { systemctl: false, enabled: false, current: false, state: '' },
      ),
      manager: 'klp',
    });
    expect(hp.changes).toEqual([]);
    expect(hp.findings.some((f) => f.kind === 'boot-disabled' && /is kept/.test(f.message))).toBe(
      true,
    );
  });
});

describe('review (issue 21): the klp name rule (§K.1) is what the boot script and crash guard key on', () => {
  it('a file patch whose file name does not follow its module is installed under one that does, or blocked', () => {
    // kpfleet.yml: module livepatch_a, file fix-a-v2.ko. The boot script loads it as fix_a_v2 and
    // looks for loading/fix_a_v2, while apply's crash-guard record is loading/livepatch_a: a host
    // that went down while apply loaded it would load it again at the next boot
    const a = { ...filePatch('a', { file: 'fix-a-v2.ko' }), module: 'livepatch_a' };
    const hp = plan({
      patches: [a],
      want: [want('a', 'loaded')],
      facts: klpFacts([], {}, { enabled: false, current: false, state: 'not-found' }),
      manager: 'klp',
    });
    const stored = hp.changes.flatMap((c) =>
      c.action === 'load' && c.file !== undefined
        ? [c.file.slice(c.file.lastIndexOf('/') + 1)]
        : [],
    );
    expect(
      hp.status === 'blocked' ||
        stored.every((f) => f === 'livepatch_a.ko' || f === 'livepatch-a.ko'),
    ).toBe(true);
  });
});

describe('what sysfs says of a loaded build (replace, 6.11+)', () => {
  const a = filePatch('a');
  const b = filePatch('b');
  const both = {
    patches: [live('livepatch_a', { replace: true }), live('livepatch_b', { replace: false })],
    modules: [mod('livepatch_a'), mod('livepatch_b')],
  };

  it('an atomic-replace build declared without replaces, loaded with others: a warning naming them', () => {
    const hp = plan({
      patches: [a, b],
      want: [want('a', 'loaded'), want('b', 'loaded')],
      facts: klpFacts(
        [
          klpInst('livepatch_a.ko', { sha256: shaOf(a) }),
          klpInst('livepatch_b.ko', { sha256: shaOf(b) }),
        ],
        both,
      ),
      manager: 'klp',
    });
    expect(hp.status).toBe('converged');
    const f = hp.findings.filter((x) => x.kind === 'replace-undeclared');
    expect(f.map((x) => [x.patch, x.severity])).toEqual([['a', 'warning']]);
    expect(f[0]?.message).toMatch(/retires every patch loaded before it \(b\)/);
  });

  it('nothing said where it is declared cumulative, alone, or the kernel has no replace file', () => {
    const cumulative = filePatch('a', { replaces: ['b'] });
    const cases = [
      { patches: [cumulative, b], want: [want('a', 'loaded'), want('b', 'installed')] },
      { patches: [a], want: [want('a', 'loaded')] },
    ];
    for (const c of cases) {
      const hp = plan({ ...c, facts: klpFacts([], both), manager: 'klp' });
      expect(hp.findings.map((x) => x.kind)).not.toContain('replace-undeclared');
    }
    const unknown = plan({
      patches: [a, b],
      want: [want('a', 'loaded'), want('b', 'loaded')],
      facts: klpFacts([], { ...both, patches: [live('livepatch_a'), live('livepatch_b')] }),
      manager: 'klp',
    });
    expect(unknown.findings.map((x) => x.kind)).not.toContain('replace-undeclared');
  });
});

describe('which patch runs for a function several change (stack_order, 6.13+)', () => {
  const f = { object: 'vmlinux', name: 'cmdline_proc_show', sympos: 1 };
  it('the plan names the patches and the one that runs, as information', () => {
    const hp = plan({
      patches: [],
      facts: klpFacts([], {
        patches: [
          live('livepatch_a', { stackOrder: 1, functions: [f] }),
          live('livepatch_b', { stackOrder: 2, functions: [f] }),
        ],
        modules: [mod('livepatch_a'), mod('livepatch_b')],
      }),
      manager: 'klp',
    });
    expect(hp.findings.filter((x) => x.kind === 'function-overlap')).toEqual([
      {
        kind: 'function-overlap',
        severity: 'info',
        message:
          "vmlinux:cmdline_proc_show,1 is changed by livepatch_a, livepatch_b: livepatch_b's version runs (highest stack_order)",
      },
    ]);
  });

  it('says it is unknown without stack_order, and counts past ten', () => {
    const fns = Array.from({ length: 12 }, (_, i) => ({ ...f, name: `f${String(i)}` }));
    const hp = plan({
      patches: [],
      facts: facts({
        patches: [live('livepatch_a', { functions: fns }), live('livepatch_b', { functions: fns })],
      }),
    });
    const notes = hp.findings.filter((x) => x.kind === 'function-overlap').map((x) => x.message);
    expect(notes).toHaveLength(11);
    expect(notes[0]).toMatch(/which version runs is unknown \(the kernel has no stack_order\)$/);
    expect(notes[10]).toBe(
      'and 2 more functions changed by several patches (kpfleet facts lists them)',
    );
  });
});
