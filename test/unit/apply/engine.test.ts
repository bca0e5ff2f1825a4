/**
 * `applyPlan` (src/apply/execute.ts) in process, over the in-memory transport (memory/): the
 * rollout as a whole. A clean apply in waves, `--check`, a halt (max_failures), an interrupt in
 * the middle of a wave, a host locked by another run, a host whose facts changed since the plan.
 * The outcomes and messages are those the e2e tests on the real-SSH fleet assert
 * (test/e2e/fleet/cli-apply.test.ts); here each case runs in milliseconds.
 */
import { describe, expect, it } from 'vitest';
import type { ApplyEvent } from '../../../src/apply/events.ts';
import { kpatchInstall } from '../../../lab/model.ts';
import type { ModelHost } from '../../../lab/model.ts';
import { apply, count, EL9, filePatch, MemoryFleet, percent } from './memory/harness.ts';
import type { MemoryHost } from './memory/transport.ts';

const CVE = filePatch('cve-2024-1086');
const MOD = CVE.module.name;
/** The load's label: the patch as kpfleet.yml names it, then its module. */
const LOAD = `+ load ${CVE.patch.name} (${MOD})`;
const PROJECT = { patches: [CVE], want: { 'cve-2024-1086': 'loaded' as const } };

const loaded = (h: MemoryHost): boolean => h.model.sysfs.get(MOD)?.enabled === true;
const installed = (h: MemoryHost): boolean =>
  h.model.installed.some((i) => i.kernel === EL9 && i.file === 'livepatch-cve-2024-1086.ko');
const outcomes = (r: { results: { host: string; outcome: string }[] }) =>
  r.results.map((x) => [x.host, x.outcome]);
/** The events of one kind, without durations. */
const ofType = <T extends ApplyEvent['type']>(events: ApplyEvent[], type: T) =>
  events.filter((e): e is Extract<ApplyEvent, { type: T }> => e.type === type);

