/**
 * What `kpatch list` stdout is read into (parseKpatchList in kpatch-list.ts): the loaded and
 * installed modules, the Stalled block's tasks, the livepatched-functions table, the format seen,
 * or why the output was refused; and kpatch's file name → module name rule.
 */
import { trimEndChars } from '../../util/text.ts';

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
