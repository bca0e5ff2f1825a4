/**
 * Merging the plans of the shards of one fleet (`kpfleet plan merge`) into one plan, as if one
 * machine had planned every host. Pure: the plans as read, the hosts the selection puts in the
 * fleet in inventory order; no I/O (the CLI reads the files and checks each plan against the
 * project, `cli/commands/saved-plan.ts`).
 *
 * The shards must be the N plans of one cut: one kpfleet version, one configuration, one
 * `--limit`, one count N, each index from 1 to N once; each host in exactly the plan of its own
 * shard (`inventory/shard.ts`: a host's shard depends only on its name and N), and every host of
 * the selection in one. Anything else is a problem, named with the file(s) it concerns, and
 * nothing is merged. The merged plan lists the hosts in the selection's order, each with its
 * `shard`, records `shards: N`, is dated by its oldest facts (the earliest `createdAt`), and its
 * summary is counted again over all hosts.
 */
import { describeConfigChange } from '../config/fingerprint.ts';
import type { HostPlan, Plan, PlanShard } from './model.ts';
import { buildPlan } from './plan.ts';
import { shown } from './verify.ts';

/** A plan as read, with the name of its file (for messages). */
export interface PlanInput {
  file: string;
  plan: Plan;
}

export type MergeResult = { ok: true; plan: Plan } | { ok: false; problems: string[] };

/** The shard a plan is, or 1/1 for a lone plan made without `--shard`. */
function shardOfPlan(input: PlanInput, lone: boolean): PlanShard | undefined {
  return input.plan.shard ?? (lone ? { index: 1, count: 1 } : undefined);
}

/** `a.json, b.json`. */
const files = (inputs: readonly PlanInput[]): string => inputs.map((i) => i.file).join(', ');

/**
 * What the plans disagree on as a whole (version, configuration, --limit): problems, each naming
 * the files that differ from the first plan. Checked before the hosts are looked at.
 */
export function planHeadProblems(inputs: readonly PlanInput[]): string[] {
  const [first, ...rest] = inputs;
  if (first === undefined) return ['no plan to merge'];
  const problems: string[] = [];
  for (const other of rest) {
    const a = first.plan;
    const b = other.plan;
    if (a.kpfleetVersion !== b.kpfleetVersion) {
      problems.push(
        `${first.file} was made by kpfleet ${shown(a.kpfleetVersion)}, ${other.file} by kpfleet ${shown(b.kpfleetVersion)}`,
      );
    }
    const changed = describeConfigChange(a.configFingerprint, b.configFingerprint, 4);
    if (changed.length > 0) {
      problems.push(
        `${first.file} and ${other.file} were made from different configurations: ${changed.join('; ')}`,
      );
    }
    if (a.limit !== b.limit) {
      const lim = (p: Plan) => (p.limit === undefined ? 'no --limit' : `--limit ${shown(p.limit)}`);
      problems.push(
        `${first.file} was made with ${lim(a)}, ${other.file} with ${lim(b)}: shards of one fleet share one selection`,
      );
    }
  }
  return problems;
}

