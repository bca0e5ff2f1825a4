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
 */
import { FILE_NAME_MAX, KERNEL_RELEASE, MODULE_NAME } from '../../util/names.ts';
import { trimEndChars } from '../../util/text.ts';
import { FACTS_LIMITS } from './fields.ts';

/** The `[state]` marker of a Loaded line (0.5.0+), from `enabled` × `transition` (§3.1). */
export type LoadedState = 'enabled' | 'disabled' | 'enabling...' | 'disabling...';

export const LOADED_STATES: readonly LoadedState[] = [
  'enabled',
  'disabled',
  'enabling...',
  'disabling...',
];

/**
 * Which `list` format the Loaded section was written in:
 * - `'0.4'`: bare names, only enabled patches are listed (kpatch ≤0.4.x, §3.3);
 * - `'markers'`: `name [state]` (0.5.0+, §3.1);
 * - `'unknown'`: nothing loaded, and the text is the same in every version (§3.2).
 */
export type KpatchListFormat = '0.4' | 'markers' | 'unknown';

/** One line of the Loaded section: a directory of `/sys/kernel/livepatch` (§3.1, §5.1). */
export interface LoadedEntry {
  /** The in-kernel patch name (the sysfs directory name; underscores, §5.1). */
  name: string;
  /** The marker; absent in the ≤0.4 format, which lists only enabled patches (§3.3). */
  state?: LoadedState;
  /**
   * RHEL 0.9.10-20: the TAB-indented `CVE-YYYY-NNNN` lines under this entry, as printed (§3.4).
   * Advisory only: the script looks them up by the last module file it read, which may belong
   * to another package.
   */
  cves: string[];
  /** Other TAB-indented lines under this entry (§3.6: accepted, not interpreted); as printed. */
  otherIndented?: string[];
}

/** One line of the Installed section: a file `/var/lib/kpatch/<kernel>/<file>` (§3.1, §4.1). */
export interface InstalledEntry {
  /**
   * The name as listed: the file's basename without `.ko`, `-` → `_` (§1.3). It is derived from
   * the file name, NOT read from the module: a renamed file or a custom-named build loads under a
   * different in-kernel name. In the ≤0.4 format, non-`.ko` files are listed too (§3.3).
   */
  name: string;
  /** Says so in the data: `name` comes from the file name (§1.3). */
  nameFrom: 'file-name';
  /** The kernel directory name (the `(kver)` part): the release it is installed for. */
  kernel: string;
}

/** One task of the "Stalled processes:" block (§3.1). */
export interface StalledTask {
  /** The task id as printed (`/proc/<pid>/task/<tid>`; the pid for a single-threaded process). */
  pid: number;
  /** `/proc/…/comm`, the rest of the line. */
  comm: string;
  /**
   * The kernel stack lines after `stack:` (0.9.2+). Empty when `stack:` is followed by nothing
   * (non-root cannot read stacks); absent before 0.9.2, which prints no `stack:` line.
   */
  stack?: string[];
}

/** One row of the 0.9.11 "Currently livepatched functions:" table (§3.5). */
export interface LivepatchedFunction {
  /** The patch module whose version of the function runs (highest `stack_order`). */
  module: string;
  /** `vmlinux` or the name of the patched module. */
  object: string;
  /** The function name (the sysfs directory name before the last comma). */
  function: string;
  /** The n-th occurrence of the symbol in kallsyms for the object (0 is shown as 1, §5.1). */
  sympos: number;
  /** The row ended in `(transition)`: the module is in transition. */
  transition: boolean;
}

export interface KpatchListParsed {
  ok: true;
  format: KpatchListFormat;
  loaded: LoadedEntry[];
  /** Every kernel directory, not only the running kernel's; may repeat a name (§1.3). */
  installed: InstalledEntry[];
  /** Present iff the output had a "Stalled processes:" block (0.5.0+, a patch in transition). */
  stalled?: StalledTask[];
  /** Present iff the output had the 0.9.11 functions table (kernels with `stack_order`). */
  functions?: LivepatchedFunction[];
}

