/**
 * `apply PLANFILE [--wave K]`: which hosts of a saved plan this run works on. Without --wave,
 * those --limit and --shard select, in every wave. With --wave K, wave K of the WHOLE plan's
 * waves (`apply/waves.ts` selectWave: split as one apply over the whole fleet would), narrowed to
 * the selected hosts; the hosts with nothing to do are reported by the wave 1 run only.
 */
import { UsageError } from '../../errors.ts';
import { PlanRefusedError } from './saved-plan.ts';
import type { Plan } from '../../plan/model.ts';
import { summarizePlan } from '../../plan/plan.ts';
import { selectWave } from '../../apply/waves.ts';
import type { SelectedHosts } from '../../workflow/hosts.ts';
import type { CliIo } from '../io.ts';

/** The wave a run executes, and how many waves the whole plan has. */
export interface OnlyWave {
  wave: number;
  of: number;
}

/** `--wave K` as written: a whole number ≥ 1 (exit 64 otherwise), for apply and the gate. */
export function waveNumber(value: string): number {
  if (!/^[1-9][0-9]{0,5}$/.test(value)) {
    throw new UsageError(`--wave ${JSON.stringify(value)} is not a wave number (1, 2, …)`);
  }
  return Number(value);
}

/** `--wave K`: a whole number ≥ 1, and only with a saved plan (exit 64 otherwise). */
export function parseWave(
  value: string | undefined,
  planFile: string | undefined,
): number | undefined {
  if (value === undefined) return undefined;
  const wave = waveNumber(value);
  if (planFile === undefined) {
    throw new UsageError(
      '--wave needs a saved plan: waves must be computed over the whole fleet\u2019s plan, not over the hosts this run reads',
      {
        hint: 'kpfleet plan --out plan.json (or kpfleet plan merge the shards\u2019 plans), then kpfleet apply --wave K plan.json',
      },
    );
  }
  return wave;
}

/** The saved plan narrowed to the hosts this run works on (the plan was verified whole first). */
export function narrowSavedPlan(
  plan: Plan,
  selected: SelectedHosts,
  wave: number | undefined,
  io: CliIo,
): { plan: Plan; onlyWave?: OnlyWave } {
  const keep = new Set(selected.hosts.map((h) => h.host));
  const narrowed = (hosts: Plan['hosts']): Plan => ({
    ...plan,
    hosts,
    summary: summarizePlan(hosts),
  });
  if (wave === undefined) return { plan: narrowed(plan.hosts.filter((h) => keep.has(h.host))) };
  // a shard's plan knows only its own hosts: its waves would not be the fleet's (its own canary)
  if (plan.shard !== undefined) {
    throw new PlanRefusedError(
      `--wave needs the whole fleet's plan: this is the plan of shard ${String(plan.shard.index)}/${String(plan.shard.count)} only, whose waves are not the fleet's`,
      [],
      "merge the shards' plans first: kpfleet plan merge shard-*.json --out plan.json",
    );
  }
  const chosen = selectWave(plan.hosts, selected.config.rollout.waves, wave, (h) => keep.has(h));
  // wave 1 runs even in a plan of no waves: it reports the hosts with nothing to run
  if (wave > Math.max(1, chosen.waves)) {
    const has = `${String(chosen.waves)} ${chosen.waves === 1 ? 'wave' : 'waves'}`;
    io.stdout.write(`wave ${String(wave)}: the plan has ${has}; nothing to do\n`);
    return { plan: narrowed([]), onlyWave: { wave, of: chosen.waves } };
  }
  return { plan: narrowed(chosen.hosts), onlyWave: { wave, of: chosen.waves } };
}
