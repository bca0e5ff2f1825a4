/**
 * `applyPlan` in process over the in-memory transport (memory/): one host that fails and is
 * rolled back to its state before the run. A step that fails; a health check that fails; an
 * atomic-replace load that retires a patch loaded before it (docs/kpatch-behaviour.md §5.3: only
 * the facts read after the run show it); an uninstall undone from this run's own copy, and one
 * whose copy cannot be made; a rollback that fails too; a connection dropped mid-step; a lock
 * ended mid-run. The outcomes and messages are those of the e2e and lab tests
 * (test/e2e/fleet/cli-apply.test.ts, test/integration/lab/rollback-stash.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { STASH_ROOT } from '../../../src/host-paths.ts';
import { kpatchInstall, kpatchLoad } from '../../../lab/model.ts';
import type { ModelHost } from '../../../lab/model.ts';
import type { Project } from './memory/harness.ts';
import { apply, EL9, filePatch, MemoryFleet, RUN } from './memory/harness.ts';
import type { MemoryHost } from './memory/transport.ts';
import { ConnectionLostError } from '../../../src/transport/errors.ts';

const CVE = filePatch('cve-2024-1086');
const MOD = CVE.module.name;
/** The load's label: the patch as kpfleet.yml names it, then its module. */
const LOAD = `+ load ${CVE.patch.name} (${MOD})`;
const INSTALL = `+ install ${MOD} (${EL9})`;
const ONE: Project = { patches: [CVE], want: { 'cve-2024-1086': 'loaded' } };
const HEALTH = 'test ! -e /var/tmp/unhealthy';

/** One host of `project`, planned; and its model before the run. */
async function planned(project: Project, setUp?: (m: ModelHost) => void) {
  const fleet = new MemoryFleet(1, project);
  const h = fleet.host('h001');
  setUp?.(h.model);
  const plan = await fleet.plan();
  return { fleet, h, plan, before: fleet.snapshot().get('h001') };
}

/** Each step the host was asked for, as `label ok` (rollback steps marked `R`). */
const stepsOf = (r: {
  results: { steps: { label: string; ok: boolean; rollback?: boolean }[] }[];
}) =>
  r.results[0]?.steps.map(
    (s) => `${s.rollback === true ? 'R ' : ''}${s.label} ${s.ok ? 'ok' : 'FAILED'}`,
  );

/** The plan's load fails on the host (exit 1, nothing loaded): the host is rolled back. */
function loadFails(h: MemoryHost): void {
  h.faults.failStep = (s) =>
    s.change.action === 'load' && !s.rollback ? 'kpatch: failed to load module' : undefined;
}

/** As before the run, but for what staging left (nothing) and what apply never touches. */
function expectAsBefore(h: MemoryHost, before: ModelHost | undefined): void {
  expect(h.model).toEqual(before);
  expect(h.lock).toBeUndefined();
  expect(h.staging).toBe(false);
  expect(h.stash.size).toBe(0);
}

describe('a failed step rolls the host back', () => {
  it('the load fails: the install is undone; the message names the step and says rolled back', async () => {
    const { fleet, h, plan, before } = await planned(ONE);
    loadFails(h);
    const r = await apply(fleet, plan);
    expect(r.results[0]).toMatchObject({
      outcome: 'failed',
      message: `${LOAD}: ${MOD} is not in /sys/kernel/livepatch (exit 1: kpatch: failed to load module); rolled back`,
    });
    expect(stepsOf(r)).toEqual([
      expect.stringMatching(/^\+ upload .* ok$/) as unknown,
      `+ install ${MOD} (${EL9}) ok`,
      `${LOAD} FAILED`,
      `R - unload ${MOD} ok`,
      `R - uninstall livepatch-cve-2024-1086.ko (${EL9}) ok`,
    ]);
    expect(r.results[0]?.after).toBe(r.results[0]?.before);
    expectAsBefore(h, before);
    expect(r.events.filter((e) => e.type === 'host-phase').map((e) => e.phase)).toEqual([
      'connect',
      'lock',
      'rollback',
      'unlock',
    ]);
  });

  it('a failing health check rolls the host back', async () => {
    const { fleet, h, plan, before } = await planned(ONE);
    h.faults.unhealthy = 'nginx is down';
    const r = await apply(fleet, plan, { healthCheck: HEALTH });
    expect(r.results[0]).toMatchObject({
      outcome: 'failed',
      message: 'health check failed (exit 1): nginx is down; rolled back',
    });
    expectAsBefore(h, before);
  });

  it('the rollback fails too: rollback-failed, the host needs a look', async () => {
    const { fleet, h, plan } = await planned(ONE);
    h.faults.failStep = (s) =>
      s.change.action === 'load' || (s.rollback && s.change.action === 'uninstall')
        ? 'kpatch: it went wrong'
        : undefined;
    const r = await apply(fleet, plan);
    expect(r.results[0]?.outcome).toBe('rollback-failed');
    expect(r.results[0]?.message).toMatch(/; the rollback failed too: the host needs a look$/);
    expect(stepsOf(r)?.slice(-2)).toEqual([
      `R - unload ${MOD} ok`,
      `R - uninstall livepatch-cve-2024-1086.ko (${EL9}) FAILED`,
    ]);
    // the install stays, as the rollback left it; the lock is released all the same
    expect(h.model.installed.map((i) => i.file)).toEqual(['livepatch-cve-2024-1086.ko']);
    expect(h.lock).toBeUndefined();
  });
});