export interface KpatchListError {
  ok: false;
  /** What is wrong and what was expected. */
  error: string;
  /** 1-based line of stdout the error is about; absent when there is no line (empty output). */
  line?: number;
  /** That line as received (without its line ending); '' when there is no line. */
  text: string;
  /** The output has the format, but a name or a count in it is outside what kpfleet accepts. */
  field?: true;
}

export type KpatchListResult = KpatchListParsed | KpatchListError;

/**
 * kpatch's file name → module name rule (§1.3): the basename, a trailing `.ko` stripped, every
 * `-` replaced by `_`; dots and other characters are kept. This is the name `list` shows under
 * "Installed" and the name `load`/`uninstall` match by; it is not necessarily the in-kernel name.
 */
export function normalizeModuleName(fileName: string): string {
  const trimmed = trimEndChars(fileName, '/');
  const base = trimmed.slice(trimmed.lastIndexOf('/') + 1);
  // like basename(1) with a suffix: a name that is only `.ko` keeps it
  const stem = base.endsWith('.ko') && base.length > 3 ? base.slice(0, -3) : base;
  return stem.replaceAll('-', '_');
}

const LOADED_HEADER = 'Loaded patch modules:';
const STALLED_HEADER = 'Stalled processes:';
const INSTALLED_HEADER = 'Installed patch modules:';
const FUNCTIONS_HEADER = 'Currently livepatched functions:';
const HEADERS = [LOADED_HEADER, STALLED_HEADER, INSTALLED_HEADER, FUNCTIONS_HEADER];
const TABLE_HEADER = ['Module', 'Object', 'Function/Occurrence'];

const MARKED_LINE = /^(\S+) \[([^\]]*)\]$/;
const BARE_LINE = /^\S+$/;
const CVE_LINE = /^CVE-\d{4}-\d{4,}$/;
const INSTALLED_LINE = /^(\S+) \((\S+)\)$/;
/** `<tid> <comm>`: the comm as printed, any characters (`s`: a CR or U+2028 in it too), or none. */
const TASK_LINE = /^(\d{1,10})(?: (.*))?$/s;
const OCCURRENCE = /^(\S+),(\d{1,10})$/;
/** A kernel symbol name (KSYM_NAME_LEN is 512 with its NUL). */
const SYMBOL_MAX = 511;

type Section = 'start' | 'loaded' | 'stalled' | 'installed' | 'table-header' | 'functions';

/** Internal: unwinds the parser to parseKpatchList, which turns it into `ok: false`. */
class ParseFailure extends Error {
  readonly line: number;
  readonly field: boolean;
  constructor(message: string, line: number, field: boolean) {
    super(message);
    this.line = line;
    this.field = field;
  }
}

function fail(line: number, error: string): never {
  throw new ParseFailure(error, line, false);
}

/** A value outside its bounds: the format is right, the value is refused. */
function refuse(line: number, error: string): never {
  throw new ParseFailure(error, line, true);
}

function checkModuleName(name: string, what: string, n: number): void {
  if (!MODULE_NAME.test(name))
    refuse(n, `${what} is not a kernel module name (1 to 55 characters of [A-Za-z0-9_])`);
}

function checkCount(count: number, max: number, what: string, n: number): void {
  if (count >= max) refuse(n, `more than ${String(max)} ${what}`);
}

function isLoadedState(s: string): s is LoadedState {
  return (LOADED_STATES as readonly string[]).includes(s);
}

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
          const text = line.slice(1).trim();
          if (CVE_LINE.test(text)) entry.cves.push(text);
          else (entry.otherIndented ??= []).push(text);
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
        const m = INSTALLED_LINE.exec(line);
        if (m === null) {
          fail(n, `malformed installed line: expected '<name> (<kernel release>)'`);
        }
        const [, name = '', kernel = ''] = m;
        if (name.length > FILE_NAME_MAX)
          refuse(n, `an installed name longer than ${String(FILE_NAME_MAX)} characters`);
        if (!KERNEL_RELEASE.test(kernel))
          refuse(
            n,
            `'${kernel}' is not a kernel release (1 to 128 characters of [A-Za-z0-9._+~-])`,
          );
        checkCount(installed.length, FACTS_LIMITS.entries, 'installed modules', n);
        installed.push({ name, nameFrom: 'file-name', kernel });
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

