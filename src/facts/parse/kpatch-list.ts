/**
 * `kpatch list` stdout → data, for every format a fleet shows (docs/kpatch-behaviour.md §3):
 * ≤0.4.0 bare enabled names (§3.3), the 0.5.0+ `[state]` markers and "Stalled processes:" block
 * (§3.1), RHEL 0.9.10-20 TAB-indented CVE lines (§3.4) and the 0.9.11 "Currently livepatched
 * functions:" table (§3.5). Line by line on the known headers, never by splitting on blank lines
 * (§3.6).
 *
 * Tolerant where real output varies: CRLF (a pty), trailing spaces, a missing final newline,
 * extra blank lines before a header or at the end. Strict where a misparse would give a wrong
 * plan: an unknown marker, a line that belongs to no section, a malformed installed or table
 * line, a missing section (truncated output) all give `ok: false` with the line number and its
 * text. Except in the Stalled block, whose task names (comm) any local user of the host sets:
 * kpatch prints them as they are, newlines included, so nothing a comm holds is an error there
 * (`readStalledLine`). Bounded (issue 14): a line longer than 4096 characters, a name outside its rule (module
 * names, kernel releases, file names), more entries than a host has give `ok: false` with
 * `field: true`; only the first 1000 stalled tasks are kept. Linear in the output: one pass, no
 * regular expression that can backtrack over more than a bounded line. Never throws. Pure.
 *
 * Here: the sections' grammar (which header may follow which, where the output may end). Each
 * line's own format is in kpatch-list-lines.ts, the data read into in kpatch-list-model.ts.
 */
import { FACTS_LIMITS } from './fields.ts';
import {
  FUNCTIONS_HEADER,
  HEADERS,
  INSTALLED_HEADER,
  LOADED_HEADER,
  ParseFailure,
  STALLED_HEADER,
  TABLE_HEADER,
  checkCount,
  checkModuleName,
  fail,
  parseFunctionRow,
  parseInstalled,
  parseLoaded,
  readIndentedLine,
  readStalledLine,
  refuse,
} from './kpatch-list-lines.ts';
import type { StalledState } from './kpatch-list-lines.ts';
import type {
  InstalledEntry,
  KpatchListFormat,
  KpatchListParsed,
  KpatchListResult,
  LivepatchedFunction,
  LoadedEntry,
  StalledTask,
} from './kpatch-list-model.ts';

type Section = 'start' | 'loaded' | 'stalled' | 'installed' | 'table-header' | 'functions';

/** Parses `kpatch list` stdout. Never throws: output that does not parse is `ok: false`. */
export function parseKpatchList(stdout: string): KpatchListResult {
  if (stdout.trim() === '') {
    return { ok: false, error: `no output: expected '${LOADED_HEADER}'`, text: '' };
  }
  const at: Position = { n: 0, text: '', lastN: 0, lastText: '' };
  try {
    return parseLines(stdout, at);
  } catch (e) {
    if (!(e instanceof ParseFailure)) throw e;
    return {
      ok: false,
      error: e.message,
      line: e.line,
      text: e.line === at.n ? at.text : e.line === at.lastN ? at.lastText : '',
      ...(e.field ? { field: true as const } : {}),
    };
  }
}

/** Where the parser is: the line it reads, and the last line that was not blank (1-based). */
interface Position {
  n: number;
  text: string;
  lastN: number;
  lastText: string;
}