describe('retired loads (§5.3)', () => {
  it('two atomic-replace builds declared as independent: the second retires the first, so the host fails and is rolled back', async () => {
    const NF = filePatch('nf-tables', { replace: true });
    const REPLACE = filePatch('cve-2024-1086', { replace: true });
    const { fleet, h, plan, before } = await planned({
      patches: [REPLACE, NF],
      want: { 'cve-2024-1086': 'loaded', 'nf-tables': 'loaded' },
    });
    const r = await apply(fleet, plan);
    expect(r.results[0]?.outcome).toBe('failed');
    expect(r.results[0]?.message).toMatch(
      new RegExp(
        `^${MOD} was loaded and verified, then no longer enabled.*atomic-replace.*replaces.*rolled back$`,
      ),
    );
    // each load verified on its own; the loss showed in the facts after; both undone
    expect(stepsOf(r)?.filter((s) => !s.startsWith('+ upload'))).toEqual([
      `+ install ${MOD} (${EL9}) ok`,
      `+ install livepatch_nf_tables (${EL9}) ok`,
      `${LOAD} ok`,
      '+ load nf-tables (livepatch_nf_tables) ok',
      'R - unload livepatch_nf_tables ok',
      `R - unload ${MOD} ok`,
      `R - uninstall livepatch-nf-tables.ko (${EL9}) ok`,
      `R - uninstall livepatch-cve-2024-1086.ko (${EL9}) ok`,
    ]);
    expect(h.model.sysfs.has(MOD)).toBe(false);
    expect(h.model.sysfs.has('livepatch_nf_tables')).toBe(false);
    expectAsBefore(h, before);
  });

  it('declared as cumulative (`replaces`), the same builds converge', async () => {
    const NF = filePatch('nf-tables', { replace: true, replaces: ['cve-2024-1086'] });
    const REPLACE = filePatch('cve-2024-1086', { replace: true });
    const { fleet, h, plan } = await planned(
      { patches: [REPLACE, NF], want: { 'nf-tables': 'loaded' } },
      (m) => {
        kpatchInstall(m, EL9, REPLACE.module.sha256, 'livepatch-cve-2024-1086.ko');
        kpatchLoad(m, { module: MOD });
      },
    );
    const r = await apply(fleet, plan);
    expect(r.results[0]?.outcome, r.results[0]?.message).toBe('changed');
    expect([...h.model.sysfs.keys()]).toEqual(['livepatch_nf_tables']);
  });
});

describe('an uninstall is undone from this run’s own copy', () => {
  const VENDOR = filePatch('vendor-fix');
  /** A vendor's module, installed and loaded, that `unmanaged: remove` takes away. */
  const withVendor = (m: ModelHost): void => {
    kpatchInstall(m, EL9, VENDOR.module.sha256, 'livepatch-vendor-fix.ko');
    kpatchLoad(m, { module: VENDOR.module.name });
  };
  const REMOVE: Project = { patches: [VENDOR], want: {}, unmanaged: 'remove' };

  it('the health check fails: the copy is installed and loaded again, then removed', async () => {
    const { fleet, h, plan, before } = await planned(REMOVE, withVendor);
    expect(plan.hosts[0]?.changes.map((c) => c.action)).toEqual(['unload', 'uninstall']);
    h.faults.unhealthy = 'no';
    const r = await apply(fleet, plan, { healthCheck: HEALTH });
    expect(r.results[0]?.message).toBe('health check failed (exit 1): no; rolled back');
    expect(stepsOf(r)).toEqual([
      '- unload livepatch_vendor_fix ok',
      `- uninstall livepatch-vendor-fix.ko (${EL9}) ok`,
      expect.stringMatching(
        new RegExp(`^R \\+ install livepatch_vendor_fix \\(${EL9.replaceAll('.', '\\.')}\\) ok$`),
      ) as unknown,
      'R + load livepatch_vendor_fix ok',
    ]);
    expect(h.log).toContain('stash livepatch-vendor-fix.ko');
    expect(h.log).toContain('stash cleanup');
    expectAsBefore(h, before);
  });

  it('the copy cannot be made: the module is not uninstalled, the host is rolled back', async () => {
    const { fleet, h, plan, before } = await planned(REMOVE, withVendor);
    h.faults.stashFails = true;
    const r = await apply(fleet, plan);
    expect(r.results[0]?.outcome).toBe('failed');
    expect(r.results[0]?.message).toMatch(
      /could not keep a copy of .*livepatch-vendor-fix\.ko.*rolled back$/,
    );
    const uninstall = r.results[0]?.steps.find(
      (s) => s.rollback !== true && s.change.action === 'uninstall',
    );
    expect(uninstall?.error).toBe(
      `could not keep a copy of /var/lib/kpatch/${EL9}/livepatch-vendor-fix.ko in ${STASH_ROOT}/${RUN.runId}, so it was not uninstalled: cp: error writing '${STASH_ROOT}/${RUN.runId}/${EL9}/livepatch-vendor-fix.ko': No space left on device`,
    );
    expect(r.results[0]?.steps.filter((s) => s.rollback === true).every((s) => s.ok)).toBe(true);
    expectAsBefore(h, before);
  });

  it('the facts after the changes not read: the copy is kept, and the message says where', async () => {
    const { fleet, h, plan } = await planned(REMOVE, withVendor);
    h.faults.timeoutProbe = (n) => n === 1;
    const r = await apply(fleet, plan);
    expect(r.results[0]?.outcome).toBe('failed');
    expect(r.results[0]?.message).toMatch(/^2 changes done and verified, but the host could not/);
    expect(r.results[0]?.message).toMatch(
      new RegExp(`\\(the modules it uninstalled are kept in ${STASH_ROOT}/${RUN.runId}\\)$`),
    );
    expect(h.stash.size).toBe(1);
  });

  it('after a run that succeeds, its copy is gone too', async () => {
    const { fleet, h, plan } = await planned(REMOVE, withVendor);
    const r = await apply(fleet, plan);
    expect(r.results[0]?.outcome).toBe('changed');
    expect(h.model.installed).toEqual([]);
    expect(h.stash.size).toBe(0);
  });
});