/** The Stalled block as read so far: its tasks (the first ones), and the task being read. */
interface StalledState {
  tasks: StalledTask[];
  task?: StalledTask;
}

/**
 * One line of the Stalled block (§3.1): `<tid> <comm>`, `stack:`, or a line of that task's stack.
 * A comm is anyone's to set and kpatch prints it as is: it may be empty, or hold newlines. So a
 * line after `<tid> <comm>` and before `stack:` continues the comm, and a second `stack:` shows
 * that the first (and what followed it) was part of the comm. Nothing a comm holds can make the
 * block malformed; only a first line that is no task is. Each line is read once; the comm and
 * the stack are bounded (FACTS_LIMITS.text, .stack).
 */
function readStalledLine(line: string, st: StalledState, n: number): void {
  const m = TASK_LINE.exec(line);
  if (m !== null) {
    st.task = { pid: Number(m[1]), comm: m[2] ?? '' };
    // a machine with many threads may list thousands: the first ones are kept
    if (st.tasks.length < FACTS_LIMITS.tasks) st.tasks.push(st.task);
    return;
  }
  const task = st.task;
  if (task === undefined)
    fail(n, `expected '<pid> <comm>' as the first line of '${STALLED_HEADER}'`);
  if (line === 'stack:') {
    // the kernel's stack never holds this line: the first `stack:` was the comm's
    if (task.stack !== undefined) task.comm = moreComm(task.comm, ['stack:', ...task.stack]);
    task.stack = [];
    return;
  }
  if (task.stack === undefined) task.comm = moreComm(task.comm, [line]);
  else if (task.stack.length < FACTS_LIMITS.stack) task.stack.push(line);
}

/** A comm with more of its lines, at most FACTS_LIMITS.text characters (facts cut it there). */
function moreComm(comm: string, lines: readonly string[]): string {
  let out = comm;
  for (const l of lines) {
    if (out.length >= FACTS_LIMITS.text) break;
    out = `${out}\n${l}`.slice(0, FACTS_LIMITS.text);
  }
  return out;
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

function parseLoaded(line: string, n: number): LoadedEntry {
  const m = MARKED_LINE.exec(line);
  if (m !== null) {
    const state = m[2] ?? '';
    if (!isLoadedState(state)) {
      return fail(
        n,
        `unknown state marker '[${state}]': expected one of ${LOADED_STATES.map((s) => `[${s}]`).join(', ')}`,
      );
    }
    return { name: m[1] ?? '', state, cves: [] };
  }
  if (BARE_LINE.test(line) && !line.includes('[')) {
    return { name: line, cves: [] };
  }
  return fail(
    n,
    `malformed loaded line: expected '<name> [<state>]' (or a bare name, ≤0.4) or a section header`,
  );
}

function parseFunctionRow(line: string, n: number): LivepatchedFunction {
  const cols = line.trim().split(/\s+/);
  const [module, object, occurrence, marker, ...rest] = cols;
  if (
    module === undefined ||
    object === undefined ||
    occurrence === undefined ||
    rest.length > 0 ||
    (marker !== undefined && marker !== '(transition)')
  ) {
    return fail(
      n,
      `malformed livepatched-functions row: expected '<module> <object> <function>,<sympos> [(transition)]'`,
    );
  }
  const occ = OCCURRENCE.exec(occurrence);
  if (occ === null) {
    return fail(n, `malformed Function/Occurrence '${occurrence}': expected '<function>,<sympos>'`);
  }
  checkModuleName(module, `patch module '${module}'`, n);
  if (object !== 'vmlinux') checkModuleName(object, `patched object '${object}'`, n);
  if ((occ[1] ?? '').length > SYMBOL_MAX)
    refuse(n, `a function name longer than ${String(SYMBOL_MAX)} characters`);
  return {
    module,
    object,
    function: occ[1] ?? '',
    sympos: Number(occ[2]),
    transition: marker !== undefined,
  };
}
