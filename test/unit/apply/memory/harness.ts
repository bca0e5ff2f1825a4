/**
 * The in-process apply harness: a catalogue of file patches (their content, and the module each
 * is on the host model), a fleet of memory hosts (transport.ts), a plan made by the real planner
 * from facts read through the transport, and `applyPlan` run over it with every event kept.
 * A command the transport refused fails the run here, even where apply caught it.
 */
import { createHash } from 'node:crypto';
import { applyPlan } from '../../../../src/apply/execute.ts';
import type { ApplyResult } from '../../../../src/apply/execute.ts';
import type { ApplyEvent } from '../../../../src/apply/events.ts';
import type { Amount, Patch, PatchState } from '../../../../src/config-model.ts';
import type { HostDesired } from '../../../../src/desired/resolve.ts';
import { factsFingerprint } from '../../../../src/facts/fingerprint.ts';
import { gatherFacts } from '../../../../src/facts/gather.ts';
import type { HostFacts } from '../../../../src/facts/model.ts';
import type { HostPlan, Plan } from '../../../../src/plan/model.ts';
import { buildPlan, planHost } from '../../../../src/plan/plan.ts';
import { describeChange } from '../../../../src/report/plan.ts';
import type { Transport } from '../../../../src/transport/transport.ts';
import type { KeepConnection } from '../../../../src/workflow/plan.ts';
import type { ModelHost, ModelModule } from '../../../../lab/model.ts';
import { cloneHost, newHost } from '../../../../lab/model.ts';
import type { RunIdentity } from './transport.ts';
import { MemoryHost } from './transport.ts';

export const EL9 = '5.14.0-362.8.1.el9_3.x86_64';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A catalogue entry delivered as a file, its content, and the module that file is. */
export interface FilePatch {
  patch: Patch;
  content: Buffer;
  module: ModelModule;
}

/** `patches/livepatch-<name>.ko`, module `livepatch_<name>` (docs/kpatch-behaviour.md §1.3). */
export function filePatch(name: string, o: { replace?: boolean; replaces?: string[] } = {}) {
  const file = `livepatch-${name}.ko`;
  const module = `livepatch_${name.replaceAll('-', '_')}`;
  const content = Buffer.from(`a live patch: ${name}\n`);
  const sha = sha256(content);
  return {
    patch: {
      name,
      module,
      kernels: [EL9],
      source: {
        kind: 'file',
        path: `/project/patches/${file}`,
        written: `patches/${file}`,
        sha256: sha,
      },
      replaces: o.replaces ?? [],
      cves: [],
    },
    content,
    module: { name: module, kernel: EL9, replace: o.replace ?? false, sha256: sha },
  } satisfies FilePatch;
}

/** A RHEL 9 host with kpatch 0.9.7 and kpatch.service enabled; nothing patched. */
export function bareHost(modules: readonly ModelModule[]): ModelHost {
  return newHost({ kernel: EL9, files: new Map(modules.map((m) => [m.sha256, m])) });
}

/** What the project asks of every host: each patch's state, and the unmanaged policy. */
export interface Project {
  patches: readonly FilePatch[];
  want: Record<string, PatchState>;
  unmanaged?: HostDesired['unmanaged'];
}

export const RUN: RunIdentity = {
  operator: 'alice@laptop',
  runId: '2026-12-04T10:00:00.000Z-c0ffee01',
  since: '2026-12-04T10:00:00.000Z',
};

export class MemoryFleet {
  readonly hosts: MemoryHost[];
  readonly project: Project;

  /** `count` bare hosts h001, h002, … */
  constructor(count: number, project: Project) {
    this.project = project;
    const modules = project.patches.map((p) => p.module);
    this.hosts = Array.from(
      { length: count },
      (_, i) => new MemoryHost(`h${String(i + 1).padStart(3, '0')}`, bareHost(modules), i + 1),
    );
  }

