/**
 * `kpfleet plan`: reads the selected hosts, plans each as its facts arrive and writes the plan
 * (text, markdown or JSON; `--out` as JSON, atomically) and exits as docs/exit-codes.md says. The
 * JSON is written host by host (report/plan-stream.ts), so a large fleet's plan is never held
 * whole in memory, nor as one string. `plan merge` ends as `plan` does (`savePlanAndPrint`).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { ExitCode } from '../../errors.ts';
import type { HostPlan, Plan, PlanSummary } from '../../plan/model.ts';
import { buildPlan, hasErrorFinding, PlanTally } from '../../plan/plan.ts';
import { planFleet, planMeta } from '../../workflow/plan.ts';
import { PlanJsonWriter } from '../../report/plan-stream.ts';
import { renderPlanMarkdown } from '../../report/plan-markdown.ts';
import { renderPlanText } from '../../report/plan-text.ts';
import { safeText } from '../../report/safe-text.ts';
import { styleFor } from '../../report/style.ts';
import type { CliIo } from '../io.ts';
import { defaultAuditLog } from '../apply-records.ts';
import { AtomicFile } from '../atomic-file.ts';
import { preflightReplace, type OutputTarget } from '../output-files.ts';
import { refuseSameFiles, type RunFile } from '../same-file.ts';
import { trackConnection } from '../signals.ts';
import { VERSION } from '../version.ts';
import { parseForks } from '../options.ts';
import { connectorForCli } from './facts.ts';
import { selectHostsForCli } from './project.ts';

export interface PlanOptions {
  /** `--shard I/N`: only that shard's hosts (`inventory/shard.ts`). */
  shard?: string;
  /** `--login-user`: every host is logged in to as this user. */
  loginUser?: string;
  config?: string;
  trustSshConfig?: boolean;
  limit?: string;
  forks?: string;
  format: 'text' | 'json' | 'markdown';
  out?: string;
  detailedExitcode?: boolean;
  /** `--detailed`: the text plan with a block per host. */
  detailed?: boolean;
}

type PrintOptions = Pick<PlanOptions, 'format' | 'out' | 'detailed' | 'detailedExitcode'>;

/**
 * The exit code of a plan (docs/exit-codes.md): 4 if a host was not reached; 1 if a host is
 * blocked or its facts failed, or a finding is an error; with --detailed-exitcode 2 when changes
 * are pending; else 0.
 */
function planExitCode(s: PlanSummary, errorFinding: boolean, detailed: boolean): number {
  if (s.unreachable > 0) return ExitCode.unreachable;
  if (s.errors > 0 || s.blocked > 0 || errorFinding) return ExitCode.changeFailed;
  if (detailed && s.changes > 0) return ExitCode.changesPending;
  return ExitCode.ok;
}

/**
 * `--out FILE`, checked before any host is contacted (written atomically later: a reader never
 * sees half a plan); never the audit log (renamed over, its history would be lost) nor one of
 * `inputs` (the plans `plan merge` reads).
 */
export function preflightPlanOut(
  file: string | undefined,
  io: CliIo,
  inputs: readonly RunFile[] = [],
): OutputTarget | undefined {
  if (file === undefined) return undefined;
  const out = preflightReplace(resolve(io.cwd, file), `--out ${file}`);
  const audit = defaultAuditLog(io.env);
  refuseSameFiles([{ label: `the audit log ${audit}`, path: audit }, out]);
  for (const input of inputs) refuseSameFiles([input, out]);
  return out;
}

/**
 * Where the plan's JSON goes as its hosts come: `--out` (a temporary file until `commit`; a
 * failure or a stop signal removes it), else stdout with `--format json`, else nowhere.
 */
class PlanJsonOut {
  readonly json: PlanJsonWriter | undefined;
  private readonly file: AtomicFile | undefined;
  private readonly stop: { close(): Promise<void> } | undefined;

