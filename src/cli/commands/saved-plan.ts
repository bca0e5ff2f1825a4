/**
 * `apply PLANFILE`: a saved plan is read, then checked against the current project before any
 * host is contacted (docs/security.md, "Saved plans"). It is refused, whole, when it is not a
 * plan of this kpfleet, when the configuration it was made from is not the current one, or when
 * any change of any host is not what the current kpfleet.yml allows on that host.
 */
import { sha256Hex } from '../../util/hash.ts';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { describeConfigChange } from '../../config/fingerprint.ts';
import { resolveDesired } from '../../desired/resolve.ts';
import { AppError, UsageError } from '../../errors.ts';
import type { Config } from '../../config-model.ts';
import type { Plan, UploadChange } from '../../plan/model.ts';
import { PLAN_FORMAT, PLAN_VERSION } from '../../plan/model.ts';
import type { PlanProblem } from '../../plan/verify.ts';
import { shown, verifyHostPlan } from '../../plan/verify.ts';
import { errorsText, schemaValidator } from '../../schema-validators.ts';
import { pushAll } from '../../util/arrays.ts';
import { VERSION } from '../version.ts';
import type { Shard } from '../../inventory/shard.ts';
import { shardOf, shardText } from '../../inventory/shard.ts';
import type { SelectedHosts } from '../../workflow/hosts.ts';
import { projectFingerprint } from '../../workflow/hosts.ts';

/** A saved plan that kpfleet will not execute. Nothing was contacted. Exit 64. */
export class PlanRefusedError extends AppError {
  readonly problems: readonly PlanProblem[];
  constructor(message: string, problems: readonly PlanProblem[] = [], hint?: string) {
    super('E_PLAN_REFUSED', message, hint !== undefined ? { hint } : {});
    this.problems = problems;
  }
}

const PLAN_AGAIN = 'make a new plan from the current configuration: kpfleet plan --out FILE';

/** A saved plan: JSON valid against schemas/plan.schema.json, this format and version. */
export function readPlanFile(path: string): Plan {
  return readPlanFileDigest(path).plan;
}

/**
 * A saved plan and the sha256 of the very bytes it was read from (`sha256:` and 64 hex digits):
 * what an apply report records, so that the gate between waves takes only reports of this plan.
 */