describe('a clean apply', () => {
  it('converges every host in waves, verified; the lock and staging are gone; again is a no-op', async () => {
    const fleet = new MemoryFleet(8, PROJECT);
    const r = await apply(fleet, await fleet.plan(), {
      waves: [count(1), percent(50), percent(100)],
    });
    expect(outcomes(r).map(([, o]) => o)).toEqual(Array(8).fill('changed'));
    expect(r.results.map((x) => x.wave)).toEqual([1, 2, 2, 2, 3, 3, 3, 3]);
    expect(r.results[0]?.message).toBe('3 changes done and verified');
    expect(r).toMatchObject({ halted: false, interrupted: false });
    for (const h of fleet.hosts) {
      expect(loaded(h) && installed(h), h.name).toBe(true);
      expect(h.lock, h.name).toBeUndefined();
      expect(h.staging, h.name).toBe(false);
      expect(h.model.staged.size, h.name).toBe(0);
      expect(h.log, h.name).toEqual([
        'hold',
        'probe',
        'staging',
        'upload livepatch-cve-2024-1086.ko',
        `install ${MOD}`,
        `load ${MOD}`,
        'staging cleanup',
        'probe',
        'release',
      ]);
    }
    // the events: run, waves, and per host its phases and steps, in order
    expect(r.events[0]).toEqual({
      type: 'run-start',
      hosts: 8,
      waves: [1, 3, 4],
      check: false,
      forks: 1,
    });
    expect(ofType(r.events, 'wave-start').map((e) => e.hosts)).toEqual([
      ['h001'],
      ['h002', 'h003', 'h004'],
      ['h005', 'h006', 'h007', 'h008'],
    ]);
    expect(ofType(r.events, 'wave-end')).toEqual([
      { type: 'wave-end', wave: 1, failed: 0, attempted: 1, halted: false },
      { type: 'wave-end', wave: 2, failed: 0, attempted: 3, halted: false },
      { type: 'wave-end', wave: 3, failed: 0, attempted: 4, halted: false },
    ]);
    const h1 = r.events.filter((e) => 'host' in e && e.host === 'h001');
    expect(h1.map((e) => (e.type === 'host-phase' ? e.phase : e.type))).toEqual([
      'host-start',
      'connect',
      'lock',
      'step-start',
      'step-end',
      'step-start',
      'step-end',
      'step-start',
      'step-end',
      'unlock',
    ]);
    expect(ofType(r.events, 'step-start').filter((e) => e.host === 'h001')).toEqual([
      expect.objectContaining({
        index: 0,
        total: 3,
        label: expect.stringMatching(/^\+ upload /) as unknown,
        rollback: false,
      }),
      expect.objectContaining({ index: 1, label: `+ install ${MOD} (${EL9})` }),
      expect.objectContaining({ index: 2, label: LOAD }),
    ]);
    const end = r.events.at(-1);
    expect(end).toMatchObject({ type: 'run-end', halted: false, interrupted: false });
    expect(end?.type === 'run-end' && end.results).toEqual(r.results);

    const again = await apply(fleet, await fleet.plan());
    expect(outcomes(again).map(([, o]) => o)).toEqual(Array(8).fill('unchanged'));
    expect(again.results[0]?.message).toMatch(/^nothing to do: /);
    for (const h of fleet.hosts) expect(h.log, h.name).toEqual([]);
  });

  it("each host's result carries its manager and why, as its plan says", async () => {
    const fleet = new MemoryFleet(2, PROJECT);
    const plan = await fleet.plan();
    expect(plan.hosts.map((h) => h.manager)).toEqual(['kpatch', 'kpatch']);
    const r = await apply(fleet, plan);
    for (const [i, x] of r.results.entries()) {
      expect(x).toMatchObject({
        outcome: 'changed',
        manager: 'kpatch',
        managerReason: plan.hosts[i]?.managerReason,
      });
    }
    expect(r.results[0]?.managerReason).toMatch(/^auto: kpatch \S+ is installed$/);
    // and a host with nothing to do
    const again = await apply(fleet, await fleet.plan());
    expect(again.results[0]).toMatchObject({ outcome: 'unchanged', manager: 'kpatch' });
  });

  it('a host whose manager is not the one planned again under its lock: stale, nothing sent', async () => {
    const fleet = new MemoryFleet(2, PROJECT);
    const plan = await fleet.plan();
    const [first, ...rest] = plan.hosts;
    if (first === undefined) throw new Error('no host');
    const flipped = { ...first, manager: 'klp' as const, managerReason: 'group web' };
    const r = await apply(fleet, { ...plan, hosts: [flipped, ...rest] });
    expect(outcomes(r)).toEqual([
      [first.host, 'stale'],
      [rest[0]?.host, 'changed'],
    ]);
    expect(r.results[0]?.message).toBe(
      `the plan is not what kpfleet.yml asks for on this host now (the plan manages it with "klp" (group web), kpfleet now chooses "kpatch" (${String(first.managerReason)})): nothing was done; plan again`,
    );
    const host = fleet.hosts[0];
    expect(host && loaded(host)).toBe(false);
  });

  it('run-end names the hosts of the plan no declared patch covers, as the plan does', async () => {
    const fleet = new MemoryFleet(2, PROJECT);
    const plan = await fleet.plan();
    const [first, ...rest] = plan.hosts;
    if (first === undefined) throw new Error('no host');
    const exposed = {
      ...first,
      findings: [
        ...first.findings,
        { kind: 'uncovered' as const, severity: 'warning' as const, message: 'no patch fits' },
      ],
    };
    const r = await apply(fleet, { ...plan, hosts: [exposed, ...rest] });
    expect(ofType(r.events, 'run-end')[0]?.uncovered).toEqual([{ host: first.host, kernel: EL9 }]);
    const clean = await apply(fleet, await fleet.plan());
    expect(ofType(clean.events, 'run-end')[0]?.uncovered).toEqual([]);
  });

  it('--check reads the facts under no lock, changes nothing and says what would change', async () => {
    const fleet = new MemoryFleet(2, PROJECT);
    const r = await apply(fleet, await fleet.plan(), { check: true });
    expect(outcomes(r)).toEqual([
      ['h001', 'would-change'],
      ['h002', 'would-change'],
    ]);
    expect(r.results[0]?.message).toBe('3 changes would be made');
    for (const h of fleet.hosts) {
      expect(h.log).toEqual(['probe']);
      expect(loaded(h) || installed(h)).toBe(false);
    }
  });
});