  host(name: string): MemoryHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host ${name}`);
    return h;
  }

  /** Each host's model now (copies), by name. */
  snapshot(): Map<string, ModelHost> {
    return new Map(this.hosts.map((h) => [h.name, cloneHost(h.model)]));
  }

  private desired(host: string): HostDesired {
    return {
      host,
      groups: ['all', 'rhel9'],
      patches: Object.entries(this.project.want).map(([patch, state]) => ({
        patch,
        state,
        groups: ['rhel9'],
      })),
      unmanaged: this.project.unmanaged ?? 'keep',
      uncoveredKernel: 'warn',
      manager: { choice: 'auto', source: 'default' },
    };
  }

  /** The planner's view of one host from these facts (what `replan` gives apply). */
  planOne = (host: string, facts: HostFacts, fingerprint: string): HostPlan =>
    planHost({
      desired: this.desired(host),
      facts,
      fingerprint,
      patches: new Map(this.project.patches.map((p) => [p.patch.name, p.patch])),
      rollout: {},
      now: Date.parse(RUN.since),
    });

  /**
   * Reads every host's facts through its transport and plans it, as `kpfleet plan` does; a
   * connection `keepConnection` keeps is left open (apply without a saved plan, cli/connections.ts).
   */
  async plan(keepConnection?: KeepConnection, o: { reverse?: boolean } = {}): Promise<Plan> {
    const hosts: HostPlan[] = [];
    // the facts of the last host first (`reverse`), as forks may bring them; the plan in order
    const order = [...this.hosts.keys()];
    if (o.reverse === true) order.reverse();
    for (const i of order) {
      const h = this.hosts[i] as MemoryHost;
      const t = h.open();
      const facts = await gatherFacts(t);
      const plan = this.planOne(h.name, facts, factsFingerprint(facts));
      if (keepConnection?.(t, plan, i) !== true) await t.close();
      hosts[i] = plan;
    }
    return buildPlan(hosts, {
      createdAt: RUN.since,
      kpfleetVersion: '0.0.0-test',
      config: 'kpfleet.yml',
      configFingerprint: { sha256: `sha256:${'0'.repeat(64)}`, parts: {} },
    });
  }
}

export interface ApplyRun extends ApplyResult {
  events: ApplyEvent[];
  /** Each host's result, by name. */
  by: Map<string, ApplyResult['results'][number]>;
}

export interface RunOptions {
  waves?: Amount[];
  maxFailures?: Amount;
  forks?: number;
  healthCheck?: string;
  check?: boolean;
  signal?: AbortSignal;
  /** `apply --wave K` (execute.ts onlyWave). */
  onlyWave?: { wave: number; of: number };
  /** How apply opens a host (default: a new connection to it). */
  open?: (host: { host: string }) => Promise<Transport>;
  /** The audit log's `durable` (execute.ts recorded). */
  recorded?: () => Promise<void>;
  /** Sees each event first, as the CLI's audit log does (the run's `events` are kept too). */
  onEvent?: (e: ApplyEvent) => void;
}

export const count = (value: number): Amount => ({ kind: 'count', value });
export const percent = (value: number): Amount => ({ kind: 'percent', value });

/** `applyPlan` over the fleet's memory hosts, as `kpfleet apply` calls it. */
export async function apply(fleet: MemoryFleet, plan: Plan, o: RunOptions = {}): Promise<ApplyRun> {
  for (const h of fleet.hosts) {
    const hp = plan.hosts.find((x) => x.host === h.name);
    await h.expect(hp?.changes ?? [], RUN, o.healthCheck, hp?.manager);
  }
  const events: ApplyEvent[] = [];
  const contents = new Map(
    fleet.project.patches.map((p) => [
      p.patch.source.kind === 'file' ? p.patch.source.written : '',
      p.content,
    ]),
  );
  const result = await applyPlan({
    plan,
    hosts: new Map(fleet.hosts.map((h) => [h.name, { host: h.name }])),
    open: o.open ?? ((h) => Promise.resolve(fleet.host(h.host).open())),
    waves: o.waves ?? [percent(100)],
    maxFailures: o.maxFailures ?? count(0),
    ...(o.onlyWave !== undefined ? { onlyWave: o.onlyWave } : {}),
    forks: o.forks ?? 1,
    ...(o.healthCheck !== undefined ? { healthCheck: o.healthCheck } : {}),
    healthCheckTimeoutMs: 1000,
    commandTimeoutMs: 1000,
    check: o.check ?? false,
    readPatch: (c) => {
      const b = contents.get(c.source);
      return b ? Promise.resolve(b) : Promise.reject(new Error(`no patch file ${c.source}`));
    },
    replan: fleet.planOne,
    sha256,
    fingerprint: factsFingerprint,
    operator: RUN.operator,
    runId: RUN.runId,
    now: () => new Date(RUN.since),
    ...(o.signal !== undefined ? { signal: o.signal } : {}),
    label: (c) => describeChange(c).label,
    onEvent: (e) => {
      o.onEvent?.(e);
      events.push(e);
    },
    ...(o.recorded !== undefined ? { recorded: o.recorded } : {}),
  });
  const refused = fleet.hosts.flatMap((h) => h.refused);
  if (refused.length > 0) throw new Error(`the memory transport refused:\n${refused.join('\n')}`);
  return { ...result, events, by: new Map(result.results.map((r) => [r.host, r])) };
}