function parseLines(stdout: string, at: Position): KpatchListParsed {
  const loaded: LoadedEntry[] = [];
  const loadedNames = new Set<string>();
  const stalledState: StalledState = { tasks: [] };
  const installed: InstalledEntry[] = [];
  let stalled: StalledTask[] | undefined;
  let functions: LivepatchedFunction[] | undefined;
  let format: KpatchListFormat = 'unknown';
  let section: Section = 'start';
  let afterBlank = false;

  // line by line, each cut out when it is read (never the whole output split at once)
  for (let from = 0; from < stdout.length;) {
    const nl = stdout.indexOf('\n', from);
    const end = nl < 0 ? stdout.length : nl;
    const n = ++at.n;
    const rawLine = stdout.slice(from, stdout.charCodeAt(end - 1) === 13 ? end - 1 : end);
    from = end + 1;
    at.text = rawLine;
    if (rawLine.length > FACTS_LIMITS.line)
      refuse(n, `a line longer than ${String(FACTS_LIMITS.line)} characters`);
    const line = rawLine.trimEnd();
    if (line === '') {
      afterBlank = true;
      continue;
    }
    at.lastN = n;
    at.lastText = rawLine;

    if (HEADERS.includes(line)) {
      section = enterSection(line, section, format, n);
      if (line === STALLED_HEADER) stalled = stalledState.tasks;
      if (line === FUNCTIONS_HEADER) functions = [];
      afterBlank = false;
      continue;
    }
    if (section === 'start') {
      fail(n, `expected '${LOADED_HEADER}' as the first line`);
    }
    // in the Stalled block a blank line may be part of a comm (anyone's to set): skipped there
    if (afterBlank && section !== 'stalled') {
      fail(
        n,
        `line in no section: after a blank line kpatch prints a section header (${expectedHeaders(section)})`,
      );
    }

    switch (section) {
      case 'loaded': {
        if (line.startsWith('\t')) {
          const entry = loaded.at(-1);
          if (entry === undefined) {
            fail(n, 'TAB-indented line before any loaded module: it belongs to no entry');
          }
          readIndentedLine(line, entry);
          continue;
        }
        const entry = parseLoaded(line, n);
        const lineFormat: KpatchListFormat = entry.state === undefined ? '0.4' : 'markers';
        if (format !== 'unknown' && format !== lineFormat) {
          fail(
            n,
            lineFormat === '0.4'
              ? `a bare name among '<name> [<state>]' lines: expected '<name> [<state>]'`
              : `a '[state]' marker among bare names (≤0.4 format): expected a bare module name`,
          );
        }
        format = lineFormat;
        if (loadedNames.has(entry.name)) {
          fail(n, `module '${entry.name}' is listed twice under '${LOADED_HEADER}'`);
        }
        checkModuleName(entry.name, `loaded module '${entry.name}'`, n);
        checkCount(loaded.length, FACTS_LIMITS.entries, 'loaded modules', n);
        loadedNames.add(entry.name);
        loaded.push(entry);
        continue;
      }
      case 'stalled':
        readStalledLine(line, stalledState, n);
        continue;
      case 'installed': {
        const entry = parseInstalled(line, n);
        checkCount(installed.length, FACTS_LIMITS.entries, 'installed modules', n);
        installed.push(entry);
        continue;
      }
      case 'table-header': {
        const cols = line.split(/\s+/);
        if (cols.join(' ') !== TABLE_HEADER.join(' ')) {
          fail(n, `expected the table header '${TABLE_HEADER.join('  ')}'`);
        }
        section = 'functions';
        continue;
      }
      case 'functions': {
        const rows = functions ?? [];
        checkCount(rows.length, FACTS_LIMITS.functions, 'livepatched functions', n);
        rows.push(parseFunctionRow(line, n));
        continue;
      }
    }
  }

  const end = (msg: string): never => fail(at.lastN, msg);
  switch (section) {
    case 'start':
      return end(`expected '${LOADED_HEADER}' as the first line`);
    case 'loaded':
    case 'stalled':
      return end(`output ends before '${INSTALLED_HEADER}' (truncated output?)`);
    case 'table-header':
      return end(
        `output ends after '${FUNCTIONS_HEADER}' without the table (no 'column' tool? kpatch then exits 127)`,
      );
    case 'installed':
    case 'functions':
      break;
  }

  const result: KpatchListParsed = { ok: true, format, loaded, installed };
  if (stalled !== undefined) result.stalled = stalled;
  if (functions !== undefined) result.functions = functions;
  return result;
}

function enterSection(
  header: string,
  section: Section,
  format: KpatchListFormat,
  n: number,
): Section {
  const where = `'${header}' out of order`;
  switch (header) {
    case LOADED_HEADER:
      if (section !== 'start') fail(n, `a second '${LOADED_HEADER}'`);
      return 'loaded';
    case STALLED_HEADER:
      if (section !== 'loaded') fail(n, `${where}: it only follows the loaded modules`);
      if (format === '0.4') {
        fail(n, `'${STALLED_HEADER}' with bare loaded names: the ≤0.4 format has no such block`);
      }
      return 'stalled';
    case INSTALLED_HEADER:
      if (section !== 'loaded' && section !== 'stalled') fail(n, `${where} or repeated`);
      return 'installed';
    default: // FUNCTIONS_HEADER
      if (section !== 'installed') fail(n, `${where}: it only follows the installed modules`);
      if (format === '0.4') {
        fail(n, `'${FUNCTIONS_HEADER}' with bare loaded names: only 0.9.11 prints this table`);
      }
      return 'table-header';
  }
}

function expectedHeaders(section: Section): string {
  switch (section) {
    case 'start':
      return `'${LOADED_HEADER}'`;
    case 'loaded':
      return `'${STALLED_HEADER}' or '${INSTALLED_HEADER}'`;
    case 'stalled':
      return `'${INSTALLED_HEADER}'`;
    case 'installed':
    case 'table-header':
    case 'functions':
      return `'${FUNCTIONS_HEADER}'`;
  }
}