describe('the facts after the changes', () => {
  it('not read (no answer in time): failed, saying every change was done and verified and the state after is not known', async () => {
    const fleet = new MemoryFleet(1, PROJECT);
    const plan = await fleet.plan();
    const h = fleet.hosts[0] as MemoryHost;
    // the first probe run as its own exec: the one after the changes
    h.faults.timeoutProbe = (n) => n === 1;
    const r = await apply(fleet, plan);
    expect(r.results[0]).toMatchObject({
      outcome: 'failed',
      message:
        '3 changes done and verified, but the host could not be read after them (facts did not finish within 60 s): whether a later load retired an earlier one is not known; kpfleet plan shows its state',
    });
    // nothing rolled back: each change was verified
    expect(loaded(h) && installed(h)).toBe(true);
    expect(h.lock).toBeUndefined();
  });

  it("not read (output without the probe's shape): failed, and no hint saying nothing was planned", async () => {
    const fleet = new MemoryFleet(1, PROJECT);
    const plan = await fleet.plan();
    const h = fleet.hosts[0] as MemoryHost;
    h.faults.garbleProbe = (n) => n === 1;
    const r = await apply(fleet, plan);
    expect(r.results[0]).toMatchObject({
      outcome: 'failed',
      message: expect.stringMatching(
        /^3 changes done and verified, but the host could not be read after them \(/,
      ) as unknown,
      error: { code: 'E_FACTS' },
    });
    // the facts error's own hint says nothing was planned: not so here
    expect(r.results[0]?.error?.hint).toBeUndefined();
    expect(loaded(h) && installed(h)).toBe(true);
  });
});

describe('records on disk first', () => {
  it('every step sends nothing until `recorded` resolves (the audit log fsynced)', async () => {
    const fleet = new MemoryFleet(2, PROJECT);
    const plan = await fleet.plan();
    /** Per wait: the host commands run while it was pending (none), and the steps started. */
    const during: string[] = [];
    const waits: Promise<void>[] = [];
    // one host at a time: while a wait is pending nothing else may run on any host
    const r = await apply(fleet, plan, {
      recorded: () => {
        const before = fleet.hosts.map((h) => h.log.length);
        const wait = new Promise<void>((res) => setTimeout(res, 5)).then(() => {
          fleet.hosts.forEach((h, i) => during.push(...h.log.slice(before[i])));
        });
        waits.push(wait);
        return wait;
      },
    });
    await Promise.all(waits);
    expect(outcomes(r).map(([, o]) => o)).toEqual(['changed', 'changed']);
    // each host: the upload, then install and load in one exec: two waits each
    expect(waits).toHaveLength(4);
    expect(during).toEqual([]);
  });
});

describe('records on disk first: a wait that fails', () => {
  it('a `recorded` that rejects fails the step it held, before anything is sent, and the host is rolled back', async () => {
    const fleet = new MemoryFleet(1, PROJECT);
    const plan = await fleet.plan();
    let waits = 0;
    const r = await apply(fleet, plan, {
      // the upload's wait passes, the wait of the exec of install and load fails
      recorded: () =>
        ++waits === 2 ? Promise.reject(new Error('the audit log is gone')) : Promise.resolve(),
    });
    const h = fleet.hosts[0] as MemoryHost;
    expect(installed(h)).toBe(false);
    expect(loaded(h)).toBe(false);
    expect(r.results[0]).toMatchObject({ outcome: 'failed' });
    expect(r.results[0]?.message).toMatch(/: the audit log is gone; rolled back$/);
    // the step it held ends as a step: a failed install, every step started has its end
    const ends = ofType(r.events, 'step-end').map((e) => [e.step.label, e.step.ok, e.step.error]);
    expect(ends[1]).toEqual([
      expect.stringContaining('install') as unknown,
      false,
      'the audit log is gone',
    ]);
    expect(ofType(r.events, 'step-start')).toHaveLength(ends.length);
  });
});

describe('records on disk first: an interrupt while a step waits', () => {
  it('Ctrl-C while a step waits for its record (a slow fsync): that step is never sent, the host ends interrupted', async () => {
    const fleet = new MemoryFleet(1, PROJECT);
    const plan = await fleet.plan();
    const abort = new AbortController();
    let waits = 0;
    const r = await apply(fleet, plan, {
      signal: abort.signal,
      // the upload's wait passes; during the wait of the exec of install and load, Ctrl-C, and
      // the fsync returns after it
      recorded: () => {
        if (++waits === 1) return Promise.resolve();
        abort.abort();
        return new Promise<void>((res) => setTimeout(res, 5));
      },
    });
    const h = fleet.host('h001');
    expect(h.log).not.toContain(`install ${MOD}`);
    expect(h.log).not.toContain(`load ${MOD}`);
    expect([installed(h), loaded(h), h.lock]).toEqual([false, false, undefined]);
    expect(r.by.get('h001')).toMatchObject({
      outcome: 'interrupted',
      message:
        'interrupted after 1 of 3 changes; each one done was verified, so the host is in a known state; apply again converges it',
    });
    expect(r.by.get('h001')?.steps.map((s) => s.change.action)).toEqual(['upload']);
    // the step that waited never ran: no end of it
    expect(ofType(r.events, 'step-end').map((e) => e.index)).toEqual([0]);
    expect(r.interrupted).toBe(true);
  });

  it('a record whose fsync never returns: Ctrl-C still ends the run, nothing sent, the host interrupted', async () => {
    const fleet = new MemoryFleet(1, PROJECT);
    const plan = await fleet.plan();
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 5);
    const r = await apply(fleet, plan, {
      signal: abort.signal,
      recorded: () => new Promise<void>(() => undefined),
    });
    const h = fleet.host('h001');
    expect(h.log).toEqual(['hold', 'probe', 'staging cleanup', 'release']);
    expect(r.by.get('h001')).toMatchObject({
      outcome: 'interrupted',
      message:
        'interrupted after 0 of 3 changes; each one done was verified, so the host is in a known state; apply again converges it',
    });
    expect(h.lock).toBeUndefined();
  });

  it('a rollback step is not stopped by an interrupt: it waits for its record and runs', async () => {
    const fleet = new MemoryFleet(1, PROJECT);
    const plan = await fleet.plan();
    const abort = new AbortController();
    const h = fleet.host('h001');
    h.faults.failStep = (s) =>
      s.change.action === 'load' && !s.rollback ? 'kpatch: failed to load module' : undefined;
    let waits = 0;
    const r = await apply(fleet, plan, {
      signal: abort.signal,
      // the exec of install and load has been sent: Ctrl-C during the rollback's waits
      recorded: () => {
        if (++waits >= 3) abort.abort();
        return new Promise<void>((res) => setTimeout(res, 1));
      },
    });
    expect(r.by.get('h001')?.outcome).toBe('failed');
    expect(r.by.get('h001')?.message).toMatch(/; rolled back$/);
    expect(installed(h)).toBe(false);
  });
});

