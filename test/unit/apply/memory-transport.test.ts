/**
 * The in-memory transport (memory/transport.ts) itself: its probe answer reads back through
 * src/facts/parse as the model's facts; it answers the lock, the steps and the uploads apply
 * sends, with the model changed as kpatch would; and it refuses anything else, loudly.
 */
import { describe, expect, it } from 'vitest';
import {
  BATCH_STOPPED,
  holderScript,
  LOCK_LOST_ERROR,
  LOCK_LOST_EXIT,
  LOCK_LOST_MARK,
  parseLockAnswer,
  stopBatchScript,
  underStepsLock,
} from '../../../src/apply/lock.ts';
import { judgeStep, stepFor } from '../../../src/apply/steps.ts';
import { rollbackChanges } from '../../../src/apply/rollback.ts';
import { CommandTimeoutError } from '../../../src/transport/errors.ts';
import { parseFacts } from '../../../src/facts/parse/facts.ts';
import { gatherFacts } from '../../../src/facts/gather.ts';
import { PROBE_VERSION } from '../../../src/facts/probe.ts';
import type { Change } from '../../../src/plan/model.ts';
import { kpatchInstall, kpatchLoad, modelFacts } from '../../../lab/model.ts';
import { EL9, filePatch, MemoryFleet, RUN } from './memory/harness.ts';
import { STAGING_PATH } from './memory/transport.ts';

const A = filePatch('a');
const R = filePatch('r', { replace: true });
/** The load of patch a, installed. */
const LOAD_A: Change = {
  action: 'load',
  patch: 'a',
  module: 'livepatch_a',
  replacesModules: [],
  reenable: false,
  cves: [],
  reason: 'declared',
};

function oneHost() {
  const fleet = new MemoryFleet(1, { patches: [A, R], want: { a: 'loaded' } });
  const h = fleet.host('h001');
  return { fleet, h };
}

/**
 * One host with livepatch-a installed, its plan the load of it: opened, this run's lock held, its
 * facts read; `script` builds a change's step script from those facts.
 */
async function lockedForLoad() {
  const { h } = oneHost();
  kpatchInstall(h.model, EL9, A.module.sha256, 'livepatch-a.ko');
  await h.expect([LOAD_A], RUN);
  const t = h.open();
  const held = await t.hold(
    holderScript({ owner: RUN.operator, since: RUN.since, runId: RUN.runId }),
    { become: true, heartbeatMs: 10_000 },
  );
  const facts = await gatherFacts(t);
  const script = (c: Change) => stepFor(c, { facts, staging: '', runId: RUN.runId }).script;
  return { h, t, held, facts, script };
}