describe('the connection or the lock lost mid-run', () => {
  it('a connection dropped mid-load: the host is locked again over a new one and rolled back', async () => {
    const { fleet, h, plan, before } = await planned(ONE);
    h.faults.dropDuring = (s) => s.change.action === 'load' && !s.rollback;
    const r = await apply(fleet, plan);
    expect(r.results[0]?.outcome).toBe('failed');
    // install and load went in one exec (batch.ts): which of them ran is not known, so both are
    // undone
    expect(r.results[0]?.message).toBe(
      `${INSTALL}: the connection to h001 was lost during load (sent in one exec with ${LOAD}: any of them may have run); rolled back`,
    );
    expect(h.connections).toBe(2);
    expect(h.log.filter((l) => l === 'hold')).toHaveLength(2);
    // the batch may still run on the host: it is stopped (and its step in flight waited for)
    // under the lock taken again, before anything is undone
    const after = h.log.slice(h.log.indexOf('drop (load)'));
    expect(after.slice(0, 3)).toEqual(['drop (load)', 'hold', 'stop steps']);
    expect(after.filter((l) => l === 'stop steps')).toHaveLength(1);
    expectAsBefore(h, before);
    // and the next run converges it
    h.faults = {};
    const again = await apply(fleet, await fleet.plan());
    expect(again.results[0]?.outcome).toBe('changed');
  });

  it('a batch step still running after the wait: nothing is undone under it, rollback-failed', async () => {
    const { fleet, h, plan } = await planned(ONE);
    h.faults.dropDuring = (s) => s.change.action === 'load' && !s.rollback;
    h.faults.batchStillRunning = true;
    const r = await apply(fleet, plan);
    expect(r.results[0]).toMatchObject({
      outcome: 'rollback-failed',
      message: `${INSTALL}: the connection to h001 was lost during load (sent in one exec with ${LOAD}: any of them may have run); a step of that exec was still running on the host 1 s later, so the host was not rolled back: the host needs a look`,
    });
    expect(h.log.filter((l) => l.startsWith('rollback '))).toEqual([]);
    expect(h.model.installed).toHaveLength(1);
    expect(h.lock).toBeUndefined();
  });

  it('the stop of a batch gets no answer in time: nothing is undone, rollback-failed (not "as before")', async () => {
    const { fleet, h, plan } = await planned(ONE);
    h.faults.dropDuring = (s) => s.change.action === 'load' && !s.rollback;
    h.faults.stopBatchTimesOut = true;
    const r = await apply(fleet, plan);
    expect(r.results[0]?.outcome).toBe('rollback-failed');
    expect(r.results[0]?.message).toMatch(
      /; that exec could not be stopped on the host before the rollback \(stop steps did not finish within 31 s\), so the host was not rolled back: the host needs a look$/,
    );
    expect(h.log.filter((l) => l.startsWith('rollback '))).toEqual([]);
  });

  it('the lock cannot be taken again because a step still holds the host (DRAIN): rollback-failed, not "another run"; the step named as this run\'s own', async () => {
    const { fleet, h, plan } = await planned(ONE);
    h.faults.dropDuring = (s) => s.change.action === 'load' && !s.rollback;
    h.faults.drainOnHold = (n) => n === 2;
    const r = await apply(fleet, plan);
    expect(r.results[0]?.outcome).toBe('rollback-failed');
    // the exec of install and load was cut off with the connection: it is what may still run
    expect(r.results[0]?.message).toMatch(
      /; its lock could not be taken again for the rollback \(this run's own step, sent before its connection was lost and not seen to end, was still running on the host after waiting for it \(or one of a run that held the host since: the host does not say whose\)\), so it was not rolled back: the host needs a look$/,
    );
    expect(h.log.filter((l) => l.startsWith('rollback '))).toEqual([]);
  });

  it('DRAIN when the lock is taken again after a facts read lost the connection (every step of the run ended): a step of a run that held the host since', async () => {
    const { fleet, h, plan } = await planned(ONE);
    loadFails(h);
    // the rollback's first facts read loses the connection; the lock taken again answers DRAIN
    h.faults.dropProbe = (n) => n === 1;
    h.faults.drainOnHold = (n) => n === 2;
    const r = await apply(fleet, plan);
    expect(r.results[0]?.outcome).toBe('rollback-failed');
    expect(r.results[0]?.message).toMatch(
      /; its lock could not be taken again for the rollback \(a step of a run that held the host after this run lost its connection was still running on the host after waiting for it \(every step of this run had ended\)\), so it was not rolled back: the host needs a look$/,
    );
    expect(h.log.filter((l) => l.startsWith('rollback '))).toEqual([]);
  });

  it("DRAIN when a rollback step lost the connection: the lock taken again names that step as this run's own", async () => {
    const { fleet, h, plan } = await planned(ONE);
    loadFails(h);
    h.faults.dropDuring = (s) => s.rollback;
    h.faults.drainOnHold = (n) => n === 2;
    const r = await apply(fleet, plan);
    expect(r.results[0]?.outcome).toBe('rollback-failed');
    expect(r.results[0]?.message).toMatch(
      /its lock could not be taken again for the rollback \(this run's own step, sent before its connection was lost and not seen to end, was still running/,
    );
  });

  it("DRAIN when the connection was lost before a rollback step was sent (it waited for its record): not named as this run's own step", async () => {
    const { fleet, h, plan } = await planned(ONE);
    loadFails(h);
    // the connection (and the lock with it) goes while the rollback's first step waits for the
    // audit log: the step is refused before it is sent, and every exec of the run had ended
    let rollingBack = false;
    let dropped = false;
    h.faults.drainOnHold = (n) => n === 2;
    const r = await apply(fleet, plan, {
      onEvent: (e) => {
        if (e.type === 'step-start' && e.rollback) rollingBack = true;
      },
      recorded: () => {
        if (rollingBack && !dropped) {
          dropped = true;
          h.endLock(true);
        }
        return Promise.resolve();
      },
    });
    expect(dropped).toBe(true);
    expect(r.results[0]?.outcome).toBe('rollback-failed');
    expect(r.results[0]?.message).toMatch(
      /its lock could not be taken again for the rollback \(a step of a run that held the host after this run lost its connection was still running on the host after waiting for it \(every step of this run had ended\)\)/,
    );
    expect(h.log.filter((l) => l.startsWith('rollback '))).toEqual([]);
  });

  it('DRAIN at the first lock of a run: a step of an earlier run, nothing done', async () => {
    const { fleet, h, plan, before } = await planned(ONE);
    h.faults.drainOnHold = (n) => n === 1;
    const r = await apply(fleet, plan);
    expect(r.results[0]).toMatchObject({
      outcome: 'locked',
      message:
        'a step of an earlier run was still running on the host after waiting for it; nothing was done. Run again later',
    });
    expect(h.model).toEqual(before);
  });

  it('a batch that did not come back is stopped even when nothing of it is undone, before the facts after', async () => {
    // a patch installed and loaded, but disabled, and kpatch.service off: the plan enables both,
    // in one exec, and neither has anything to undo
    const { fleet, h, plan } = await planned(ONE, (m) => {
      kpatchInstall(m, EL9, CVE.module.sha256, 'livepatch-cve-2024-1086.ko');
      kpatchLoad(m, { module: MOD });
      const p = m.sysfs.get(MOD);
      if (p) p.enabled = false;
      m.service.enabled = false;
    });
    const actions = plan.hosts[0]?.changes.map((c) => c.action);
    expect(actions).toEqual(expect.arrayContaining(['load', 'enable-service']));
    h.faults.dropDuring = (s) => s.change.action === 'load' && !s.rollback;
    const r = await apply(fleet, plan);
    const after = h.log.slice(h.log.indexOf('drop (load)'));
    expect(after, JSON.stringify(r.results[0])).toContain('stop steps');
    expect(after.indexOf('stop steps')).toBeLessThan(after.lastIndexOf('probe'));
  });

  it('a batch that came back with no exit status (killed during its load): both counted, stopped, then rolled back', async () => {
    const { fleet, h, plan, before } = await planned(ONE);
    h.faults.killedDuring = (s) => s.change.action === 'load' && !s.rollback;
    const r = await apply(fleet, plan);
    expect(r.results[0]?.outcome, r.results[0]?.message).toBe('failed');
    expect(r.results[0]?.message).toMatch(/^\+ load .*: the step ended early.*; rolled back$/);
    const after = h.log.slice(h.log.indexOf('killed (load)'));
    expect(after.slice(0, 2)).toEqual(['killed (load)', 'stop steps']);
    expect(stepsOf(r)?.filter((s) => s.startsWith('R '))).toEqual([
      `R - unload ${MOD} ok`,
      `R - uninstall livepatch-cve-2024-1086.ko (${EL9}) ok`,
    ]);
    expectAsBefore(h, before);
  });

  it('a batch that came back (its step failed) is not stopped: nothing of it runs any more', async () => {
    const { fleet, h, plan } = await planned(ONE);
    loadFails(h);
    const r = await apply(fleet, plan);
    expect(r.results[0]?.outcome).toBe('failed');
    expect(h.log).not.toContain('stop steps');
  });

  it("the rollback's facts read gets no answer in time (a slow host): rollback-failed, saying why the host failed and how far the rollback went", async () => {
    const { fleet, h, plan } = await planned(ONE);
    loadFails(h);
    // the second facts read of its own exec: the rollback's before its second step
    h.faults.timeoutProbe = (n) => n === 2;
    const r = await apply(fleet, plan);
    expect(r.results[0]).toMatchObject({
      outcome: 'rollback-failed',
      message: `${LOAD}: ${MOD} is not in /sys/kernel/livepatch (exit 1: kpatch: failed to load module); the rollback stopped after 1 of 2 steps (facts did not finish within 60 s): the host needs a look`,
    });
    expect(h.log.filter((l) => l.startsWith('rollback '))).toEqual([`rollback unload ${MOD}`]);
    expect(h.lock).toBeUndefined();
  });

  it('the facts read after the rollback gets no answer in time: rollback-failed, its steps done, the state after not known', async () => {
    const { fleet, h, plan, before } = await planned(ONE);
    loadFails(h);
    // one read before each of the two rollback steps, then the one after
    h.faults.timeoutProbe = (n) => n === 3;
    const r = await apply(fleet, plan);
    expect(r.results[0]).toMatchObject({
      outcome: 'rollback-failed',
      message: `${LOAD}: ${MOD} is not in /sys/kernel/livepatch (exit 1: kpatch: failed to load module); the host could not be read after the rollback (facts did not finish within 60 s): the host needs a look`,
    });
    expect(stepsOf(r)?.filter((s) => s.startsWith('R '))).toEqual([
      `R - unload ${MOD} ok`,
      `R - uninstall livepatch-cve-2024-1086.ko (${EL9}) ok`,
    ]);
    expect(h.model).toEqual(before);
    expect(h.lock).toBeUndefined();
  });

  it("the rollback's facts read loses the connection: locked again over a new one, the facts read again, rolled back", async () => {
    const { fleet, h, plan, before } = await planned(ONE);
    loadFails(h);
    // the first facts read of its own exec is the rollback's, before its first step
    h.faults.dropProbe = (n) => n === 1;
    const r = await apply(fleet, plan);
    expect(r.results[0]).toMatchObject({
      outcome: 'failed',
      message: `${LOAD}: ${MOD} is not in /sys/kernel/livepatch (exit 1: kpatch: failed to load module); rolled back (over a new connection, with the lock taken again: the first was lost during the rollback)`,
    });
    expect(h.connections).toBe(2);
    expect(h.log.filter((l) => l === 'hold')).toHaveLength(2);
    expect(h.log.slice(h.log.indexOf('drop (facts)'))).toEqual([
      'drop (facts)',
      'hold',
      'probe',
      'rollback unload livepatch_cve_2024_1086',
      'probe',
      'rollback uninstall livepatch_cve_2024_1086',
      'staging cleanup',
      'probe',
      'release',
    ]);
    expectAsBefore(h, before);
  });

  it('a rollback step loses the connection after it ran: the step runs again over a new one, rolled back', async () => {
    const { fleet, h, plan, before } = await planned(ONE);
    loadFails(h);
    let drops = 0;
    h.faults.dropDuring = (s) => s.rollback && s.change.action === 'uninstall' && drops++ === 0;
    const r = await apply(fleet, plan);
    expect(r.results[0]?.outcome).toBe('failed');
    expect(r.results[0]?.message).toMatch(/; rolled back \(over a new connection/);
    // the lost step is recorded as it went, then run again (it had run: its verification passes)
    expect(stepsOf(r)?.slice(-3)).toEqual([
      `R - unload ${MOD} ok`,
      `R - uninstall livepatch-cve-2024-1086.ko (${EL9}) FAILED`,
      `R - uninstall livepatch-cve-2024-1086.ko (${EL9}) ok`,
    ]);
    expect(h.connections).toBe(2);
    expectAsBefore(h, before);
  });

  it('a rollback step loses the connection twice: unreachable after the retry, not a lock ended by hand', async () => {
    const { fleet, h, plan } = await planned(ONE);
    loadFails(h);
    h.faults.dropDuring = (s) => s.rollback && s.change.action === 'unload';
    const r = await apply(fleet, plan);
    expect(r.results[0]).toMatchObject({
      outcome: 'unreachable',
      message: `${LOAD}: ${MOD} is not in /sys/kernel/livepatch (exit 1: kpatch: failed to load module); the connection was lost again during the rollback, so it was not rolled back: the host needs a look, then apply again`,
    });
    expect(h.connections).toBe(3);
    expect(h.log.filter((l) => l === 'rollback unload livepatch_cve_2024_1086')).toHaveLength(2);
    expect(h.model.installed).toHaveLength(1);
  });

  it('lost during the rollback, and another run holds the lock by then: failed, changing nothing more, saying how far it went', async () => {
    const { fleet, h, plan } = await planned(ONE);
    loadFails(h);
    h.faults.dropProbe = (n) => {
      if (n !== 1) return false;
      h.faults.lockedBy = { kind: 'busy', owner: 'bob@ci', since: 'noon', run: 'run-b' };
      return true;
    };
    const r = await apply(fleet, plan);
    expect(r.results[0]).toMatchObject({
      outcome: 'failed',
      message: `${LOAD}: ${MOD} is not in /sys/kernel/livepatch (exit 1: kpatch: failed to load module); the connection was lost during the rollback, and its lock could not be taken again (locked by bob@ci since noon (run run-b)), so the rollback stopped after 0 of 2 steps, each one done verified: apply again converges it`,
    });
    expect(h.log.filter((l) => l.startsWith('rollback '))).toEqual([]);
  });

  it('the connection is lost again after the retry: unreachable, and the message says how far the rollback went', async () => {
    const { fleet, h, plan } = await planned(ONE);
    loadFails(h);
    // the rollback's first facts read, and the one before its second step over the new connection
    h.faults.dropProbe = (n) => n === 1 || n === 3;
    const r = await apply(fleet, plan);
    expect(r.results[0]).toMatchObject({
      outcome: 'unreachable',
      message: `${LOAD}: ${MOD} is not in /sys/kernel/livepatch (exit 1: kpatch: failed to load module); the connection was lost again during the rollback, so its rollback is not known to be complete (1 of 2 rollback steps run): the host needs a look, then apply again`,
    });
    expect(h.connections).toBe(3);
    expect(h.log.filter((l) => l === 'hold')).toHaveLength(2);
    // the unload was undone; the install was not
    expect(h.model.installed).toHaveLength(1);
    expect(h.lock).toBeUndefined();
  });

  it('the lock ended mid-run (kpfleet unlock): no further change, the host is not rolled back', async () => {
    const { fleet, h, plan } = await planned(ONE);
    h.faults.onStep = (s) => {
      if (s.change.action === 'install') h.endLock(false);
    };
    const r = await apply(fleet, plan);
    expect(r.results[0]).toMatchObject({
      outcome: 'failed',
      message:
        'its lock on the host ended after 2 of 3 changes (kpfleet unlock, or the host ended it): no further change was made, each one done was verified; apply again converges it',
    });
    expect(h.model.installed).toHaveLength(1);
    expect(h.model.sysfs.size).toBe(0);
  });
  it('the lock ended mid-run after an uninstall: the message names where the copy is kept', async () => {
    // a stale copy of the declared patch: uninstalled (its copy kept) before the new one goes in
    const { fleet, h, plan } = await planned(ONE, (m) => {
      const stale = { name: MOD, kernel: EL9, replace: false, sha256: 'f'.repeat(64) };
      m.files.set(stale.sha256, stale);
      kpatchInstall(m, EL9, stale.sha256, 'livepatch-cve-2024-1086.ko');
    });
    expect(plan.hosts[0]?.changes.map((c) => c.action)).toEqual([
      'uninstall',
      'upload',
      'install',
      'load',
    ]);
    h.faults.onStep = (s) => {
      if (s.change.action === 'upload') h.endLock(false);
    };
    const r = await apply(fleet, plan);
    expect(r.results[0]).toMatchObject({
      outcome: 'failed',
      message: `its lock on the host ended after 2 of 4 changes (kpfleet unlock, or the host ended it): no further change was made, each one done was verified; apply again converges it (the modules it uninstalled are kept in ${STASH_ROOT}/${RUN.runId})`,
    });
    expect(h.stash.size).toBe(1);
  });

  it('the connection lost during the health check after an uninstall: the message names where the copy is kept', async () => {
    const { fleet, h, plan } = await planned(ONE, (m) => {
      const stale = { name: MOD, kernel: EL9, replace: false, sha256: 'f'.repeat(64) };
      m.files.set(stale.sha256, stale);
      kpatchInstall(m, EL9, stale.sha256, 'livepatch-cve-2024-1086.ko');
    });
    const r = await apply(fleet, plan, {
      healthCheck: HEALTH,
      open: () => {
        const t = h.open();
        const exec = t.exec.bind(t);
        t.exec = (command, o) =>
          o?.step === 'health check'
            ? Promise.reject(
                new ConnectionLostError('the connection was lost during health check', {
                  host: h.name,
                  step: 'health check',
                }),
              )
            : exec(command, o);
        return Promise.resolve(t);
      },
    });
    expect(r.results[0]?.outcome).toBe('unreachable');
    expect(h.stash.size).toBe(1);
    expect(r.results[0]?.message).toContain(
      `(the modules it uninstalled are kept in ${STASH_ROOT}/${RUN.runId})`,
    );
  });

  it('the lock ended during the rollback of an uninstall: the message names where the copy is kept', async () => {
    const VENDOR = filePatch('vendor-fix');
    const { fleet, h, plan } = await planned(
      { patches: [VENDOR], want: {}, unmanaged: 'remove' },
      (m) => {
        kpatchInstall(m, EL9, VENDOR.module.sha256, 'livepatch-vendor-fix.ko');
        kpatchLoad(m, { module: VENDOR.module.name });
      },
    );
    h.faults.unhealthy = 'no';
    // ended as the rollback's first step (the install of the copy) runs
    h.faults.onStep = (s) => {
      if (s.rollback) h.endLock(false);
    };
    const r = await apply(fleet, plan, { healthCheck: HEALTH });
    expect(r.results[0]?.outcome).toBe('failed');
    expect(r.results[0]?.message).toBe(
      `health check failed (exit 1): no; its lock on the host ended during the rollback (kpfleet unlock, or the host ended it), so the rollback stopped after 1 of 2 steps: apply again converges it (the modules it uninstalled are kept in ${STASH_ROOT}/${RUN.runId})`,
    );
    expect(h.stash.size).toBe(1);
  });

  it('the lock ended during the rollback (kpfleet unlock): nothing more undone, and the message says how far it went', async () => {
    const { fleet, h, plan } = await planned(ONE);
    loadFails(h);
    // ended as the rollback's first step (the unload) runs: that step runs, the next does not
    h.faults.onStep = (s) => {
      if (s.rollback) h.endLock(false);
    };
    const r = await apply(fleet, plan);
    expect(h.log.filter((l) => l.startsWith('rollback '))).toEqual([
      'rollback unload livepatch_cve_2024_1086',
    ]);
    expect(r.results[0]?.outcome).toBe('failed');
    expect(r.results[0]?.message).toMatch(
      /; its lock on the host ended during the rollback \(kpfleet unlock, or the host ended it\), so the rollback stopped after 1 of 2 steps: apply again converges it$/,
    );
  });
});

describe('a step alone whose exec did not come back is stopped before its rollback', () => {
  /** The patch installed, not loaded: the plan is its load alone, in an exec of its own. */
  const installed = (m: ModelHost): void =>
    kpatchInstall(m, EL9, CVE.module.sha256, 'livepatch-cve-2024-1086.ko');
  /** The load ran on the host, and its exec got no answer in time (it may still be running). */
  const loadTimesOut = (h: MemoryHost): void => {
    h.faults.timeoutDuring = (s) => s.change.action === 'load' && !s.rollback;
  };
  const TIMED_OUT = `${LOAD}: load did not finish within 1 s`;

  it('a load past its timeout: stopped (its step waited for) before the rollback unloads it', async () => {
    const { fleet, h, plan, before } = await planned(ONE, installed);
    expect(plan.hosts[0]?.changes.map((c) => c.action)).toEqual(['load']);
    loadTimesOut(h);
    const r = await apply(fleet, plan);
    expect(r.results[0]).toMatchObject({ outcome: 'failed', message: `${TIMED_OUT}; rolled back` });
    const after = h.log.slice(h.log.indexOf('timeout (load)'));
    expect(after.slice(0, 2)).toEqual(['timeout (load)', 'stop steps']);
    expect(after.filter((l) => l === 'stop steps')).toHaveLength(1);
    expect(after).toContain(`rollback unload ${MOD}`);
    expect(h.connections).toBe(1);
    expectAsBefore(h, before);
  });

  it('its step still running after the wait: nothing is undone under it, rollback-failed', async () => {
    const { fleet, h, plan } = await planned(ONE, installed);
    loadTimesOut(h);
    h.faults.batchStillRunning = true;
    const r = await apply(fleet, plan);
    expect(r.results[0]).toMatchObject({
      outcome: 'rollback-failed',
      message: `${TIMED_OUT}; a step of that exec was still running on the host 1 s later, so the host was not rolled back: the host needs a look`,
    });
    expect(h.log).toContain('stop steps');
    expect(h.log.filter((l) => l.startsWith('rollback '))).toEqual([]);
    expect(h.model.sysfs.get(MOD)?.enabled).toBe(true);
    expect(h.lock).toBeUndefined();
  });

  it("the host's lock is another run's by the time of the stop: no stop written, nothing undone", async () => {
    const { fleet, h, plan } = await planned(ONE, installed);
    loadTimesOut(h);
    // between the load's timeout and the stop, the lock changed hands on the host
    h.faults.onStep = (s) => {
      if (s.change.action === 'load' && !s.rollback) h.lock = { runId: 'another-run' };
    };
    const r = await apply(fleet, plan);
    expect(r.results[0]?.outcome).toBe('failed');
    expect(r.results[0]?.message).toMatch(
      /; its lock on the host ended before the rollback .* so it was not rolled back: apply again converges it/,
    );
    expect(h.log).toContain('stop steps: not ours');
    expect(h.log).not.toContain('stop steps');
    expect(h.log.filter((l) => l.startsWith('rollback '))).toEqual([]);
  });

  it('the stop gets no answer in time: nothing is undone, rollback-failed', async () => {
    const { fleet, h, plan } = await planned(ONE, installed);
    loadTimesOut(h);
    h.faults.stopBatchTimesOut = true;
    const r = await apply(fleet, plan);
    expect(r.results[0]?.outcome).toBe('rollback-failed');
    expect(r.results[0]?.message).toBe(
      `${TIMED_OUT}; that exec could not be stopped on the host before the rollback (stop steps did not finish within 31 s), so the host was not rolled back: the host needs a look`,
    );
    expect(h.log.filter((l) => l.startsWith('rollback '))).toEqual([]);
  });

  it('sudo refuses the stop: nothing is undone, rollback-failed (not a lost connection)', async () => {
    const { fleet, h, plan } = await planned(ONE, installed);
    loadTimesOut(h);
    h.faults.stopSudoRefused = true;
    const r = await apply(fleet, plan);
    expect(r.results[0]?.outcome, r.results[0]?.message).toBe('rollback-failed');
    expect(r.results[0]?.message).toBe(
      `${TIMED_OUT}; that exec could not be stopped on the host before the rollback (sudo wants a password here, and kpfleet never types one), so the host was not rolled back: the host needs a look`,
    );
    expect(h.log.filter((l) => l.startsWith('rollback '))).toEqual([]);
    // the connection was not lost: no lock taken again over a new one
    expect(h.connections).toBe(1);
    expect(h.lock).toBeUndefined();
  });

  it('a load alone whose exec came back with no exit status (killed by a signal): stopped before the rollback unloads it', async () => {
    const { fleet, h, plan, before } = await planned(ONE, installed);
    h.faults.killedDuring = (s) => s.change.action === 'load' && !s.rollback;
    const r = await apply(fleet, plan);
    expect(r.results[0]?.outcome, r.results[0]?.message).toBe('failed');
    expect(r.results[0]?.message).toMatch(/^\+ load .*: the step ended early.*; rolled back$/);
    const after = h.log.slice(h.log.indexOf('killed (load)'));
    expect(after.slice(0, 2)).toEqual(['killed (load)', 'stop steps']);
    expect(after).toContain(`rollback unload ${MOD}`);
    expectAsBefore(h, before);
  });

  it('a connection lost during a load alone: locked again over a new one, stopped, then rolled back', async () => {
    const { fleet, h, plan, before } = await planned(ONE, installed);
    h.faults.dropDuring = (s) => s.change.action === 'load' && !s.rollback;
    const r = await apply(fleet, plan);
    expect(r.results[0]).toMatchObject({
      outcome: 'failed',
      message: `${LOAD}: the connection to h001 was lost during load; rolled back`,
    });
    const after = h.log.slice(h.log.indexOf('drop (load)'));
    expect(after.slice(0, 3)).toEqual(['drop (load)', 'hold', 'stop steps']);
    expect(after).toContain(`rollback unload ${MOD}`);
    expectAsBefore(h, before);
  });

  it('an uninstall alone past its timeout: counted as done, stopped, then installed again from this run’s copy', async () => {
    const VENDOR = filePatch('vendor-fix');
    const { fleet, h, plan, before } = await planned(
      { patches: [VENDOR], want: {}, unmanaged: 'remove' },
      (m) => {
        kpatchInstall(m, EL9, VENDOR.module.sha256, 'livepatch-vendor-fix.ko');
        kpatchLoad(m, { module: VENDOR.module.name });
      },
    );
    expect(plan.hosts[0]?.changes.map((c) => c.action)).toEqual(['unload', 'uninstall']);
    h.faults.timeoutDuring = (s) => s.change.action === 'uninstall' && !s.rollback;
    const r = await apply(fleet, plan);
    expect(r.results[0]?.outcome, r.results[0]?.message).toBe('failed');
    expect(r.results[0]?.message).toMatch(/did not finish within 1 s; rolled back$/);
    const after = h.log.slice(h.log.indexOf('timeout (uninstall)'));
    expect(after.slice(0, 2)).toEqual(['timeout (uninstall)', 'stop steps']);
    expect(stepsOf(r)?.filter((s) => s.startsWith('R '))).toEqual([
      expect.stringMatching(/^R \+ install livepatch_vendor_fix .* ok$/) as unknown,
      'R + load livepatch_vendor_fix ok',
    ]);
    expectAsBefore(h, before);
  });

  /** The vendor patch loaded, kpfleet to remove it (unload, uninstall). */
  const VENDOR = filePatch('vendor-fix');
  const vendorRemoval = async () => {
    const p = await planned({ patches: [VENDOR], want: {}, unmanaged: 'remove' }, (m) => {
      kpatchInstall(m, EL9, VENDOR.module.sha256, 'livepatch-vendor-fix.ko');
      kpatchLoad(m, { module: VENDOR.module.name });
    });
    // the uninstall gets no answer (it ran): the rollback installs and loads it again, and the
    // rollback's install gets no answer either
    p.h.faults.timeoutDuring = (s) =>
      s.change.action === 'uninstall' ? !s.rollback : s.change.action === 'install' && s.rollback;
    return p;
  };

  it('a rollback step past its timeout: the next one waits for it to end (stopped), and the host is rollback-failed', async () => {
    const { fleet, h, plan } = await vendorRemoval();
    const r = await apply(fleet, plan);
    expect(r.results[0]?.outcome, r.results[0]?.message).toBe('rollback-failed');
    const after = h.log.slice(h.log.indexOf('timeout (install)'));
    // stopped before the rollback's next step (its load) runs beside it
    expect(after.slice(0, 2)).toEqual(['timeout (install)', 'stop steps']);
    expect(after).toContain('rollback load livepatch_vendor_fix');
    expect(r.results[0]?.message).toMatch(/the rollback failed too: the host needs a look/);
  });

  it('a rollback step past its timeout still running after the wait: no further rollback step, rollback-failed', async () => {
    const { fleet, h, plan } = await vendorRemoval();
    // the uninstall is stopped; the rollback's install still runs when the wait ends
    h.faults.onStep = (s) => {
      if (s.rollback && s.change.action === 'install') h.faults.batchStillRunning = true;
    };
    const r = await apply(fleet, plan);
    expect(r.results[0]?.outcome).toBe('rollback-failed');
    expect(r.results[0]?.message).toMatch(
      /; the rollback's \+ install livepatch_vendor_fix .* did not come back and it was still running on the host 1 s later, so the rollback stopped there \(its step 1 of 2\): the host needs a look/,
    );
    expect(h.log.filter((l) => l.startsWith('rollback '))).toEqual([
      expect.stringMatching(/^rollback install /) as unknown,
    ]);
    expect(h.lock).toBeUndefined();
  });

  it("a rollback step past its timeout, the host's lock another run's by its stop: nothing written, no further rollback step", async () => {
    const { fleet, h, plan } = await vendorRemoval();
    h.faults.onStep = (s) => {
      if (s.rollback && s.change.action === 'install') h.lock = { runId: 'another-run' };
    };
    const r = await apply(fleet, plan);
    expect(r.results[0]?.outcome).toBe('rollback-failed');
    expect(r.results[0]?.message).toMatch(
      /; the rollback's \+ install livepatch_vendor_fix .* did not come back and the host's lock is no longer this run's \(kpfleet unlock, or the host ended it\), so the rollback stopped there \(its step 1 of 2\): the host needs a look \(the modules it uninstalled are kept in .*\)$/,
    );
    // the uninstall's stop was written; the second, under the other run's lock, was not
    expect(h.log.filter((l) => l.startsWith('stop steps'))).toEqual([
      'stop steps',
      'stop steps: not ours',
    ]);
    expect(h.log.filter((l) => l.startsWith('rollback '))).toEqual([
      expect.stringMatching(/^rollback install /) as unknown,
    ]);
  });

  it('a rollback step past its timeout whose wait gets no answer: no further rollback step, the message says so', async () => {
    const { fleet, h, plan } = await vendorRemoval();
    h.faults.onStep = (s) => {
      if (s.rollback && s.change.action === 'install') h.faults.stopBatchTimesOut = true;
    };
    const r = await apply(fleet, plan);
    expect(r.results[0]?.outcome).toBe('rollback-failed');
    expect(r.results[0]?.message).toMatch(
      /; the rollback's \+ install livepatch_vendor_fix .* did not come back and it could not be waited for on the host \(stop steps did not finish within 31 s\), so the rollback stopped there \(its step 1 of 2\): the host needs a look/,
    );
    expect(h.log.filter((l) => l.startsWith('rollback '))).toEqual([
      expect.stringMatching(/^rollback install /) as unknown,
    ]);
  });

  it('a rollback step past its timeout, then the connection lost during its stop: locked again, the step run again and verified, rolled back', async () => {
    const { fleet, h, plan, before } = await vendorRemoval();
    // the rollback's install gets no answer once (it ran); the stop that follows loses the
    // connection (the second stop: the first is the uninstall's)
    let installs = 0;
    h.faults.timeoutDuring = (s) =>
      s.change.action === 'uninstall'
        ? !s.rollback
        : s.change.action === 'install' && s.rollback && installs++ === 0;
    h.faults.dropStop = (n) => n === 2;
    const r = await apply(fleet, plan);
    // the install ran again over a new connection and passed its verification: the host is as
    // before the run, so it is rolled back, not "the rollback failed too"
    expect(r.results[0]?.outcome, r.results[0]?.message).toBe('failed');
    expect(r.results[0]?.message).toMatch(
      /did not finish within 1 s; rolled back \(over a new connection, with the lock taken again: the first was lost during the rollback\)$/,
    );
    expect(stepsOf(r)?.filter((s) => s.startsWith('R '))).toEqual([
      expect.stringMatching(/^R \+ install livepatch_vendor_fix .* FAILED$/) as unknown,
      expect.stringMatching(/^R \+ install livepatch_vendor_fix .* ok$/) as unknown,
      'R + load livepatch_vendor_fix ok',
    ]);
    const after = h.log.slice(h.log.indexOf('timeout (install)'));
    expect(after.slice(0, 4)).toEqual([
      'timeout (install)',
      'stop steps',
      'drop (stop steps)',
      'hold',
    ]);
    expect(h.connections).toBe(2);
    expectAsBefore(h, before);
  });

  it('a step alone that came back (it failed) is not stopped: nothing of it runs any more', async () => {
    const { fleet, h, plan, before } = await planned(ONE, installed);
    loadFails(h);
    const r = await apply(fleet, plan);
    expect(r.results[0]?.outcome).toBe('failed');
    expect(h.log).not.toContain('stop steps');
    expectAsBefore(h, before);
  });
});