describe('halt: the failure budget', () => {
  it('a stalled load on a host of wave 2 fails it (rolled back) and halts wave 3 (max_failures 0)', async () => {
    const fleet = new MemoryFleet(8, PROJECT);
    const plan = await fleet.plan();
    const stuck = fleet.host('h003');
    stuck.faults.stallLoad = [MOD];
    const before = fleet.snapshot();
    const r = await apply(fleet, plan, {
      waves: [count(1), percent(50), percent(100)],
      maxFailures: count(0),
    });
    expect(outcomes(r)).toEqual([
      ['h001', 'changed'],
      ['h002', 'changed'],
      ['h003', 'failed'],
      ['h004', 'changed'],
      ['h005', 'skipped'],
      ['h006', 'skipped'],
      ['h007', 'skipped'],
      ['h008', 'skipped'],
    ]);
    expect(r.halted).toBe(true);
    expect(r.by.get('h003')?.message).toBe(`${LOAD}: ${MOD} is still in transition; rolled back`);
    // rolled back: as before the run
    expect(loaded(stuck) || installed(stuck)).toBe(false);
    expect(stuck.model.sysfs).toEqual(before.get('h003')?.sysfs);
    for (const name of ['h005', 'h006', 'h007', 'h008']) {
      const h = fleet.host(name);
      expect(r.by.get(name)).toMatchObject({
        wave: 3,
        message: 'halted: earlier waves failed more than max_failures allows',
        steps: [],
      });
      expect(h.connections, name).toBe(0);
      expect(h.model).toEqual(before.get(name));
    }
    expect(ofType(r.events, 'wave-end').map((e) => [e.wave, e.failed, e.halted])).toEqual([
      [1, 0, false],
      [2, 1, true],
    ]);
    expect(ofType(r.events, 'wave-start').map((e) => e.wave)).toEqual([1, 2]);
  });

  it('max_failures 1 tolerates one failed host and goes on', async () => {
    const fleet = new MemoryFleet(4, PROJECT);
    const plan = await fleet.plan();
    fleet.host('h002').faults.stallLoad = [MOD];
    const r = await apply(fleet, plan, {
      waves: [count(1), count(2), percent(100)],
      maxFailures: count(1),
    });
    expect(outcomes(r)).toEqual([
      ['h001', 'changed'],
      ['h002', 'failed'],
      ['h003', 'changed'],
      ['h004', 'changed'],
    ]);
    expect(r.halted).toBe(false);
  });
});

