import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import type { ApplyEvent, HostResult } from '../../apply/events.ts';
import { applyPlan, cutShort } from '../../apply/execute.ts';
import { longestBatch } from '../../apply/host-changes.ts';
import { maxOf } from '../../util/arrays.ts';
import { OUTCOMES } from '../../apply/outcomes.ts';
import { ExitCode } from '../../errors.ts';
import { factsFingerprint } from '../../facts/fingerprint.ts';
import type { Plan } from '../../plan/model.ts';
import { createPlainRenderer } from '../../report/apply-plain.ts';
import { buildApplyReport } from '../../report/apply-report.ts';
import { applyWords, describeChange, displayPlan } from '../../report/plan.ts';
import { renderPlanText } from '../../report/plan-text.ts';
import { styleFor } from '../../report/style.ts';
import type { AuditLog, PlannedHost } from '../apply-records.ts';
import {
  afterRecords,
  createAuditLog,
  preflightApplyRecords,
  withRecordsExitCode,
  writeApplyReport,
} from '../apply-records.ts';
import { configIdentity } from '../config-identity.ts';
import { nextSteps } from '../next-steps.ts';
import type { NextSteps } from '../../report/apply-next.ts';
import type { CliIo } from '../io.ts';
import { lineWriter } from '../io.ts';
import { confirmed } from '../prompt.ts';
import { abortOnStopSignals, stopApply } from '../signals.ts';
import type { ApplyPhase } from '../signals.ts';
import { VERSION } from '../version.ts';
import { makePlan, replanner } from '../../workflow/plan.ts';
import { parseForks } from '../options.ts';
import { connectorForCli } from './facts.ts';
import type { RunConnections } from '../connections.ts';
import { runConnections } from '../connections.ts';
import type { OpenTransport } from '../../transport/transport.ts';
import { catalogueReader, checkSavedPlan, readPlanFileDigest, sha256 } from './saved-plan.ts';
import { selectHostsForCli } from './project.ts';
import type { OnlyWave } from './apply-wave.ts';
import { narrowSavedPlan, parseWave } from './apply-wave.ts';

/** After the steps in flight: time for a host's rollback of one step and its unlock. */
const RELEASE_MS = 60_000;

export interface ApplyCliOptions {
  /** `--shard I/N`: only that shard's hosts (`inventory/shard.ts`). */
  shard?: string;
  /** `--wave K`: only wave K of the saved plan's waves (`apply-wave.ts`). */
  wave?: string;
  /** `--login-user`: every host is logged in to as this user. */
  loginUser?: string;
  config?: string;
  trustSshConfig?: boolean;
  limit?: string;
  forks?: string;
  yes?: boolean;
  check?: boolean;
  report?: string;
  auditLog?: string;
  /** `--detailed`: the plan shown before the prompt with a block per host. */
  detailed?: boolean;
}

/** Exit codes an apply can end with, most severe first (docs/exit-codes.md, precedence). */
const APPLY_EXIT_PRECEDENCE: readonly number[] = [
  ExitCode.interrupted,
  ExitCode.unreachable,
  ExitCode.changeFailed,
  ExitCode.ok,
];

/**
 * Exit code of an apply (docs/exit-codes.md): 130 when interrupted, else the most severe of what
 * each host's outcome implies (`apply/outcomes.ts`: 4 > 1 > 0), and 1 at least when halted.
 */
export function applyExitCode(
  results: readonly HostResult[],
  halted: boolean,
  interrupted: boolean,
): number {
  const codes = results.map((r) => OUTCOMES[r.outcome].exitCode as number);
  if (interrupted) codes.push(ExitCode.interrupted);
  if (halted) codes.push(ExitCode.changeFailed);
  return APPLY_EXIT_PRECEDENCE.find((c) => codes.includes(c)) ?? ExitCode.ok;
}

export async function applyCommand(
  planFile: string | undefined,
  opts: ApplyCliOptions,
  io: CliIo,
): Promise<number> {
  // the plan's connection of each host with changes is the apply's (connections.ts)
  const connections = runConnections(connectorForCli(io));
  try {
    return await applyOver(connections, planFile, opts, io);
  } finally {
    await connections.closeAll();
  }
}

