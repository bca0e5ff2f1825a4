/**
 * `kpfleet status`: read-only, the same host selection and SSH as `plan`. Reads every selected
 * host's facts once and writes the coverage in one or several formats: `--format` on stdout, and
 * each `--out [FORMAT:]FILE` written atomically (a textfile collector or a browser never sees
 * half a file). The exit code says whether every declared CVE is mitigated (docs/exit-codes.md).
 */
import { resolve } from 'node:path';
import { ExitCode, UsageError } from '../../errors.ts';
import { renderStatusText, statusJsonParts } from '../../report/status-text.ts';
import { oneLine } from '../../report/safe-text.ts';
import { plainStyle, styleFor } from '../../report/style.ts';
import type { StatusReport } from '../../status/model.ts';
import { makeStatus } from '../../workflow/status.ts';
import { defaultAuditLog } from '../apply-records.ts';
import type { CliIo } from '../io.ts';
import { parseForks, STATUS_FORMATS } from '../options.ts';
import type { StatusFormat } from '../options.ts';
import type { OutputTarget } from '../output-files.ts';
import { writeFileAtomic } from '../atomic-file.ts';
import { preflightReplace } from '../output-files.ts';
import { refuseSameFiles } from '../same-file.ts';
import { VERSION } from '../version.ts';
import { connectorForCli } from './facts.ts';
import { selectHostsForCli } from './project.ts';

export interface StatusOptions {
  /** `--shard I/N`: only that shard's hosts (`inventory/shard.ts`). */
  shard?: string;
  loginUser?: string;
  config?: string;
  trustSshConfig?: boolean;
  limit?: string;
  forks?: string;
  format: StatusFormat;
  out?: string[];
}

/** A format's text, in pieces (JSON's is never one string: `statusJsonParts`). */
type Render = (r: StatusReport) => string[];

const whole =
  (render: (r: StatusReport) => string): Render =>
  (r) => [render(r)];

/**
 * Each format's renderer (text in a file is never coloured); those of the other formats are
 * loaded only when that format is asked for.
 */
const RENDER: Record<StatusFormat, () => Promise<Render>> = {
  text: () => Promise.resolve(whole((r) => renderStatusText(r, plainStyle) + '\n')),
  json: () => Promise.resolve(statusJsonParts),
  csv: async () => whole((await import('../../report/status-csv.ts')).renderStatusCsv),
  openvex: async () => {
    const { renderStatusOpenVex } = await import('../../report/status-openvex.ts');
    return whole((r) => {
      if (r.hosts.every((h) => h.cves.length === 0))
        throw new UsageError(
          'no CVE is declared for the selected hosts, and an OpenVEX document needs at least one statement: list the CVEs each patch fixes (cves: in kpfleet.yml)',
        );
      return renderStatusOpenVex(r);
    });
  },
  openmetrics: async () =>
    whole((await import('../../report/status-metrics.ts')).renderStatusMetrics),
  html: async () => whole((await import('../../report/status-html.ts')).renderStatusHtml),
};

/** `--out html:status.html` → html to status.html; a bare FILE takes `--format`. */
export function parseOut(
  value: string,
  fallback: StatusFormat,
  cwd: string,
): { format: StatusFormat; target: OutputTarget; written: string; bare: boolean } {
  const m = /^([a-z]+):(.*)$/.exec(value);
  const named = m !== null && (STATUS_FORMATS as readonly string[]).includes(m[1] ?? '');
  if (named && m[2] === '')
    throw new UsageError(`--out ${value} names no file: write --out ${value}FILE`);
  const format = named ? (m[1] as StatusFormat) : fallback;
  const file = named ? (m[2] ?? '') : value;
  return {
    format,
    target: preflightReplace(resolve(cwd, file), `--out ${value}`),
    written: file,
    bare: !named,
  };
}

/**
 * 4 if a host was not reached; 1 if a host is exposed, uncovered or its facts failed (a declared
 * CVE is not mitigated, or may not be); else 0.
 */
export function statusExitCode(r: StatusReport): number {
  const s = r.summary.states;
  if ((s.unreachable ?? 0) > 0) return ExitCode.unreachable;
  if ((s.exposed ?? 0) + (s.uncovered ?? 0) + (s.error ?? 0) > 0) return ExitCode.changeFailed;
  return ExitCode.ok;
}

export async function statusCommand(opts: StatusOptions, io: CliIo): Promise<number> {
  const selected = selectHostsForCli({ ...opts, json: opts.format !== 'text' }, io);
  // every output checked before any host is contacted
  const outs = (opts.out ?? []).map((o) => parseOut(o, opts.format, io.cwd));
  if (outs.length > 0) {
    const audit = defaultAuditLog(io.env);
    refuseSameFiles([
      { label: `the audit log ${audit}`, path: audit },
      ...outs.map((o) => o.target),
    ]);
  }
  const report = await makeStatus(selected, {
    forks: parseForks(opts.forks, selected.config.rollout.forks),
    open: connectorForCli(io),
    kpfleetVersion: VERSION,
    limit: opts.limit,
  });
  // render everything before writing anything: a format that cannot be made leaves no file
  const rendered: (ReturnType<typeof parseOut> & { text: string[] })[] = [];
  for (const o of outs) rendered.push({ ...o, text: (await RENDER[o.format]())(report) });
  // --format goes to stdout, unless a bare --out FILE took it
  const toStdout = !outs.some((o) => o.bare);
  const stdout = !toStdout
    ? []
    : opts.format === 'text'
      ? [renderStatusText(report, styleFor(io.stdout, io.env)) + '\n']
      : (await RENDER[opts.format]())(report);
  for (const o of rendered) writeFileAtomic(o.target, o.text);
  for (const text of stdout) io.stdout.write(text);
  for (const o of rendered)
    io.stderr.write(`Status (${o.format}) written to ${oneLine(o.written)}\n`);
  return statusExitCode(report);
}
