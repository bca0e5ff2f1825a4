/**
 * Second review of the klp manager (issue 21): a rollback under the klp store's `<module>.ko`
 * names (docs/klp-behaviour.md §K.1, §K.7) must leave the host's boot copy as it was before the
 * run. Each case puts a copy of the patch in the klp store before the run, makes the run fail, and
 * checks the store afterwards: the patch must still load at boot (bootSet), from the same content.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ModelModule } from '../../../lab/model.ts';
import { bootSet, copyInstall, klpLoad } from '../../../lab/model.ts';
import { apply, EL9, filePatch, MemoryFleet } from './memory/harness.ts';
import type { MemoryHost } from './memory/transport.ts';

const A = filePatch('a');
const C = filePatch('c');
const HEALTH = 'test ! -e /var/tmp/unhealthy';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
/** An older build of A: the same module, other content. */
const OLD_A: ModelModule = {
  name: A.module.name,
  kernel: EL9,
  replace: false,
  sha256: sha256('old a'),
};

/** A klp host (no kpatch) whose kpfleet-klp.service is in place. */
function klpHost(h: MemoryHost): void {
  h.model.kpatchInstalled = false;
  h.model.service = { present: false, enabled: false };
  h.model.klpBoot = { systemctl: true, enabled: true, current: true };
}
const storeOf = (h: MemoryHost) => h.model.klpStore.map((f) => `${f.file} ${f.sha256.slice(0, 8)}`);

describe('review 2: a klp rollback keeps the boot copy the host had before the run', () => {
  it('a re-install over a stale <module>.ko that fails its check: the rollback deletes the old copy', async () => {
    const fleet = new MemoryFleet(1, { patches: [A], want: { a: 'loaded' } });
    const h = fleet.host('h001');
    klpHost(h);
    h.model.files.set(OLD_A.sha256, OLD_A);
    copyInstall(h.model, 'klp', EL9, OLD_A.sha256, 'livepatch_a.ko');
    klpLoad(h.model, `/var/lib/kpfleet/klp/${EL9}/livepatch_a.ko`);
    const before = storeOf(h);
    const plan = await fleet.plan();
    expect(plan.hosts[0]?.changes.map((c) => c.action)).toEqual(['upload', 'install']);
    // the install's modinfo check refuses the file (nothing copied): the run fails
    h.faults.failStep = (s) =>
      s.change.action === 'install' && !s.rollback
        ? 'kpfleet: livepatch-a.ko is built for 5.14.0-999, not ' + EL9
        : undefined;
    const r = await apply(fleet, plan);
    expect(r.by.get('h001')?.outcome).toBe('failed');
    // before the run a reboot loaded livepatch_a (the old build); it must still
    expect(storeOf(h)).toEqual(before);
    expect(bootSet(h.model)).toEqual(new Set(['livepatch_a']));
  });

  it('a re-install over a stale <module>.ko, then a failed health check: the rollback deletes the old copy', async () => {
    const fleet = new MemoryFleet(1, { patches: [A], want: { a: 'loaded' } });
    const h = fleet.host('h001');
    klpHost(h);
    h.model.files.set(OLD_A.sha256, OLD_A);
    copyInstall(h.model, 'klp', EL9, OLD_A.sha256, 'livepatch_a.ko');
    klpLoad(h.model, `/var/lib/kpfleet/klp/${EL9}/livepatch_a.ko`);
    const before = storeOf(h);
    const plan = await fleet.plan();
    h.faults.unhealthy = 'nginx is down';
    const r = await apply(fleet, plan, { healthCheck: HEALTH });
    expect(r.by.get('h001')?.outcome).toBe('failed');
    expect(storeOf(h)).toEqual(before);
  });

  it('a copy under the file name (livepatch-a.ko), moved to <module>.ko, then rolled back: the store is left empty', async () => {
    // C is declared absent and its uninstall is the last step, after A's renaming removal
    const fleet = new MemoryFleet(1, { patches: [A, C], want: { a: 'loaded', c: 'absent' } });
    const h = fleet.host('h001');
    klpHost(h);
    copyInstall(h.model, 'klp', EL9, A.module.sha256, 'livepatch-a.ko');
    copyInstall(h.model, 'klp', EL9, C.module.sha256, 'livepatch_c.ko');
    klpLoad(h.model, `/var/lib/kpfleet/klp/${EL9}/livepatch-a.ko`);
    const plan = await fleet.plan();
    expect(
      plan.hosts[0]?.changes.map((c) => `${c.action} ${'file' in c ? (c.file ?? '') : ''}`),
    ).toEqual([
      expect.stringMatching(/^upload /) as unknown,
      expect.stringMatching(/^install /) as unknown,
      'uninstall livepatch-a.ko',
      'uninstall livepatch_c.ko',
    ]);
    h.faults.failStep = (s) =>
      s.change.action === 'uninstall' && s.change.file === 'livepatch_c.ko' && !s.rollback
        ? 'rm: cannot remove: Read-only file system'
        : undefined;
    const r = await apply(fleet, plan);
    expect(r.by.get('h001')?.outcome).toBe('failed');
    // before the run, a reboot loaded livepatch_a from livepatch-a.ko; after the rollback it must
    // still load it (from either name)
    expect(bootSet(h.model)).toEqual(new Set(['livepatch_a', 'livepatch_c']));
  });
});