describe('interrupt', () => {
  it('an abort while steps sent in one exec run: they all finish and are verified', async () => {
    const fleet = new MemoryFleet(1, PROJECT);
    const plan = await fleet.plan();
    const abort = new AbortController();
    // Ctrl-C while the install runs: the load was sent with it (batch.ts), so it runs too
    fleet.host('h001').faults.onStep = (s) => {
      if (s.change.action === 'install') abort.abort();
    };
    const r = await apply(fleet, plan, { signal: abort.signal });
    expect(r.by.get('h001')).toMatchObject({ outcome: 'changed' });
    expect(r.by.get('h001')?.steps.map((s) => [s.change.action, s.ok])).toEqual([
      ['upload', true],
      ['install', true],
      ['load', true],
    ]);
    const h = fleet.host('h001');
    expect([installed(h), loaded(h), h.lock]).toEqual([true, true, undefined]);
  });

  it('an abort mid-wave: the step in flight finishes, nothing new starts, every host reported', async () => {
    const fleet = new MemoryFleet(8, PROJECT);
    const plan = await fleet.plan();
    const abort = new AbortController();
    // Ctrl-C while h003 (wave 2) uploads: its upload finishes, its install and load never start
    fleet.host('h003').faults.onStep = (s) => {
      if (s.change.action === 'upload') abort.abort();
    };
    const before = fleet.snapshot();
    const r = await apply(fleet, plan, {
      waves: [count(1), percent(100)],
      forks: 2,
      signal: abort.signal,
    });
    expect(r.interrupted).toBe(true);
    expect(r.results).toHaveLength(8);
    const h3 = r.by.get('h003');
    expect(h3).toMatchObject({
      outcome: 'interrupted',
      message:
        'interrupted after 1 of 3 changes; each one done was verified, so the host is in a known state; apply again converges it',
    });
    // h003 is in a known state: not installed, not loaded, not rolled back, its lock released
    const h = fleet.host('h003');
    expect([installed(h), loaded(h), h.lock]).toEqual([false, false, undefined]);
    expect(r.by.get('h001')?.outcome).toBe('changed');
    // h002 ran beside h003: it stopped between steps too, or had finished
    expect(['changed', 'interrupted']).toContain(r.by.get('h002')?.outcome);
    for (const name of ['h004', 'h005', 'h006', 'h007', 'h008']) {
      expect(r.by.get(name), name).toMatchObject({
        outcome: 'skipped',
        wave: 2,
        message: 'interrupted before it started',
      });
      expect(fleet.host(name).connections, name).toBe(0);
      expect(fleet.host(name).model, name).toEqual(before.get(name));
    }
    expect(r.events.at(-1)).toMatchObject({ type: 'run-end', interrupted: true });

    // and running again converges
    fleet.host('h003').faults = {};
    const again = await apply(fleet, await fleet.plan(), { forks: 2 });
    expect(new Set(again.results.map((x) => x.outcome))).toEqual(new Set(['changed', 'unchanged']));
    for (const x of fleet.hosts) expect(loaded(x) && installed(x), x.name).toBe(true);
  });

  it('an abort in the last step of wave 1: that host ends changed, wave 2 never starts', async () => {
    const fleet = new MemoryFleet(3, PROJECT);
    const plan = await fleet.plan();
    const abort = new AbortController();
    fleet.host('h001').faults.onStep = (s) => {
      if (s.change.action === 'load') abort.abort();
    };
    const r = await apply(fleet, plan, { waves: [count(1), percent(100)], signal: abort.signal });
    expect(outcomes(r)).toEqual([
      ['h001', 'changed'],
      ['h002', 'skipped'],
      ['h003', 'skipped'],
    ]);
    expect(r.by.get('h002')?.message).toBe('interrupted before it started');
    expect(ofType(r.events, 'wave-start').map((e) => e.wave)).toEqual([1]);
    expect(r.interrupted).toBe(true);
  });
});