async function applyOver(
  connections: RunConnections,
  planFile: string | undefined,
  opts: ApplyCliOptions,
  io: CliIo,
): Promise<number> {
  const wave = parseWave(opts.wave, planFile);
  const selected = selectHostsForCli(opts, io);
  // --report and the audit log are checked before a plan is read or made, and any host touched
  const records = preflightApplyRecords(opts, io, planFile);
  const { config } = selected;
  const { open } = connections;
  const out = styleFor(io.stdout, io.env);

  let plan: Plan;
  let onlyWave: OnlyWave | undefined;
  let planSha256: string | undefined;
  if (planFile !== undefined) {
    const read = readPlanFileDigest(resolve(io.cwd, planFile));
    const saved = read.plan;
    planSha256 = read.sha256;
    // before anything else: a plan that kpfleet.yml does not allow is refused whole
    checkSavedPlan(saved, selected, planFile);
    // --limit and --shard narrow a saved plan to the hosts they select; --wave to one wave
    ({ plan, onlyWave } = narrowSavedPlan(saved, selected, wave, io));
  } else {
    plan = await makePlan(selected, {
      forks: parseForks(opts.forks, config.rollout.forks),
      open,
      keepConnection: connections.keep,
      kpfleetVersion: VERSION,
      limit: opts.limit,
    });
  }
  io.stdout.write(renderPlanText(plan, out, { detailed: opts.detailed === true }) + '\n\n');
  const nothing = plan.summary.changes === 0;
  if (nothing) io.stdout.write('Nothing to apply.\n');
  if (
    !nothing &&
    opts.check !== true &&
    !(await confirmed(
      opts.yes,
      `${applyWords(displayPlan(plan))}\nApply these changes? Only 'yes' is accepted: `,
      'apply changes hosts',
      io,
      'in CI: kpfleet apply --yes plan.json (a plan saved and reviewed with kpfleet plan --out)',
    ))
  ) {
    io.stderr.write('Apply cancelled; nothing was changed.\n');
    return ExitCode.ok;
  }

  const abort = new AbortController();
  const startedAt = new Date();
  const operator = `${userInfo().username}@${hostname()}`;
  const identity = configIdentity(config, io.cwd, plan.configFingerprint.sha256);
  // Ctrl-C, SIGTERM, SIGHUP, a crash or the audit log failing: steps in flight finish (at most
  // their timeouts), hosts are unlocked, records written
  const phase: ApplyPhase = {
    abort,
    // steps sent in one exec (apply/batch.ts) finish together: each has its timeout
    graceMs:
      Math.max(
        config.connection.commandTimeoutMs *
          Math.max(1, maxOf(plan.hosts.map((h) => longestBatch(h.changes)))),
        config.rollout.healthCheckTimeoutMs,
      ) + RELEASE_MS,
    onAbandon: () =>
      audit?.abandon(
        'kpfleet stopped on an internal error while changing this host and its steps did not end in time: its state is unknown; read its facts again (kpfleet plan) before the next apply',
      ),
  };
  /** Why the audit log stopped the run (it failed first, before any signal): its error. */
  let auditStopped: string | undefined;
  /** The engine is changing hosts (a failure of the log after it, at `finish`, stops nothing). */
  let changing = true;
  const audit =
    records.audit !== undefined && opts.check !== true && !nothing
      ? createAuditLog(
          records.audit,
          {
            time: startedAt.toISOString(),
            operator,
            configCommit: identity.commit ?? null,
            configFingerprint: identity.fingerprint,
          },
          plannedHosts(plan),
          io,
          undefined,
          undefined,
          // no change starts that no durable record names: the run stops as on Ctrl-C
          (err) => {
            if (
              changing &&
              stopApply(phase, io, `the audit log ${records.audit?.path ?? ''} failed`)
            )
              auditStopped = err instanceof Error ? err.message : String(err);
          },
        )
      : undefined;
  const stopHandlers = abortOnStopSignals(phase, io);
  try {
    const next = nextSteps(
      opts,
      planFile,
      {
        ...(records.report !== undefined ? { report: records.report.path } : {}),
        ...(audit !== undefined && records.audit !== undefined
          ? { audit: records.audit.path }
          : {}),
      },
      { shard: selected.shard, wave: onlyWave?.wave },
    );
    const result = await runApply(plan, selected, opts, io, {
      ...(onlyWave !== undefined ? { onlyWave } : {}),
      open,
      out,
      startedAt,
      operator,
      signal: abort.signal,
      next,
      engineEnded: () => (changing = false),
      ...(audit !== undefined ? { audit } : {}),
    });
    await audit?.finish(result.results);
    // stopped by the audit log: interrupted only if that cut a host short (a log that fails as
    // the last host ends, its end record not written, stopped nothing)
    const interrupted =
      result.interrupted && (auditStopped === undefined || cutShort(result.results));
    const report = buildApplyReport({
      results: result.results,
      halted: result.halted,
      interrupted,
      check: opts.check === true,
      startedAt: startedAt.toISOString(),
      durationMs: Date.now() - startedAt.getTime(),
      config: config.file,
      ...(identity.commit !== undefined ? { configCommit: identity.commit } : {}),
      configFingerprint: identity.fingerprint,
      operator,
      kpfleetVersion: VERSION,
      ...(planFile !== undefined ? { planFile } : {}),
      ...(planSha256 !== undefined ? { planSha256 } : {}),
      ...(onlyWave !== undefined ? { wave: onlyWave.wave } : {}),
      ...(selected.shard !== undefined ? { shard: selected.shard } : {}),
    });
    // the audit records are already appended and fsynced, host by host; then the report
    const reported = writeApplyReport(report, records, io);
    if (auditStopped !== undefined && interrupted)
      io.stderr.write(
        `The run stopped because the audit log failed (${auditStopped}): no step was sent after that, the steps in flight finished and were verified, and each host is in the state reported above. Apply again (with a working audit log) converges them.\n`,
      );
    // stopped by the audit log alone: not an interrupt (130) but the audit log's failure (74)
    return withRecordsExitCode(
      applyExitCode(result.results, result.halted, interrupted && auditStopped === undefined),
      reported && (audit?.ok ?? true),
    );
  } finally {
    stopHandlers();
  }
}

