/**
 * What a name may be, where kpfleet reads one from a host or puts one into a remote command:
 * kernel releases, module names, RPM names, file names. One place for the rules, so the facts
 * parser (`facts/parse`) refuses exactly what the command builders (`transport/shell.ts`) would
 * refuse later. Pure; every pattern is anchored with bounded repeats (linear, no backtracking).
 */

/** A kernel module name as the kernel lists it: `[A-Za-z0-9_]`, 1–55 (MODULE_NAME_LEN 56). */
export const MODULE_NAME = /^[A-Za-z0-9_]{1,55}$/;

/** What `uname -r` can print: `[A-Za-z0-9._+~-]`, 1–128, not starting with `-`. */
export const KERNEL_RELEASE = /^[A-Za-z0-9._+~][A-Za-z0-9._+~-]{0,127}$/;

/** An RPM name, or name-version-release(.arch): starts with `[A-Za-z0-9_]`, ≤ 256, no globs. */
export const RPM_NAME = /^[A-Za-z0-9_][A-Za-z0-9._+~^:-]{0,255}$/;

/** Longest file name Linux allows in a folder (NAME_MAX). */
export const FILE_NAME_MAX = 255;

/** A file name without a folder: no `/`, not `.` or `..`, no NUL, CR or LF, 1–255 characters. */
export function isBareFileName(value: string): boolean {
  return (
    value.length > 0 &&
    value.length <= FILE_NAME_MAX &&
    value !== '.' &&
    value !== '..' &&
    !/[/\0\r\n]/.test(value)
  );
}