  constructor(out: OutputTarget | undefined, format: PlanOptions['format'], io: CliIo) {
    const file = out && new AtomicFile(out);
    this.file = file;
    this.stop =
      file &&
      trackConnection({
        close: () => {
          file.abort();
          return Promise.resolve();
        },
      });
    if (file !== undefined || format === 'json')
      this.json = new PlanJsonWriter((t) => {
        if (file) file.write(t);
        else io.stdout.write(t);
      });
  }

  /** `--out` renamed into place, once the whole plan is written. */
  commit(): void {
    this.file?.commit();
    void this.stop?.close();
  }

  /** After a failure: nothing is left of `--out`. */
  abort(): void {
    this.file?.abort();
    void this.stop?.close();
  }
}

/** A committed file to stdout, a piece at a time (the plan is never one string). */
function copyToStdout(path: string, io: CliIo): void {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(1 << 16);
    const decoder = new StringDecoder('utf8');
    for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf))
      io.stdout.write(decoder.write(buf.subarray(0, n)));
    io.stdout.write(decoder.end());
  } finally {
    closeSync(fd);
  }
}

/**
 * Prints the plan in `--format` once its JSON is written (`--out`, or stdout for JSON without
 * it), and returns its exit code.
 */
function printPlan(
  plan: Plan,
  out: OutputTarget | undefined,
  opts: PrintOptions,
  errorFinding: boolean,
  io: CliIo,
): number {
  if (opts.format === 'json') {
    if (out !== undefined) copyToStdout(out.path, io);
  } else if (opts.format === 'markdown') io.stdout.write(renderPlanMarkdown(plan));
  else {
    io.stdout.write(
      renderPlanText(plan, styleFor(io.stdout, io.env), { detailed: opts.detailed === true }) +
        '\n',
    );
    if (opts.out !== undefined) io.stdout.write(`\nPlan saved to ${safeText(opts.out)}\n`);
  }
  return planExitCode(plan.summary, errorFinding, opts.detailedExitcode === true);
}

export async function planCommand(opts: PlanOptions, io: CliIo): Promise<number> {
  const selected = selectHostsForCli({ ...opts, json: opts.format !== 'text' }, io);
  const out = preflightPlanOut(opts.out, io);
  const o = {
    forks: parseForks(opts.forks, selected.config.rollout.forks),
    open: connectorForCli(io),
    kpfleetVersion: VERSION,
    limit: opts.limit,
  };
  // each host's plan is written as it is made; the renderers of text and markdown group hosts,
  // so only they keep every host's plan
  const now = Date.now();
  const head = buildPlan([], planMeta(selected, o, now));
  const sink = new PlanJsonOut(out, opts.format, io);
  const tally = new PlanTally();
  const kept: HostPlan[] = [];
  let plan: Plan;
  try {
    sink.json?.begin(head);
    await planFleet(
      selected,
      { ...o, now },
      (x) => x.plan,
      (h) => {
        tally.add(h);
        sink.json?.host(h);
        if (opts.format !== 'json') kept.push(h);
      },
    );
    plan = { ...head, hosts: kept, summary: tally.summary() };
    sink.json?.end(plan);
  } catch (err) {
    sink.abort();
    throw err;
  }
  sink.commit();
  return printPlan(plan, out, opts, tally.errorFinding, io);
}

/**
 * Writes a whole plan to `--out` (checked before), prints it in `--format` and returns its exit
 * code: what `plan merge` ends with, as `plan` does.
 */
export function savePlanAndPrint(
  plan: Plan,
  out: OutputTarget | undefined,
  opts: PrintOptions,
  io: CliIo,
): number {
  const sink = new PlanJsonOut(out, opts.format, io);
  try {
    sink.json?.begin(plan);
    for (const h of plan.hosts) sink.json?.host(h);
    sink.json?.end(plan);
  } catch (err) {
    sink.abort();
    throw err;
  }
  sink.commit();
  return printPlan(plan, out, opts, plan.hosts.some(hasErrorFinding), io);
}