describe('the probe answer', () => {
  it('parses back as the model facts (a bare host, and one with patches, leftovers, packages)', () => {
    const { h } = oneHost();
    const m = h.model;
    kpatchInstall(m, EL9, A.module.sha256, 'livepatch-a.ko');
    kpatchInstall(m, EL9, R.module.sha256, 'livepatch-r.ko');
    kpatchLoad(m, { module: 'livepatch_a' });
    kpatchLoad(m, { module: 'livepatch_r' }); // retires a: a leftover with refcount 0
    m.packages.push('kpatch-patch-5_14_0-362_8_1-1-1.el9_3.x86_64');
    m.service.enabled = false;
    for (const flavor of ['rhel', 'upstream'] as const) {
      h.flavor = flavor;
      const parsed = parseFacts(h.probeOutput());
      if (!parsed.ok) throw new Error(parsed.error);
      const want = modelFacts(m);
      const { kpatchList } = parsed.facts;
      // what the model does not know: the probe's version, kpatch's flavor and list, the boot
      expect(parsed.facts).toEqual({
        ...want,
        probeVersion: PROBE_VERSION,
        kpatch: { ...want.kpatch, flavor },
        kpatchList,
        bootId: h.bootId,
        suspects: [],
      });
      expect(kpatchList.rc).toBe(0);
      expect(kpatchList.parsed?.loaded.map((l) => [l.name, l.state])).toEqual([
        ['livepatch_r', 'enabled'],
      ]);
      expect(kpatchList.parsed?.installed.map((i) => i.name)).toEqual([
        'livepatch_a',
        'livepatch_r',
      ]);
    }
  });

  it('renders lockdown, sig_enforce, Secure Boot and stack_order as the v4 probe prints them', () => {
    const { h } = oneHost();
    const m = h.model;
    kpatchInstall(m, EL9, A.module.sha256, 'livepatch-a.ko');
    kpatchLoad(m, { module: 'livepatch_a' });
    // unknown by default: every file "-", no fifth livepatch field
    expect(h.probeOutput()).toContain('\nlockdown -\nsig_enforce -\nsecureboot -\n');
    expect(h.probeOutput()).toContain('\nlivepatch_a 1 0 0\n');
    m.stackOrder = true;
    m.security = { lockdown: 'integrity', sigEnforce: false, secureBoot: true };
    const out = h.probeOutput();
    expect(out).toContain(
      '\nlockdown none [integrity] confidentiality\nsig_enforce N\nsecureboot 1\n',
    );
    expect(out).toContain('\nlivepatch_a 1 0 0 1\n');
    const parsed = parseFacts(out);
    if (!parsed.ok) throw new Error(parsed.error);
    expect(parsed.facts.security).toEqual(modelFacts(m).security);
    expect(parsed.facts.patches).toEqual(modelFacts(m).patches);
    expect(parsed.facts.patches[0]?.stackOrder).toBe(1);
    m.security = { lockdown: 'confidentiality', sigEnforce: true };
    const again = parseFacts(h.probeOutput());
    expect(again.ok && again.facts.security).toEqual({
      lockdown: 'confidentiality',
      sigEnforce: true,
    });
  });

  it('shows a stalled load in transition, and a host without kpatch or livepatch', () => {
    const { h } = oneHost();
    kpatchInstall(h.model, EL9, A.module.sha256, 'livepatch-a.ko');
    kpatchLoad(h.model, { module: 'livepatch_a' });
    h.transition.add('livepatch_a');
    const stalled = parseFacts(h.probeOutput());
    if (!stalled.ok) throw new Error(stalled.error);
    expect(stalled.facts.transition).toMatchObject({ patch: 'livepatch_a', enabling: true });
    h.model.kpatchInstalled = false;
    h.model.livepatch = false;
    h.model.sysfs.clear();
    h.transition.clear();
    const bare = parseFacts(h.probeOutput());
    if (!bare.ok) throw new Error(bare.error);
    expect(bare.facts).toMatchObject({ kpatch: { installed: false }, livepatchSupported: false });
  });
});

