/** Scripted apply runs for the apply renderers, the report and the audit log tests. */
import type { ApplyEvent, HostResult, StepRecord } from '../../../src/apply/events.ts';
import type { Change, LoadChange, UnloadChange } from '../../../src/plan/model.ts';
import { describeChange } from '../../../src/report/plan.ts';
import type { ApplyReportInput } from '../../../src/report/apply-report.ts';

export const KERNEL = '5.14.0-362.8.1.el9_3.x86_64';
export const FP_BEFORE = `sha256:${'ab'.repeat(32)}`;
export const FP_AFTER = `sha256:${'cd'.repeat(32)}`;

export function load(module: string): LoadChange {
  return {
    action: 'load',
    reason: 'declared loaded by group web',
    patch: module.replace(/_/g, '-'),
    module,
    replacesModules: [],
    reenable: false,
    cves: ['CVE-2024-1086'],
  };
}

export function unload(module: string): UnloadChange {
  return {
    action: 'unload',
    reason: 'rollback: as before the run',
    module,
    leftover: false,
  };
}

const upload: Change = {
  action: 'upload',
  reason: 'declared loaded by group web',
  patch: 'livepatch-x',
  module: 'livepatch_x',
  source: 'patches/livepatch-x.ko',
  sha256: 'ef'.repeat(32),
  destination: '~/.kpfleet/stage/efefefefefefefef/livepatch-x.ko',
};

export function step(
  change: Change,
  ok: boolean,
  durationMs: number,
  extra: Partial<StepRecord> = {},
): StepRecord {
  return { change, label: describeChange(change).label, ok, durationMs, ...extra };
}

/**
 * Three waves (1, 2, 1 hosts) and a host with nothing to do:
 * - wave 1: web01 uploads and loads livepatch_x;
 * - wave 2: web02's load fails verification and is rolled back; web03 is locked by another run;
 *   the wave halts the rollout;
 * - wave 3 (web04) never starts; db01 had nothing to do.
 */
export function scriptedRun(): { events: ApplyEvent[]; results: HostResult[] } {
  const uploaded = step(upload, true, 800);
  const loaded = step(load('livepatch_x'), true, 1234);
  const web01Steps = [uploaded, loaded];
  const web01: HostResult = {
    host: 'web01',
    wave: 1,
    outcome: 'changed',
    message: '2 changes done and verified',
    before: FP_BEFORE,
    after: FP_AFTER,
    steps: web01Steps,
    durationMs: 3100,
  };
  const failedLoad = step(load('livepatch_x'), false, 400, {
    error: 'verification: /sys/kernel/livepatch/livepatch_x/enabled is 0',
    output:
      'loading patch module: /var/lib/kpatch/livepatch_x.ko\nwaiting (up to 15 seconds) for patch transition to complete...\ntransition failed',
  });
  const undo = step(unload('livepatch_x'), true, 300, { rollback: true });
  const web02: HostResult = {
    host: 'web02',
    wave: 2,
    outcome: 'failed',
    message:
      '+ load livepatch-x (livepatch_x): verification: /sys/kernel/livepatch/livepatch_x/enabled is 0; rolled back',
    before: FP_BEFORE,
    after: FP_BEFORE,
    steps: [failedLoad, undo],
    durationMs: 2500,
  };
  const web03: HostResult = {
    host: 'web03',
    wave: 2,
    outcome: 'locked',
    message: 'another run holds the lock (run 2024-05-01T11:59:00.000Z-1a2b3c4d by ops@bastion)',
    steps: [],
    durationMs: 200,
  };
  const web04: HostResult = {
    host: 'web04',
    wave: 3,
    outcome: 'skipped',
    message: 'halted: earlier waves failed more than max_failures allows',
    steps: [],
    durationMs: 0,
  };
  const db01: HostResult = {
    host: 'db01',
    wave: 0,
    outcome: 'unchanged',
    message: 'nothing to do: every declared patch is loaded',
    steps: [],
    durationMs: 0,
  };
  const results = [db01, web01, web02, web03, web04];
  const events: ApplyEvent[] = [
    { type: 'run-start', hosts: 5, waves: [1, 2, 1], check: false, forks: 10 },
    { type: 'wave-start', wave: 1, hosts: ['web01'] },
    { type: 'host-start', host: 'web01', wave: 1 },
    { type: 'host-phase', host: 'web01', phase: 'connect' },
    { type: 'host-phase', host: 'web01', phase: 'lock' },
    { type: 'host-phase', host: 'web01', phase: 'facts' },
    {
      type: 'step-start',
      host: 'web01',
      index: 0,
      total: 2,
      label: uploaded.label,
      rollback: false,
    },
    { type: 'step-end', host: 'web01', index: 0, step: uploaded },
    {
      type: 'step-start',
      host: 'web01',
      index: 1,
      total: 2,
      label: loaded.label,
      rollback: false,
    },
    { type: 'step-end', host: 'web01', index: 1, step: loaded },
    { type: 'host-phase', host: 'web01', phase: 'unlock' },
    { type: 'host-end', result: web01 },
    { type: 'wave-end', wave: 1, failed: 0, attempted: 1, halted: false },
    { type: 'wave-start', wave: 2, hosts: ['web02', 'web03'] },
    { type: 'host-start', host: 'web02', wave: 2 },
    { type: 'host-start', host: 'web03', wave: 2 },
    { type: 'host-phase', host: 'web02', phase: 'connect' },
    { type: 'host-phase', host: 'web03', phase: 'connect' },
    { type: 'host-phase', host: 'web02', phase: 'lock' },
    { type: 'host-phase', host: 'web03', phase: 'lock' },
    { type: 'host-end', result: web03 },
    { type: 'host-phase', host: 'web02', phase: 'facts' },
    {
      type: 'step-start',
      host: 'web02',
      index: 0,
      total: 1,
      label: failedLoad.label,
      rollback: false,
    },
    { type: 'step-end', host: 'web02', index: 0, step: failedLoad },
    { type: 'host-phase', host: 'web02', phase: 'rollback' },
    { type: 'step-start', host: 'web02', index: 0, total: 1, label: undo.label, rollback: true },
    { type: 'step-end', host: 'web02', index: 0, step: undo },
    { type: 'host-phase', host: 'web02', phase: 'unlock' },
    { type: 'host-end', result: web02 },
    { type: 'wave-end', wave: 2, failed: 2, attempted: 2, halted: true },
    { type: 'run-end', results, halted: true, interrupted: false, durationMs: 8200 },
  ];
  return { events, results };
}

