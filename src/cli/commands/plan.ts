/**
 * `kpfleet plan`: reads the selected hosts, plans each as its facts arrive and writes the plan
 * (text, markdown or JSON; `--out` as JSON, atomically) and exits as docs/exit-codes.md says. The
 * JSON is written host by host (report/plan-stream.ts), so a large fleet's plan is never held
 * whole in memory.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { ExitCode } from '../../errors.ts';
import type { HostPlan, Plan, PlanSummary } from '../../plan/model.ts';
import { buildPlan, PlanTally } from '../../plan/plan.ts';
import { planFleet, planMeta } from '../../workflow/plan.ts';
import { PlanJsonWriter } from '../../report/plan-stream.ts';
import { renderPlanMarkdown } from '../../report/plan-markdown.ts';
import { renderPlanText } from '../../report/plan-text.ts';
import { safeText } from '../../report/safe-text.ts';
import { styleFor } from '../../report/style.ts';
import type { CliIo } from '../io.ts';
import { defaultAuditLog } from '../apply-records.ts';
import { AtomicFile } from '../atomic-file.ts';
import { preflightReplace } from '../output-files.ts';
import { trackConnection } from '../signals.ts';
import { refuseSameFiles } from '../same-file.ts';
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

export async function planCommand(opts: PlanOptions, io: CliIo): Promise<number> {
  const selected = selectHostsForCli({ ...opts, json: opts.format !== 'text' }, io);
  // checked before any host is contacted; written atomically (a reader never sees half a plan)
  const out =
    opts.out === undefined
      ? undefined
      : preflightReplace(resolve(io.cwd, opts.out), `--out ${opts.out}`);
  // a plan renamed over the audit log would erase its history
  if (out !== undefined) {
    const audit = defaultAuditLog(io.env);
    refuseSameFiles([{ label: `the audit log ${audit}`, path: audit }, out]);
  }
  const o = {
    forks: parseForks(opts.forks, selected.config.rollout.forks),
    open: connectorForCli(io),
    kpfleetVersion: VERSION,
    limit: opts.limit,
  };
  // the plan is written host by host as each is planned (to --out, else as JSON to stdout); the
  // renderers of text and markdown group hosts, so only they keep every host's plan
  const now = Date.now();
  const head = buildPlan([], planMeta(selected, o, now));
  const file = out === undefined ? undefined : new AtomicFile(out);
  // a stop signal while the hosts are read removes the unfinished file (signals.ts)
  const stop =
    file &&
    trackConnection({
      close: () => {
        file.abort();
        return Promise.resolve();
      },
    });
  const json = new PlanJsonWriter((t) => {
    if (file) file.write(t);
    else io.stdout.write(t);
  });
  const streamed = file !== undefined || opts.format === 'json';
  const tally = new PlanTally();
  const kept: HostPlan[] = [];
  let plan: Plan;
  try {
    if (streamed) json.begin(head);
    await planFleet(
      selected,
      { ...o, now },
      (x) => x.plan,
      (h) => {
        tally.add(h);
        if (streamed) json.host(h);
        if (opts.format !== 'json') kept.push(h);
      },
    );
    plan = { ...head, hosts: kept, summary: tally.summary() };
    if (streamed) json.end(plan);
    file?.commit();
  } catch (err) {
    file?.abort();
    throw err;
  } finally {
    await stop?.close();
  }
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
  return planExitCode(plan.summary, tally.errorFinding, opts.detailedExitcode === true);
}
