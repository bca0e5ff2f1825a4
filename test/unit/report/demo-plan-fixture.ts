/**
 * Plans shaped like the demo's (`npm start`, scripts/demo-fleet.ts): web01–web05 with two patches
 * to load, db01–db03 and batch01–batch03 with one, db02 with an unmanaged hotfix, batch04 on a
 * kernel no declared patch fits; and the same fleet once converged. Built with the planner's own
 * summary, so that the counts are the planner's.
 */
import type { Change, Finding, HostPlan, Plan } from '../../../src/plan/model.ts';
import { buildPlan } from '../../../src/plan/plan.ts';

export const EL9 = '5.14.0-362.8.1.el9_3.x86_64';
export const EL8 = '4.18.0-477.10.1.el8_8.x86_64';
export const EL9_NEWER = '5.14.0-570.12.1.el9_6.x86_64';

const fp = (n: number) => `sha256:${n.toString(16).padEnd(64, '0')}`;

/** upload, install, load of one patch, as the planner words them. */
export function loadChanges(name: string, module: string, kernel: string, group: string): Change[] {
  const file = `${name}.ko`;
  const dest = `~/.kpfleet/stage/0123456789abcdef/${file}`;
  const reason = `declared loaded by group ${group}`;
  return [
    {
      action: 'upload',
      reason: `patches/${file} is not on the host yet`,
      patch: name,
      module,
      source: `patches/${file}`,
      sha256: 'ab'.repeat(32),
      destination: dest,
    },
    { action: 'install', reason, patch: name, module, kernel, file: dest, sha256: 'ab'.repeat(32) },
    {
      action: 'load',
      reason,
      patch: name,
      module,
      replacesModules: [],
      reenable: false,
      cves: ['CVE-2024-1086'],
    },
  ];
}

export function hostPlan(
  host: string,
  group: string,
  kernel: string,
  changes: Change[],
  findings: Finding[] = [],
  fingerprint = fp(kernel.length),
): HostPlan {
  const n = changes.length;
  return {
    host,
    groups: [group],
    status: n > 0 ? 'changes' : 'converged',
    kernel,
    manager: 'kpatch',
    managerReason: 'auto: kpatch 0.9.9 is installed',
    factsFingerprint: fingerprint,
    reason:
      n > 0
        ? `${String(n)} changes to reach the declared state`
        : 'as declared: 1 patch loaded and installed',
    changes,
    findings,
    cves: n > 0 ? ['CVE-2024-1086'] : [],
  };
}

const HOTFIX: Finding = {
  kind: 'unmanaged',
  severity: 'warning',
  module: 'vendor_hotfix',
  message: 'vendor_hotfix (not in the catalogue) is loaded; kept (unmanaged: keep)',
};

function uncoveredBatch04(): HostPlan {
  return {
    ...hostPlan('batch04', 'batch', EL9_NEWER, []),
    reason: `nothing declared fits kernel ${EL9_NEWER}`,
    findings: [
      {
        kind: 'uncovered',
        severity: 'warning',
        message: `no declared patch fits kernel ${EL9_NEWER}: el9-cve-2024-1086 (${EL9})`,
      },
    ],
  };
}

/** A plan of these hosts, with the planner's summary. */
export function planOf(hosts: HostPlan[]): Plan {
  return buildPlan(hosts, {
    createdAt: '2026-12-04T12:00:00Z',
    kpfleetVersion: '0.1.0',
    config: 'kpfleet.yml',
    configFingerprint: { sha256: `sha256:${'ab'.repeat(32)}`, parts: {} },
  });
}

/** The demo's first plan: 11 hosts to change, batch04 uncovered. */
export function demoPlan(): Plan {
  const web = () => [
    ...loadChanges('el9-cve-2024-1086', 'kpatch_cve_2024_1086', EL9, 'web'),
    ...loadChanges('el9-nf-tables-fix', 'kpatch_nf_tables_fix', EL9, 'web'),
  ];
  const el8 = () => loadChanges('el8-cve-2024-1086', 'kpatch_cve_2024_1086', EL8, 'db');
  const batch = () => loadChanges('el9-cve-2024-1086', 'kpatch_cve_2024_1086', EL9, 'batch');
  return planOf([
    ...['web01', 'web02', 'web03', 'web04', 'web05'].map((h) => hostPlan(h, 'web', EL9, web())),
    hostPlan('db01', 'db', EL8, el8()),
    hostPlan('db02', 'db', EL8, el8(), [HOTFIX], fp(2)),
    hostPlan('db03', 'db', EL8, el8()),
    ...['batch01', 'batch02', 'batch03'].map((h) => hostPlan(h, 'batch', EL9, batch())),
    uncoveredBatch04(),
  ]);
}

/** The demo's last plan: nothing to do; db02 keeps its hotfix, batch04 is still uncovered. */
export function demoConvergedPlan(): Plan {
  return planOf(
    demoPlan().hosts.map((h) =>
      h.host === 'batch04'
        ? h
        : { ...hostPlan(h.host, h.groups[0] ?? '', h.kernel ?? '', []), findings: h.findings },
    ),
  );
}