/**
 * A fleet of `n` hosts in waves of `sizes`, `forks` at a time, every host loading one patch;
 * every 7th host fails (and is rolled back), every 13th is unreachable. Events interleave as
 * apply's workers would: a host starts when another ends.
 */
export function fleetRun(
  n: number,
  sizes: number[],
  forks: number,
): { events: ApplyEvent[]; results: HostResult[] } {
  const names = Array.from({ length: n }, (_, i) => `host${String(i + 1).padStart(4, '0')}`);
  const events: ApplyEvent[] = [{ type: 'run-start', hosts: n, waves: sizes, check: false, forks }];
  const results: HostResult[] = [];
  let offset = 0;
  for (const [w, size] of sizes.entries()) {
    const wave = w + 1;
    const hosts = names.slice(offset, offset + size);
    offset += size;
    events.push({ type: 'wave-start', wave, hosts });
    const active: string[] = [];
    let failed = 0;
    const finish = (host: string) => {
      const i = names.indexOf(host) + 1;
      const change = load('livepatch_x');
      let r: HostResult;
      if (i % 13 === 0) {
        r = {
          host,
          wave,
          outcome: 'unreachable',
          message: 'connection refused',
          steps: [],
          durationMs: 10,
          error: {
            code: 'E_UNREACHABLE',
            message: 'connection refused',
            step: 'connect',
            hint: 'is sshd running?',
          },
        };
        failed++;
      } else if (i % 7 === 0) {
        const bad = step(change, false, 500, { error: 'kpatch load failed (exit 1)' });
        const undo = step(unload('livepatch_x'), true, 100, { rollback: true });
        events.push(
          { type: 'step-start', host, index: 0, total: 1, label: bad.label, rollback: false },
          { type: 'step-end', host, index: 0, step: bad },
          { type: 'host-phase', host, phase: 'rollback' },
          { type: 'step-start', host, index: 0, total: 1, label: undo.label, rollback: true },
          { type: 'step-end', host, index: 0, step: undo },
        );
        r = {
          host,
          wave,
          outcome: 'failed',
          message: `${bad.label}: kpatch load failed (exit 1); rolled back`,
          before: FP_BEFORE,
          after: FP_BEFORE,
          steps: [bad, undo],
          durationMs: 700,
        };
        failed++;
      } else {
        const ok = step(change, true, 900);
        events.push(
          { type: 'step-start', host, index: 0, total: 1, label: ok.label, rollback: false },
          { type: 'step-end', host, index: 0, step: ok },
        );
        r = {
          host,
          wave,
          outcome: 'changed',
          message: '1 change done and verified',
          before: FP_BEFORE,
          after: FP_AFTER,
          steps: [ok],
          durationMs: 1000,
        };
      }
      events.push({ type: 'host-end', result: r });
      results.push(r);
    };
    for (const host of hosts) {
      const oldest = active.length >= forks ? active.shift() : undefined;
      if (oldest !== undefined) finish(oldest);
      events.push(
        { type: 'host-start', host, wave },
        { type: 'host-phase', host, phase: 'connect' },
        { type: 'host-phase', host, phase: 'lock' },
        { type: 'host-phase', host, phase: 'facts' },
      );
      active.push(host);
    }
    for (let h = active.shift(); h !== undefined; h = active.shift()) finish(h);
    events.push({ type: 'wave-end', wave, failed, attempted: hosts.length, halted: false });
  }
  events.push({ type: 'run-end', results, halted: false, interrupted: false, durationMs: 60_000 });
  return { events, results };
}

/** Events a renderer cannot place: an unknown host, a second run-start, a wave beyond the plan. */
export function strayRun(): ApplyEvent[] {
  return [
    { type: 'host-start', host: 'nobody', wave: 7 },
    { type: 'run-start', hosts: 1, waves: [1], check: false, forks: 1 },
    { type: 'run-start', hosts: 9, waves: [9], check: false, forks: 9 },
    { type: 'step-end', host: 'nobody', index: 3, step: step(load('x'), true, 1) },
    { type: 'wave-start', wave: 1, hosts: ['a'] },
    { type: 'wave-start', wave: 2, hosts: ['b'] },
    { type: 'host-phase', host: 'b', phase: 'lock' },
    { type: 'wave-end', wave: 5, failed: 0, attempted: 0, halted: false },
    { type: 'run-end', results: [], halted: false, interrupted: false, durationMs: 1 },
  ];
}

/** What an apply report is built from, around these results. */
export function reportInput(
  results: HostResult[],
  extra: Partial<ApplyReportInput> = {},
): ApplyReportInput {
  return {
    results,
    halted: false,
    interrupted: false,
    check: false,
    startedAt: '2024-05-01T12:00:00.000Z',
    durationMs: 8200,
    config: 'kpfleet.yml',
    configCommit: '0123456789abcdef0123456789abcdef01234567',
    operator: 'ops@bastion',
    kpfleetVersion: '0.1.0',
    planFile: 'plan.json',
    ...extra,
  };
}
