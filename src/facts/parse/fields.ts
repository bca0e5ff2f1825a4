/**
 * Bounds on what a host's facts may hold (issue 14): each name checked against the rule the
 * command builders apply later (`util/names.ts`), each list and text bounded. A host that reports
 * something outside them gets a facts error that names the value (E_FACTS_FIELD), and nothing
 * is planned for it: its names never reach a command, its text never a terminal. Pure.
 *
 * The one field an unprivileged user on the host controls, a task's `comm`, is made printable and
 * cut, never refused: no local user can make kpfleet give up on a host.
 */
import { isBareFileName, KERNEL_RELEASE, MODULE_NAME, RPM_NAME } from '../../util/names.ts';

export const FACTS_LIMITS = {
  /** Entries of one list: loaded patches, modules, installed files, kernels, packages. */
  entries: 4096,
  /** Rows of kpatch 0.9.11's livepatched-functions table (a cumulative patch has many). */
  functions: 65_536,
  /** Tasks of a transition kept (the rest are not listed: the host is blocked either way). */
  tasks: 1000,
  /** Kernel stack lines kept per stalled task. */
  stack: 64,
  /** A line of `kpatch list`. */
  line: 4096,
  /** /proc/cmdline (COMMAND_LINE_SIZE is at most a few KiB on every architecture). */
  cmdline: 65_536,
  /** One line of text shown to the user: an os-release value, the kpatch version, a comm. */
  text: 256,
  /** `systemctl is-enabled`'s answer. */
  service: 4096,
} as const;

/** Internal: unwinds parseFacts, which turns it into a facts error about that field. */
export class FieldError extends Error {}

/**
 * Refuses the host's facts with `message` unless `ok`. The message is a function, made only for
 * a value refused: building it (`shown` escapes the value) for every field of every host cost
 * measurable CPU at 10,000 hosts.
 */
export function field(ok: boolean, message: () => string): asserts ok {
  if (!ok) throw new FieldError(message());
}

/**
 * A value as an error message shows it: JSON-escaped (C1 controls too, which JSON leaves as
 * they are and a terminal obeys), long ones cut in the middle.
 */
export function shown(value: string): string {
  const cut = value.length > 120 ? `${value.slice(0, 80)}…${value.slice(-30)}` : value;
  return JSON.stringify(cut).replace(
    /\p{Cc}/gu,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Control characters (C0, DEL, C1): nothing a name or a line of text shown on a terminal may hold. */
const CONTROL = /\p{Cc}/u;
const CONTROL_ALL = /\p{Cc}/gu;

/** Whether `value` holds a control character other than those in `allowed`. */
export function hasControl(value: string, allowed: readonly string[] = []): boolean {
  let rest = value;
  for (const c of allowed) rest = rest.replaceAll(c, ' ');
  return CONTROL.test(rest);
}

export function kernelRelease(value: string, what: string): string {
  field(
    KERNEL_RELEASE.test(value),
    () =>
      `${what} ${shown(value)} is not a kernel release (1 to 128 characters of [A-Za-z0-9._+~-], not starting with "-")`,
  );
  return value;
}

export function moduleName(value: string, what: string): string {
  field(
    MODULE_NAME.test(value),
    () =>
      `${what} ${shown(value)} is not a kernel module name (1 to 55 characters of [A-Za-z0-9_])`,
  );
  return value;
}

export function rpmName(value: string, what: string): string {
  field(
    RPM_NAME.test(value),
    () => `${what} ${shown(value)} is not an RPM name (1 to 256 characters of [A-Za-z0-9._+~^:-])`,
  );
  return value;
}

export function fileName(value: string, what: string): string {
  field(
    isBareFileName(value) && !hasControl(value),
    () =>
      `${what} ${shown(value)} is not a file name kpfleet uses (1 to 255 characters, no "/" or control characters, not "." or "..")`,
  );
  return value;
}

/** One line of printable text, at most `max` characters. */
export function text(value: string, max: number, what: string): string {
  field(
    value.length <= max,
    () => `${what} is longer than ${String(max)} characters: ${shown(value)}`,
  );
  field(!hasControl(value), () => `${what} holds control characters: ${shown(value)}`);
  return value;
}

/** A list read from the host, at most `max` entries. */
export function bounded<T>(list: T[], max: number, what: string): T[] {
  field(
    list.length <= max,
    () => `the host lists ${String(list.length)} ${what}, more than ${String(max)}`,
  );
  return list;
}

/** A task name (/proc/<pid>/comm, anyone's to set): printable, at most FACTS_LIMITS.text. */
export function comm(value: string): string {
  return value.replace(CONTROL_ALL, '?').slice(0, FACTS_LIMITS.text);
}

/** The non-empty lines of a section (without splitting out every empty one first). */
export function lines(text: string): string[] {
  const out: string[] = [];
  for (let at = 0; at < text.length;) {
    const nl = text.indexOf('\n', at);
    const end = nl < 0 ? text.length : nl;
    if (end > at) out.push(text.slice(at, end));
    at = end + 1;
  }
  return out;
}
