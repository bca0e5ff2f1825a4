/**
 * docs/reliability.md from the fault matrix's results: the hand-written part (everything above
 * the GENERATED marker) is kept as it is; the table below it is written anew, the same for the
 * same results (names, times and ids are normalised by the suite). Prettier formats it, so
 * `format:check` stays green after a run.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Result, Row } from './rows.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const FILE = join(ROOT, 'docs/reliability.md');
export const GENERATED =
  '<!-- Below: written by `npm run test:faults` (test/faults); do not edit. -->';

const HEADER = `# Reliability: the fault matrix

(hand-written part: edit above the marker)

${GENERATED}
`;

/** Markdown table cell: no pipe, no newline, host text in a code span. */
const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const code = (s: string): string => (s ? '`' + s.replace(/`/g, "'") + '`' : '');

function verdict(row: Row, r: Result | undefined): string {
  const e = row.expect;
  if (e.kind === 'pending') return `pending: needs ${e.needs}`;
  if (!r) return 'not run';
  if (e.kind === 'limit') return `limit: ${e.reason}`;
  return 'nothing lost, rerun converges';
}

export function writeReliability(rows: Row[], results: Map<number, Result>): void {
  let head = HEADER;
  try {
    const old = readFileSync(FILE, 'utf8');
    const at = old.indexOf(GENERATED);
    if (at >= 0) head = old.slice(0, at + GENERATED.length) + '\n';
  } catch {
    // first run
  }
  const out = [
    '',
    '| Fault | Phase | Faulted host: outcome, message | Exit | Other host | Rerun | Left half-changed | Verdict |',
    '| --- | --- | --- | --: | --- | --- | --- | --- |',
  ];
  rows.forEach((row, i) => {
    const r = results.get(i);
    const v = verdict(row, r);
    if (!r) {
      out.push(`| ${cell(row.fault)} | ${row.phase} | — | — | — | — | — | ${cell(v)} |`);
      return;
    }
    const host = `${r.outcome}: ${code(r.message)}`;
    const other = r.other + (r.note ? `; ${r.note}` : '');
    const rerun = `${r.rerunOutcome}, exit ${String(r.rerunExit)}; ${r.converged ? 'converged' : 'did not converge'}`;
    const half = r.halfChanged.length ? r.halfChanged.join('; ') : 'nothing';
    out.push(
      `| ${cell(row.fault)} | ${row.phase} | ${cell(host)} | ${String(r.exit)} | ${cell(other)} | ${cell(rerun)} | ${cell(half)} | ${cell(v)} |`,
    );
  });
  writeFileSync(FILE, head + out.join('\n') + '\n');
  execFileSync('npx', ['prettier', '--write', FILE], { cwd: ROOT, stdio: 'ignore' });
}