export function readPlanFileDigest(path: string): { plan: Plan; sha256: string } {
  let data: unknown;
  let digest: string;
  try {
    const bytes = readFileSync(path);
    digest = `sha256:${sha256(bytes)}`;
    data = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new UsageError(
      `cannot read the plan ${path}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const head = data as { format?: unknown; version?: unknown } | null;
  if (head?.format !== PLAN_FORMAT || head.version !== PLAN_VERSION) {
    throw new UsageError(
      `${path} is not a kpfleet plan of version ${String(PLAN_VERSION)} (format ${shown(head?.format)}, version ${shown(head?.version)})`,
      { hint: 'make it with `kpfleet plan --out FILE` of this kpfleet version' },
    );
  }
  const validate = schemaValidator('plan');
  if (!validate(data)) {
    throw new UsageError(`${path} is not a valid plan: ${errorsText(validate.errors)}`);
  }
  return { plan: data as Plan, sha256: digest };
}

/** Problems one per line, indented, the first `max` of them and a count of the rest. */
export function indentedList(lines: readonly string[], max = 20): string {
  const shownLines = lines.slice(0, max).map((l) => `  ${l}`);
  if (lines.length > max) shownLines.push(`  and ${String(lines.length - max)} more`);
  return shownLines.join('\n');
}

function describe(p: PlanProblem): string {
  const change = p.change !== undefined ? `, change ${String(p.change)} (${p.action ?? '?'})` : '';
  if (p.host === '') return `${p.field}: ${p.message}`;
  return `host ${shown(p.host)}${change}, ${p.field}: ${p.message}`;
}

/**
 * Refuses a saved plan (PlanRefusedError, exit 64) unless it was made by this kpfleet from the
 * current configuration and every change of every host is one the configuration allows there.
 */
export function checkSavedPlan(plan: Plan, selected: SelectedHosts, file: string): void {
  if (plan.kpfleetVersion !== VERSION) {
    throw new PlanRefusedError(
      `${file} was made by kpfleet ${shown(plan.kpfleetVersion)}; this is kpfleet ${VERSION}, which may plan differently`,
      [],
      PLAN_AGAIN,
    );
  }
  const changed = describeConfigChange(plan.configFingerprint, projectFingerprint(selected));
  if (changed.length > 0) {
    throw new PlanRefusedError(
      `${file} was made from another configuration: ${changed.join('; ')}`,
      [],
      PLAN_AGAIN,
    );
  }
  const { config, inventory } = selected;
  const problems: PlanProblem[] = shardProblems(plan, selected.shard);
  if (Number.isNaN(Date.parse(plan.createdAt))) {
    problems.push({
      host: '',
      field: 'createdAt',
      message: `${shown(plan.createdAt)} is not a time`,
    });
  }
  const seen = new Set<string>();
  const known = plan.hosts.filter((h) => {
    if (seen.has(h.host)) {
      problems.push({ host: h.host, field: 'host', message: 'the plan names this host twice' });
      return false;
    }
    seen.add(h.host);
    if (inventory.hosts.has(h.host)) return true;
    problems.push({ host: h.host, field: 'host', message: 'not a host of the inventory' });
    return false;
  });
  const desired = resolveDesired(
    config,
    inventory,
    known.map((h) => h.host),
  ).hosts;
  known.forEach((h, i) => {
    const d = desired[i];
    if (d) pushAll(problems, verifyHostPlan(h, d, config.patches));
  });
  if (problems.length > 0) {
    throw new PlanRefusedError(
      `${file} asks for what kpfleet.yml does not declare; nothing was done:\n${indentedList(problems.map(describe))}`,
      problems,
      'apply only plans made by `kpfleet plan --out`, unedited; ' + PLAN_AGAIN,
    );
  }
}

/**
 * What a plan says of shards must be true of its hosts, so that no job of a sharded apply skips or
 * doubles a host on the plan's word: a shard's plan (`shard`) holds only hosts of that shard, and
 * the `--shard` applying it is that shard; in a merged plan (`shards`) each host's `shard` is its
 * own (`inventory/shard.ts`); a host has a `shard` only in a merged plan.
 */
function shardProblems(plan: Plan, cli: Shard | undefined): PlanProblem[] {
  const problems: PlanProblem[] = [];
  const { shard, shards } = plan;
  if (shard !== undefined && shard.index > shard.count) {
    problems.push({
      host: '',
      field: 'shard',
      message: `shard ${shardText(shard)} is not one of 1 to ${String(shard.count)}`,
    });
    return problems;
  }
  if (shard !== undefined && cli !== undefined && shardText(shard) !== shardText(cli)) {
    problems.push({
      host: '',
      field: 'shard',
      message: `the plan is shard ${shardText(shard)}'s, and this run is given --shard ${shardText(cli)}`,
    });
  }
  for (const h of plan.hosts) {
    if (shards === undefined && h.shard !== undefined) {
      problems.push({
        host: h.host,
        field: 'shard',
        message: 'a shard is recorded only in a merged plan',
      });
    } else if (shards !== undefined && h.shard !== shardOf(h.host, shards)) {
      problems.push({
        host: h.host,
        field: 'shard',
        message: `is in shard ${String(shardOf(h.host, shards))}/${String(shards)}, not ${shown(h.shard)}`,
      });
    } else if (shard !== undefined && shardOf(h.host, shard.count) !== shard.index) {
      problems.push({
        host: h.host,
        field: 'shard',
        message: `is in shard ${String(shardOf(h.host, shard.count))}/${String(shard.count)}, not in this plan's ${shardText(shard)}`,
      });
    }
  }
  return problems;
}

export const sha256 = (b: Buffer): string => sha256Hex(b);

/**
 * What an upload sends: the catalogue's file for the patch the change names, never a path from
 * the plan, read once per run and hashed again against kpfleet.yml's sha256.
 */
export function catalogueReader(config: Config): (c: UploadChange) => Promise<Buffer> {
  const read = new Map<string, Promise<Buffer>>();
  return (c) => {
    const p = config.patches.get(c.patch);
    if (p?.source.kind !== 'file' || p.source.written !== c.source) {
      return Promise.reject(
        new AppError(
          'E_PATCH_UNDECLARED',
          `${c.source} is not the file kpfleet.yml declares for ${c.patch}`,
          { step: 'upload' },
        ),
      );
    }
    const src = p.source;
    let content = read.get(src.path);
    if (!content) {
      content = readFile(src.path).then((b) => {
        const sum = sha256(b);
        if (sum !== src.sha256) {
          throw new AppError(
            'E_PATCH_CHANGED',
            `${src.written} changed since kpfleet.yml was checked (sha256 ${sum.slice(0, 12)}…, declared ${src.sha256.slice(0, 12)}…)`,
            { step: 'upload' },
          );
        }
        return b;
      });
      read.set(src.path, content);
    }
    return content;
  };
}