/** The shard count and each index's plan, or the problems of the cut itself. */
function shardSlots(
  inputs: readonly PlanInput[],
): { count: number; slots: Map<number, PlanInput> } | { problems: string[] } {
  const lone = inputs.length === 1;
  const unsharded = inputs.filter((i) => shardOfPlan(i, lone) === undefined);
  if (unsharded.length > 0) {
    return {
      problems: [
        `${files(unsharded)} ${unsharded.length === 1 ? 'was' : 'were'} not made with --shard: only the plans of the shards of one fleet can be merged (kpfleet plan --shard I/N)`,
      ],
    };
  }
  const counts = new Map<number, PlanInput[]>();
  for (const i of inputs) {
    const n = shardOfPlan(i, lone)?.count ?? 1;
    counts.set(n, [...(counts.get(n) ?? []), i]);
  }
  if (counts.size > 1) {
    const parts = [...counts].map(([n, ins]) => `${files(ins)} of ${String(n)}`);
    return {
      problems: [`the plans cut the fleet into different numbers of shards: ${parts.join('; ')}`],
    };
  }
  const count = [...counts.keys()][0] ?? 1;
  const slots = new Map<number, PlanInput>();
  const problems: string[] = [];
  for (const i of inputs) {
    const index = shardOfPlan(i, lone)?.index ?? 1;
    const earlier = slots.get(index);
    if (earlier !== undefined) {
      problems.push(
        `shard ${String(index)}/${String(count)} is given twice: ${earlier.file} and ${i.file}`,
      );
    } else slots.set(index, i);
  }
  for (let index = 1; index <= count; index++) {
    if (!slots.has(index)) problems.push(`shard ${String(index)}/${String(count)} is missing`);
  }
  return problems.length > 0 ? { problems } : { count, slots };
}

/** The fleet the shards cut, as the project and the plans' `--limit` select it now. */
export interface Fleet {
  /** The selected hosts, in inventory order. */
  hosts: readonly string[];
  /** The shard (1 … count) of a host: `inventory/shard.ts`'s `shardOf`. */
  shardOf: (host: string, count: number) => number;
}

/**
 * Merges the shards' plans over the fleet they cut. Each plan has been checked against the
 * current project already (version, configuration, every change).
 */
export function mergePlans(inputs: readonly PlanInput[], fleet: Fleet): MergeResult {
  const { shardOf, hosts: selection } = fleet;
  const head = planHeadProblems(inputs);
  if (head.length > 0) return { ok: false, problems: head };
  const cut = shardSlots(inputs);
  if ('problems' in cut) return { ok: false, problems: cut.problems };
  const { count, slots } = cut;
  const problems: string[] = [];
  const selected = new Set(selection);
  const found = new Map<string, { host: HostPlan; index: number; file: string }>();
  for (const [index, { file, plan }] of slots) {
    for (const h of plan.hosts) {
      const name = shown(h.host);
      const earlier = found.get(h.host);
      if (earlier !== undefined) {
        problems.push(
          earlier.file === file
            ? `host ${name} is twice in ${file}`
            : `host ${name} is in both ${earlier.file} and ${file}`,
        );
        continue;
      }
      found.set(h.host, { host: h, index, file });
      if (!selected.has(h.host)) {
        problems.push(`host ${name} in ${file} is not one the configuration and --limit select`);
      } else if (shardOf(h.host, count) !== index) {
        problems.push(
          `host ${name} in ${file} belongs to shard ${String(shardOf(h.host, count))}/${String(count)}, not ${String(index)}/${String(count)}`,
        );
      }
    }
  }
  const hosts: HostPlan[] = [];
  for (const name of selection) {
    const entry = found.get(name);
    if (entry === undefined) {
      const index = shardOf(name, count);
      const file = slots.get(index)?.file ?? '?';
      problems.push(
        `host ${shown(name)} of shard ${String(index)}/${String(count)} is missing from ${file}`,
      );
    } else hosts.push({ ...entry.host, shard: entry.index });
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, plan: mergedPlan(inputs, hosts, count) };
}

/** The merged plan: the first plan's head, the oldest facts' date, `shards`, a new summary. */
function mergedPlan(inputs: readonly PlanInput[], hosts: HostPlan[], count: number): Plan {
  const plans = inputs.map((i) => i.plan);
  const first = plans[0] as Plan;
  const oldest = plans.reduce((a, b) =>
    Date.parse(b.createdAt) < Date.parse(a.createdAt) ? b : a,
  );
  return buildPlan(hosts, {
    createdAt: oldest.createdAt,
    kpfleetVersion: first.kpfleetVersion,
    config: first.config,
    configFingerprint: first.configFingerprint,
    ...(first.limit !== undefined ? { limit: first.limit } : {}),
    shards: count,
  });
}