describe('lock refused', () => {
  it('a host locked by an older kpfleet is refused, naming who and since; the others converge', async () => {
    const fleet = new MemoryFleet(2, PROJECT);
    const plan = await fleet.plan();
    const h1 = fleet.host('h001');
    h1.faults.lockedBy = {
      kind: 'legacy',
      owner: 'alice@ci-7',
      since: '2026-11-25T10:00:00.000Z',
      run: 'other',
    };
    const r = await apply(fleet, plan, { maxFailures: count(1) });
    expect(outcomes(r)).toEqual([
      ['h001', 'locked'],
      ['h002', 'changed'],
    ]);
    expect(r.by.get('h001')?.message).toBe(
      'locked by alice@ci-7 since 2026-11-25T10:00:00.000Z (run other) with the lock folder /var/lib/kpfleet/lock of an older kpfleet; nothing was done. If that run is over, `kpfleet unlock --limit h001` removes it',
    );
    expect(h1.log).toEqual(['hold']);
    expect(loaded(h1) || installed(h1)).toBe(false);
  });

  it('a host another run holds is refused, saying which run; nothing was done', async () => {
    const fleet = new MemoryFleet(1, PROJECT);
    const plan = await fleet.plan();
    const h = fleet.host('h001');
    h.faults.lockedBy = {
      kind: 'busy',
      owner: 'bob@ci',
      since: '2026-12-04T09:59:00Z',
      run: 'r-9',
    };
    const r = await apply(fleet, plan);
    expect(r.by.get('h001')).toMatchObject({
      outcome: 'locked',
      message:
        'locked by bob@ci since 2026-12-04T09:59:00Z (run r-9); nothing was done. Another kpfleet run is working on this host; if it is not, `kpfleet unlock --limit h001` shows and ends it',
      steps: [],
    });
    expect(h.log).toEqual(['hold']);
  });
});

describe('stale facts', () => {
  it('a host whose facts changed since the plan is refused (stale) and not changed', async () => {
    const fleet = new MemoryFleet(2, PROJECT);
    const plan = await fleet.plan();
    // h002 changes behind the plan's back: someone installs another live patch
    const h2 = fleet.host('h002');
    const vendor = {
      name: 'livepatch_vendor',
      kernel: EL9,
      replace: false,
      sha256: 'e'.repeat(64),
    };
    h2.model.files.set(vendor.sha256, vendor);
    kpatchInstall(h2.model, EL9, vendor.sha256, 'livepatch-vendor.ko');
    const before: ModelHost | undefined = fleet.snapshot().get('h002');
    const r = await apply(fleet, plan, { maxFailures: count(1) });
    expect(outcomes(r)).toEqual([
      ['h001', 'changed'],
      ['h002', 'stale'],
    ]);
    expect(r.by.get('h002')?.message).toBe(
      'its facts changed since the plan was made (fingerprint differs): nothing was done; plan again',
    );
    expect(r.by.get('h002')?.before).toMatch(/^sha256:/);
    expect(r.by.get('h002')?.before).not.toBe(plan.hosts[1]?.factsFingerprint);
    expect(h2.model).toEqual(before);
    expect(h2.log).toEqual(['hold', 'probe', 'release']);
    expect(h2.lock).toBeUndefined();
  });

  it('a plan that is not what the project asks for now is refused too (the replan differs)', async () => {
    const fleet = new MemoryFleet(1, { ...PROJECT, want: { ...PROJECT.want } });
    const plan = await fleet.plan();
    // the same facts, another wish: the saved plan no longer matches kpfleet.yml
    fleet.project.want['cve-2024-1086'] = 'absent';
    const r = await apply(fleet, plan);
    expect(r.by.get('h001')?.outcome).toBe('stale');
    expect(r.by.get('h001')?.message).toMatch(
      /^the plan is not what kpfleet\.yml asks for on this host now \(.*\): nothing was done; plan again$/,
    );
    expect(installed(fleet.host('h001'))).toBe(false);
  });
});
