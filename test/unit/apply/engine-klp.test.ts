/**
 * The engine in-process over the memory transport with hosts the klp manager manages (issue 21,
 * docs/klp-behaviour.md): the real planner and `applyPlan`, klp's steps as `stepFor` builds them
 * (the memory host matches them exactly), a stalled load reversed by the loader and rolled back,
 * a mixed fleet of kpatch and klp hosts in one run, and a move from kpatch to klp.
 */
import { describe, expect, it } from 'vitest';
import { bootSet, kpatchInstall, kpatchLoad } from '../../../lab/model.ts';
import { apply, filePatch, MemoryFleet } from './memory/harness.ts';
import type { MemoryHost } from './memory/transport.ts';

const A = filePatch('a');
const B = filePatch('b', { replace: true, replaces: ['a'] });
const noKpatch = (h: MemoryHost) => {
  h.model.kpatchInstalled = false;
  h.model.service = { present: false, enabled: false };
};
const steps = (_fleet: MemoryFleet, r: Awaited<ReturnType<typeof apply>>, host: string) =>
  r.by.get(host)?.steps.map((s) => `${s.rollback === true ? 'rollback ' : ''}${s.change.action}`);

describe('apply under the klp manager', () => {
  it('a mixed fleet converges in one run: kpatch where kpatch is, klp elsewhere, each with its own steps', async () => {
    const fleet = new MemoryFleet(2, { patches: [A], want: { a: 'loaded' } });
    noKpatch(fleet.host('h002'));
    const plan = await fleet.plan();
    expect(plan.hosts.map((h) => [h.host, h.manager, h.status])).toEqual([
      ['h001', 'kpatch', 'changes'],
      ['h002', 'klp', 'changes'],
    ]);
    const r = await apply(fleet, plan);
    expect([...r.by.values()].map((x) => x.outcome)).toEqual(['changed', 'changed']);
    expect(steps(fleet, r, 'h002')).toEqual(['upload', 'install', 'enable-service', 'load']);
    const klp = fleet.host('h002').model;
    expect(klp.klpStore.map((f) => f.file)).toEqual(['livepatch_a.ko']);
    expect(klp.installed).toEqual([]);
    expect(bootSet(klp)).toEqual(new Set(['livepatch_a']));
    expect(fleet.host('h001').model.installed.map((f) => f.file)).toEqual(['livepatch-a.ko']);
    const again = await fleet.plan();
    expect(again.hosts.map((h) => h.status)).toEqual(['converged', 'converged']);
  });

  it('a stalled transition: the loader reverses it, the run rolls the host back to before', async () => {
    const fleet = new MemoryFleet(1, { patches: [A], want: { a: 'loaded' } });
    const h = fleet.host('h001');
    noKpatch(h);
    const plan = await fleet.plan();
    h.faults.stallLoad = ['livepatch_a'];
    const r = await apply(fleet, plan);
    const res = r.by.get('h001');
    expect(res?.outcome).toBe('failed');
    expect(res?.message).toMatch(/livepatch_a is not in \/sys\/kernel\/livepatch.*rolled back$/);
    expect(res?.steps.find((s) => s.change.action === 'load')?.output).toContain(
      'transition stalled: livepatch_a was reversed and is not loaded',
    );
    expect(steps(fleet, r, 'h001')).toEqual([
      'upload',
      'install',
      'enable-service',
      'load',
      // the failed load may be half done: its unload (of nothing, after the reversal) is a no-op
      'rollback unload',
      'rollback uninstall',
    ]);
    expect(res?.steps.every((s) => s.ok || s.change.action === 'load')).toBe(true);
    expect(h.model.sysfs.size).toBe(0);
    expect(h.model.klpStore).toEqual([]);
  });

  it('a cumulative replacement under klp: the successor loads, the predecessor leaves sysfs, memory and the store', async () => {
    const fleet = new MemoryFleet(1, { patches: [A, B], want: { a: 'loaded' } });
    noKpatch(fleet.host('h001'));
    await apply(fleet, await fleet.plan());
    fleet.project.want = { b: 'loaded' };
    const plan = await fleet.plan();
    expect(plan.hosts[0]?.changes.map((c) => c.action)).toEqual([
      'upload',
      'install',
      'load',
      'unload',
      'uninstall',
    ]);
    const r = await apply(fleet, plan);
    expect(r.by.get('h001')?.outcome).toBe('changed');
    const m = fleet.host('h001').model;
    expect([...m.sysfs.keys()]).toEqual(['livepatch_b']);
    expect([...m.resident.keys()]).toEqual(['livepatch_b']);
    expect(m.klpStore.map((f) => f.file)).toEqual(['livepatch_b.ko']);
  });

  it('moving a loaded kpatch host to klp: no unload or load, the patch in a boot set throughout', async () => {
    const fleet = new MemoryFleet(1, { patches: [A], want: { a: 'loaded' } });
    const h = fleet.host('h001');
    kpatchInstall(h.model, A.module.kernel, A.module.sha256, 'livepatch-a.ko');
    kpatchLoad(h.model, { module: 'livepatch_a' });
    noKpatch(h); // kpatch was removed from the host: auto now picks klp
    h.model.service = { present: true, enabled: true }; // its unit is still there, loading nothing
    const plan = await fleet.plan();
    expect(plan.hosts[0]).toMatchObject({
      manager: 'klp',
      managerReason: 'auto: no kpatch utility',
    });
    const r = await apply(fleet, plan);
    expect(steps(fleet, r, 'h001')).toEqual(['upload', 'install', 'enable-service', 'uninstall']);
    expect(h.model.sysfs.get('livepatch_a')?.enabled).toBe(true);
    expect(h.model.installed).toEqual([]);
    expect(bootSet(h.model)).toEqual(new Set(['livepatch_a']));
    expect((await fleet.plan()).hosts[0]?.status).toBe('converged');
  });
});
