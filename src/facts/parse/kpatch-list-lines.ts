/**
 * The lines of `kpatch list` stdout, one format each (docs/kpatch-behaviour.md §3): the section
 * headers, a Loaded line (bare ≤0.4 name or 0.5.0+ `name [state]`), an Installed line, a line of
 * the Stalled block (comm and stack, anyone's to set), a row of the 0.9.11 functions table; each
 * checked against its bounds. A line that does not fit throws a ParseFailure, which
 * parseKpatchList turns into `ok: false`.
 */
import { FILE_NAME_MAX, KERNEL_RELEASE, MODULE_NAME } from '../../util/names.ts';
import { FACTS_LIMITS } from './fields.ts';
import { LOADED_STATES } from './kpatch-list-model.ts';
import type {
  InstalledEntry,
  LivepatchedFunction,
  LoadedEntry,
  LoadedState,
  StalledTask,
} from './kpatch-list-model.ts';

export const LOADED_HEADER = 'Loaded patch modules:';
export const STALLED_HEADER = 'Stalled processes:';
export const INSTALLED_HEADER = 'Installed patch modules:';
export const FUNCTIONS_HEADER = 'Currently livepatched functions:';
export const HEADERS = [LOADED_HEADER, STALLED_HEADER, INSTALLED_HEADER, FUNCTIONS_HEADER];
export const TABLE_HEADER = ['Module', 'Object', 'Function/Occurrence'];

const MARKED_LINE = /^(\S+) \[([^\]]*)\]$/;
const BARE_LINE = /^\S+$/;
const CVE_LINE = /^CVE-\d{4}-\d{4,}$/;
const INSTALLED_LINE = /^(\S+) \((\S+)\)$/;
/** `<tid> <comm>`: the comm as printed, any characters (`s`: a CR or U+2028 in it too), or none. */
const TASK_LINE = /^(\d{1,10})(?: (.*))?$/s;
const OCCURRENCE = /^(\S+),(\d{1,10})$/;
/** A kernel symbol name (KSYM_NAME_LEN is 512 with its NUL). */
const SYMBOL_MAX = 511;

/** Unwinds the parser to parseKpatchList, which turns it into `ok: false`. */
export class ParseFailure extends Error {
  readonly line: number;
  readonly field: boolean;
  constructor(message: string, line: number, field: boolean) {
    super(message);
    this.line = line;
    this.field = field;
  }
}

/** A line that does not fit the format. */
export function fail(line: number, error: string): never {
  throw new ParseFailure(error, line, false);
}

/** A value outside its bounds: the format is right, the value is refused. */
export function refuse(line: number, error: string): never {
  throw new ParseFailure(error, line, true);
}

export function checkModuleName(name: string, what: string, n: number): void {
  if (!MODULE_NAME.test(name))
    refuse(n, `${what} is not a kernel module name (1 to 55 characters of [A-Za-z0-9_])`);
}

export function checkCount(count: number, max: number, what: string, n: number): void {
  if (count >= max) refuse(n, `more than ${String(max)} ${what}`);
}

function isLoadedState(s: string): s is LoadedState {
  return (LOADED_STATES as readonly string[]).includes(s);
}

/** One line of the Installed section: `<name> (<kernel release>)`. */
export function parseInstalled(line: string, n: number): InstalledEntry {
  const m = INSTALLED_LINE.exec(line);
  if (m === null) {
    fail(n, `malformed installed line: expected '<name> (<kernel release>)'`);
  }
  const [, name = '', kernel = ''] = m;
  if (name.length > FILE_NAME_MAX)
    refuse(n, `an installed name longer than ${String(FILE_NAME_MAX)} characters`);
  if (!KERNEL_RELEASE.test(kernel))
    refuse(n, `'${kernel}' is not a kernel release (1 to 128 characters of [A-Za-z0-9._+~-])`);
  return { name, nameFrom: 'file-name', kernel };
}

/** A TAB-indented line under a loaded module (RHEL 0.9.10-20, §3.4): a CVE, or kept as other. */
export function readIndentedLine(line: string, entry: LoadedEntry): void {
  const text = line.slice(1).trim();
  if (CVE_LINE.test(text)) entry.cves.push(text);
  else (entry.otherIndented ??= []).push(text);
}

export function parseLoaded(line: string, n: number): LoadedEntry {
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

export function parseFunctionRow(line: string, n: number): LivepatchedFunction {
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

/** The Stalled block as read so far: its tasks (the first ones), and the task being read. */
export interface StalledState {
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
export function readStalledLine(line: string, st: StalledState, n: number): void {
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