describe('what it answers', () => {
  it('the lock: LOCKED until released; another run’s lock is BUSY or LEGACY, with who', async () => {
    const { h } = oneHost();
    await h.expect([], RUN);
    const t = h.open();
    const script = holderScript({ owner: RUN.operator, since: RUN.since, runId: RUN.runId });
    const opts = { become: true, heartbeatMs: 10_000 };
    const held = await t.hold(script, opts);
    expect(parseLockAnswer(held.said)).toEqual({ kind: 'locked' });
    expect(held.ended).toBe(false);
    expect(h.lock).toEqual({ runId: RUN.runId });
    // a second hold while this one runs: the host says who has it
    expect(parseLockAnswer((await t.hold(script, opts)).said).kind).toBe('busy');
    await held.release();
    expect(held.ended).toBe(true);
    expect(h.lock).toBeUndefined();
    const other = { owner: 'bob@ci', since: '2026-11-25T10:00:00.000Z', run: 'other' };
    h.faults.lockedBy = { kind: 'legacy', ...other };
    expect(parseLockAnswer((await t.hold(script, opts)).said)).toMatchObject({
      kind: 'legacy',
      holder: other,
    });
    h.faults.lockedBy = { kind: 'busy', ...other };
    const busy = await t.hold(script, opts);
    expect(busy.ended).toBe(true);
    expect(parseLockAnswer(busy.said)).toMatchObject({ kind: 'busy', holder: other });
  });

  it('a step of the plan: the model changes, and judgeStep reads the answer', async () => {
    const { fleet, h } = oneHost();
    const plan = await fleet.plan();
    const changes = plan.hosts[0]?.changes ?? [];
    expect(changes.map((c) => c.action)).toEqual(['upload', 'install', 'load']);
    await h.expect(changes, RUN);
    const t = h.open();
    await t.hold(holderScript({ owner: RUN.operator, since: RUN.since, runId: RUN.runId }), {
      become: true,
      heartbeatMs: 10_000,
    });
    const facts = await gatherFacts(t);
    const folder = A.module.sha256.slice(0, 16);
    const placed = await t.upload(A.content, `~/.kpfleet/stage/${folder}/livepatch-a.ko`, {
      sha256: A.module.sha256,
      makeFolders: true,
    });
    expect(placed).toBe(`${STAGING_PATH}/${folder}/livepatch-a.ko`);
    for (const c of changes.slice(1)) {
      const s = stepFor(c, { facts, staging: STAGING_PATH, runId: RUN.runId });
      // a forward step is stoppable (lock.ts underStepsLock), alone as in a batch
      const r = await t.exec(underStepsLock(s.script, RUN.runId, true), { become: true });
      expect(judgeStep(c, r.stdout), c.action).toEqual({ ok: true });
    }
    expect(h.model.sysfs.get('livepatch_a')).toEqual({ enabled: true, replace: false });
    expect(h.log).toEqual([
      'hold',
      'probe',
      'staging',
      'upload livepatch-a.ko',
      'install livepatch_a',
      'load livepatch_a',
    ]);
  });

  it('faults: a failing step changes nothing; a stalled load does not verify', async () => {
    const { h } = oneHost();
    kpatchInstall(h.model, EL9, A.module.sha256, 'livepatch-a.ko');
    await h.expect([LOAD_A], RUN);
    const t = h.open();
    const facts = await gatherFacts(t);
    const sent = underStepsLock(
      stepFor(LOAD_A, { facts, staging: '', runId: RUN.runId }).script,
      RUN.runId,
      true,
    );
    // without this run's lock the host runs no root step (lock.ts underStepsLock)
    const unlocked = await t.exec(sent, { become: true });
    expect(judgeStep(LOAD_A, unlocked.stdout)).toEqual({ ok: false, error: LOCK_LOST_ERROR });
    expect(h.model.sysfs.size).toBe(0);
    await t.hold(holderScript({ owner: RUN.operator, since: RUN.since, runId: RUN.runId }), {
      become: true,
      heartbeatMs: 10_000,
    });
    h.faults.failStep = () => 'kpatch: insmod failed';
    const failed = await t.exec(sent, { become: true });
    expect(judgeStep(LOAD_A, failed.stdout)).toEqual({
      ok: false,
      error: 'livepatch_a is not in /sys/kernel/livepatch (exit 1: kpatch: insmod failed)',
    });
    expect(h.model.sysfs.size).toBe(0);
    h.faults = { stallLoad: ['livepatch_a'] };
    const stalled = await t.exec(sent, { become: true });
    expect(judgeStep(LOAD_A, stalled.stdout)).toEqual({
      ok: false,
      error: 'livepatch_a is still in transition',
    });
  });
  it('a dropped connection: the step ran, the command fails, the lock is gone; then it reconnects', async () => {
    const { h, t, held, script } = await lockedForLoad();
    const seen: string[] = [];
    h.faults = {
      onStep: (s) => seen.push(`${s.change.action} ${String(s.rollback)}`),
      dropDuring: (s) => s.change.action === 'load',
    };
    const sent = underStepsLock(script(LOAD_A), RUN.runId, true);
    await expect(t.exec(sent, { become: true })).rejects.toThrow(
      'the connection to h001 was lost during load',
    );
    expect(seen).toEqual(['load false']);
    expect(h.model.sysfs.get('livepatch_a')?.enabled).toBe(true);
    expect([held.ended, held.lost, h.lock]).toEqual([true, true, undefined]);
    expect(h.connections).toBe(1);
    await gatherFacts(t);
    expect(h.connections).toBe(2);
  });

  it('a step whose exec times out: the step ran, the command fails, the lock and the connection stay', async () => {
    const { h, t, held, script } = await lockedForLoad();
    h.faults = { timeoutDuring: (s) => s.change.action === 'load' && !s.rollback };
    const sent = underStepsLock(script(LOAD_A), RUN.runId, true);
    const err: unknown = await t.exec(sent, { become: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandTimeoutError);
    expect(h.model.sysfs.get('livepatch_a')?.enabled).toBe(true);
    expect([held.ended, h.lock, h.connections]).toEqual([false, { runId: RUN.runId }, 1]);
    expect(h.log.slice(-2)).toEqual(['load livepatch_a', 'timeout (load)']);
  });
});

describe('the rollback’s stop of an exec that did not come back', () => {
  it('after the stop, a step of the plan (stoppable) is refused as the host refuses it; the rollback’s runs', async () => {
    const { h, t, facts, script } = await lockedForLoad();
    const stop = await t.exec(stopBatchScript(RUN.runId, 1), { become: true });
    expect(stop.stdout).toBe(`${BATCH_STOPPED}\n`);
    const late = await t.exec(underStepsLock(script(LOAD_A), RUN.runId, true), { become: true });
    expect([late.code, late.stdout]).toEqual([LOCK_LOST_EXIT, `${LOCK_LOST_MARK}\n`]);
    expect(h.model.sysfs.size).toBe(0);
    const undo = rollbackChanges([LOAD_A], facts, RUN.runId);
    const r = await t.exec(underStepsLock(script(undo[0] as Change), RUN.runId, false), {
      become: true,
    });
    expect(r.code).toBe(0);
    expect(h.log.slice(-3)).toEqual([
      'stop steps',
      'refused (stopped) load',
      'rollback unload livepatch_a',
    ]);
    // the next run's lock drops it
    await h.expect([LOAD_A], { ...RUN, runId: 'run-2' });
    expect(h.stopped).toBe(false);
  });
});

describe('what it refuses', () => {
  it('an unknown command, a step without root, an upload elsewhere, all kept in `refused`', async () => {
    const { fleet, h } = oneHost();
    const plan = await fleet.plan();
    await h.expect(plan.hosts[0]?.changes ?? [], RUN);
    const t = h.open();
    const facts = await gatherFacts(t);
    await expect(t.exec('rm -rf /')).rejects.toThrow(/refused[\s\S]*rm -rf \//);
    const install = plan.hosts[0]?.changes[1];
    if (!install) throw new Error('no install');
    const s = stepFor(install, { facts, staging: STAGING_PATH, runId: RUN.runId });
    await expect(
      t.exec(underStepsLock(s.script, RUN.runId, true), { become: false }),
    ).rejects.toThrow(/refused/);
    await expect(t.exec(s.script, { become: true })).rejects.toThrow(/refused/);
    await expect(t.upload(A.content, '/tmp/x.ko', { sha256: A.module.sha256 })).rejects.toThrow(
      /refused/,
    );
    await expect(
      t.hold(holderScript({ owner: 'mallory', since: RUN.since, runId: RUN.runId }), {
        become: true,
        heartbeatMs: 1,
      }),
    ).rejects.toThrow(/refused/);
    expect(h.refused).toHaveLength(5);
    expect(h.model.installed).toEqual([]);
  });

  it('a step in the other shape: the plan’s not stoppable, the rollback’s stoppable', async () => {
    const { h } = oneHost();
    kpatchInstall(h.model, EL9, A.module.sha256, 'livepatch-a.ko');
    await h.expect([LOAD_A], RUN);
    const t = h.open();
    await t.hold(holderScript({ owner: RUN.operator, since: RUN.since, runId: RUN.runId }), {
      become: true,
      heartbeatMs: 10_000,
    });
    const facts = await gatherFacts(t);
    const undo = rollbackChanges([LOAD_A], facts, RUN.runId);
    expect(undo.map((c) => c.action)).toEqual(['unload']);
    const script = (c: Change) => stepFor(c, { facts, staging: '', runId: RUN.runId }).script;
    await expect(
      t.exec(underStepsLock(script(LOAD_A), RUN.runId, false), { become: true }),
    ).rejects.toThrow(/refused/);
    await expect(
      t.exec(underStepsLock(script(undo[0] as Change), RUN.runId, true), { become: true }),
    ).rejects.toThrow(/refused/);
    expect(h.refused).toHaveLength(2);
    // in their own shapes, both are answered
    await t.exec(underStepsLock(script(LOAD_A), RUN.runId, true), { become: true });
    await t.exec(underStepsLock(script(undo[0] as Change), RUN.runId, false), { become: true });
    expect(h.log.slice(-2)).toEqual(['load livepatch_a', 'rollback unload livepatch_a']);
    expect(h.model.sysfs.size).toBe(0);
  });

  it('an unreachable host cannot be opened; after close nothing is answered', async () => {
    const { h } = oneHost();
    h.faults.unreachable = true;
    expect(() => h.open()).toThrow(/cannot reach h001/);
    h.faults = {};
    const t = h.open();
    await t.close();
    await expect(t.exec('true')).rejects.toThrow(/after close/);
  });
});