/** Each host's planned changes, by label, and the fingerprint they were planned from. */
function plannedHosts(plan: Plan): Map<string, PlannedHost> {
  return new Map(
    plan.hosts.map((h) => [
      h.host,
      {
        fingerprint: h.factsFingerprint ?? null,
        changes: h.changes.map((c) => describeChange(c).label),
      },
    ]),
  );
}

interface RunContext {
  open: OpenTransport;
  out: ReturnType<typeof styleFor>;
  startedAt: Date;
  operator: string;
  signal: AbortSignal;
  /** What the end of the run suggests, and where its records are. */
  next: NextSteps;
  audit?: AuditLog;
  /** Called once the engine has returned (every host ended), before the last records are shown. */
  engineEnded: () => void;
  /** `--wave K`: the engine runs wave K only (`apply/execute.ts` onlyWave). */
  onlyWave?: OnlyWave;
}

/** Runs the apply engine with the renderer the output calls for; the audit log sees each event first. */
async function runApply(
  plan: Plan,
  selected: ReturnType<typeof selectHostsForCli>,
  opts: ApplyCliOptions,
  io: CliIo,
  ctx: RunContext,
) {
  const { config } = selected;
  // listr2 is loaded only for a terminal's live view; else lines, a burst of them in one write
  const lines = lineWriter(io.stdout);
  const renderer =
    io.stdout.isTTY === true && io.env.CI === undefined
      ? (await import('../../report/apply-listr.ts')).createListrRenderer({
          output: process.stdout,
          next: ctx.next,
        })
      : createPlainRenderer(lines.line, ctx.out, { next: ctx.next });
  const { audit } = ctx;
  const show = (e: ApplyEvent) => {
    try {
      renderer.onEvent(e);
    } catch {
      // a renderer problem never stops apply
    }
  };
  // the audit log sees each event first; a host's end is shown once its end record is on disk
  const view = afterRecords(audit, show);
  try {
    const result = await applyPlan({
      plan,
      hosts: new Map(selected.hosts.map((h) => [h.host, h])),
      open: ctx.open,
      waves: config.rollout.waves,
      maxFailures: config.rollout.maxFailures,
      ...(ctx.onlyWave !== undefined ? { onlyWave: ctx.onlyWave } : {}),
      forks: parseForks(opts.forks, config.rollout.forks),
      ...(config.rollout.healthCheck !== undefined
        ? { healthCheck: config.rollout.healthCheck }
        : {}),
      healthCheckTimeoutMs: config.rollout.healthCheckTimeoutMs,
      commandTimeoutMs: config.connection.commandTimeoutMs,
      check: opts.check === true,
      readPatch: catalogueReader(config),
      replan: replanner(selected),
      sha256,
      fingerprint: factsFingerprint,
      operator: ctx.operator,
      runId: `${ctx.startedAt.toISOString()}-${randomBytes(4).toString('hex')}`,
      now: () => new Date(),
      signal: ctx.signal,
      label: (c) => describeChange(c).label,
      onEvent: view.onEvent,
      // a host's `started` record is on disk before its first step sends anything
      ...(audit !== undefined ? { recorded: () => audit.durable() } : {}),
    });
    // every host has ended: what the renderers still wait for stops nothing
    ctx.engineEnded();
    return result;
  } finally {
    await view.settled();
    if ('done' in renderer) await renderer.done();
    lines.flush();
  }
}
