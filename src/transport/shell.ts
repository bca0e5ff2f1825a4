/**
 * Every remote command kpfleet runs is built here, from argv words, by one quoting function.
 *
 * The target is a POSIX shell (`sh`, `dash`, `bash`, `ksh`, `zsh`): SSH hands the command string
 * to the remote user's login shell as `$SHELL -c <string>`, and `withBecome` hands it once more
 * to `sh -c` under sudo. Single quotes are the one quoting form those shells all read the same
 * way: nothing inside them is special, not even a backslash or a newline, so a word is wrapped in
 * `'…'` and each `'` in it becomes `'\''` (close, an escaped quote, reopen). csh/tcsh and fish
 * login shells read `!` and newlines differently and are not supported.
 *
 * Validators (`assertModuleName`, …) check names before they reach a shell at all; quoting makes
 * any word safe, the validators make sure the word is the kind of name it claims to be.
 */
import type { Become } from '../connection.ts';
import { UnsafeArgumentError } from '../errors.ts';
import { isBareFileName, KERNEL_RELEASE, MODULE_NAME, RPM_NAME } from '../util/names.ts';

/** Words that need no quotes: no character here is special to a POSIX shell. */
const SAFE_WORD = /^[A-Za-z0-9_./:=@%+,-]+$/;

/**
 * A bare word in command position must not read as an assignment (`A=b cmd`) or a reserved word
 * (`if`, `time`, …); such a word is quoted there, and a quoted reserved word is a command name.
 */
const SAFE_COMMAND_NAME = /^[A-Za-z0-9_./:@%+,-]+$/;
const RESERVED = new Set([
  'if',
  'then',
  'else',
  'elif',
  'fi',
  'case',
  'esac',
  'for',
  'select',
  'while',
  'until',
  'do',
  'done',
  'in',
  'function',
  'time',
  'coproc',
  'foreach',
  'repeat',
  'nocorrect',
]);

/** A lone UTF-16 surrogate has no UTF-8 encoding: it would arrive as U+FFFD, not as written. */
const LONE_SURROGATE = /\p{Cs}/u;

function checkWord(arg: string, field: string): void {
  if (arg.includes('\0')) {
    throw new UnsafeArgumentError(
      field,
      arg,
      'it contains a NUL byte, which no shell argument can carry',
    );
  }
  if (LONE_SURROGATE.test(arg)) {
    throw new UnsafeArgumentError(
      field,
      arg,
      'it contains a lone UTF-16 surrogate, which has no UTF-8 encoding',
    );
  }
}

function singleQuote(arg: string): string {
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/**
 * One shell word that a POSIX shell reads back as exactly `arg`, byte for byte. Safe words stay
 * bare; anything else is single-quoted, the empty string included (`''`).
 * @throws UnsafeArgumentError if `arg` holds a NUL byte or a lone surrogate.
 */
export function quote(arg: string): string {
  checkWord(arg, 'shell argument');
  return SAFE_WORD.test(arg) ? arg : singleQuote(arg);
}

/** How `$'…'` writes the control characters that have a name. */
const C_ESCAPES: Record<string, string> = {
  '\n': '\\n',
  '\t': '\\t',
  '\r': '\\r',
  '\x1b': '\\e',
};

/** One character inside `$'…'`: a lone surrogate as U+FFFD, other control characters as bytes. */
function dollarChar(ch: string): string {
  if (ch === '\\' || ch === "'") return '\\' + ch;
  const bytes = LONE_SURROGATE.test(ch) ? Buffer.from('\ufffd') : Buffer.from(ch, 'utf8');
  if (!LONE_SURROGATE.test(ch) && !/\p{Cc}/u.test(ch)) return ch;
  return (
    C_ESCAPES[ch] ?? Array.from(bytes, (b) => `\\x${b.toString(16).padStart(2, '0')}`).join('')
  );
}

/** `$'…'` (bash, zsh, ksh): every byte readable, control characters as escapes. */
function dollarQuote(word: string): string {
  let out = '';
  for (const ch of word) out += dollarChar(ch);
  return `$'${out}'`;
}

/**
 * A command as a message or hint shows it, for a person to read and paste into their own shell:
 * each word as `quote` writes it (so `$(id)` shows as `'$(id)'`), and a word holding a control
 * character as `$'…'` with escapes, so that nothing unprintable reaches the terminal. Never
 * throws: it describes a command, it does not build one to run.
 */
export function showCommand(argv: readonly string[]): string {
  return argv
    .map((w) =>
      /[\p{Cc}\p{Cs}]/u.test(w) ? dollarQuote(w) : SAFE_WORD.test(w) ? w : singleQuote(w),
    )
    .join(' ');
}

/** `quote`, for the first word of a command: assignments and reserved words are quoted too. */
function quoteCommandName(arg: string): string {
  checkWord(arg, 'command name');
  return SAFE_COMMAND_NAME.test(arg) && !RESERVED.has(arg) ? arg : singleQuote(arg);
}

/**
 * A simple command that runs `argv[0]` with the arguments `argv[1…]`, each word quoted.
 * @throws UnsafeArgumentError for an empty argv or an unquotable word.
 */
export function shellCommand(argv: readonly string[]): string {
  const [name, ...args] = argv;
  if (name === undefined) {
    throw new UnsafeArgumentError('command', '', 'a command needs at least one word');
  }
  return [quoteCommandName(name), ...args.map(quote)].join(' ');
}

/** What `sh` accepts in an interpolation: a word, a number, or several words. */
export type ShellValue = string | number | readonly (string | number)[];

function quoteValue(value: ShellValue): string {
  if (typeof value === 'number') return quote(String(value));
  if (typeof value === 'string') return quote(value);
  return value.map((v) => quote(String(v))).join(' ');
}

/**
 * Tagged template for remote commands: the literal text is shell code, written as the shell will
 * read it (taken raw: backslashes reach the shell); every interpolation is quoted; an array
 * becomes several words (none when empty).
 *
 * ```ts
 * sh`kpatch load ${path}`            // kpatch load '/var/lib/kpatch/a b.ko'
 * sh`rpm -q ${names} 2>/dev/null`    // rpm -q kpatch-patch-1 kpatch-patch-2 2>/dev/null
 * ```
 */
export function sh(strings: TemplateStringsArray, ...values: readonly ShellValue[]): string {
  let out = strings.raw[0] ?? '';
  values.forEach((value, i) => {
    out += quoteValue(value) + (strings.raw[i + 1] ?? '');
  });
  return out;
}

/**
 * The command to send for `become`: with sudo, `sudo -n -- sh -c '<command>'`; otherwise the
 * command as is.
 *
 * `-n` (non-interactive): sudo never prompts. A host whose sudo wants a password fails at once with
 * `sudo: a password is required` (exit 1) instead of waiting for an answer nobody will type. No
 * remote command may wait on stdin at all: the transport closes the channel's stdin, so a prompt
 * or a `read` would see EOF (or, on a transport that kept it open, hang until the step's timeout).
 * `--` ends sudo's options, and `sh -c` runs the whole compound command (pipes, `&&`, redirects)
 * as root, not only its first word.
 */
export function withBecome(command: string, become: Become): string {
  switch (become) {
    case 'none':
      return command;
    case 'sudo':
      return `sudo -n -- sh -c ${quote(command)}`;
  }
}

/**
 * `command` as root the host's way (`withBecome`), its stdout piped into a reader that runs as the
 * login user: it passes the first line on, runs `follow` (stdin closed) when that line is `gate`,
 * then passes on the rest. `command` keeps the session's stdin (heartbeats, end of file), so it
 * ends as a held command does; the reader ends when `command`'s output does. Only the reader's
 * exit status reaches the session: 1 when `command` said nothing (sudo refused, with its message
 * on stderr), else `cat`'s.
 */
export function becomeThenFollow(
  command: string,
  become: Become,
  follow: { gate: string; command: string },
): string {
  return (
    `{ ${withBecome(command, become)}\n} | { IFS= read -r l || exit 1; printf '%s\\n' "$l"; ` +
    `if [ "$l" = ${quote(follow.gate)} ]; then { ${follow.command}\n} </dev/null; fi; exec cat; }`
  );
}

// ---------------------------------------------------------------------------------------------
// Validators: a name is checked for what it claims to be before it reaches a shell.

function check(ok: boolean, field: string, value: string, reason: string): void {
  if (!ok) throw new UnsafeArgumentError(field, value, reason);
}

/** A kernel module name as the kernel lists it (`kpatch_cve_2024_1`): `[A-Za-z0-9_]`, 1–55. */
export function assertModuleName(value: string, field = 'module name'): void {
  check(
    MODULE_NAME.test(value),
    field,
    value,
    'a kernel module name is 1 to 55 characters of [A-Za-z0-9_]',
  );
}

/** What `uname -r` can print (`5.14.0-427.13.1.el9_4.x86_64`): `[A-Za-z0-9._+~-]`, ≤ 128, no leading `-`. */
export function assertKernelRelease(value: string, field = 'kernel release'): void {
  check(
    KERNEL_RELEASE.test(value),
    field,
    value,
    'a kernel release is 1 to 128 characters of [A-Za-z0-9._+~-] and does not start with "-"',
  );
}

/**
 * A file name without its folder (`kpatch uninstall`'s argument): no `/`, not `.` or `..`, no NUL,
 * CR or LF, 1 to 255 characters. It may start with `-`: the command that takes it must end its
 * options first (`--`).
 */
export function assertFileName(value: string, field = 'file name'): void {
  check(
    isBareFileName(value) && !LONE_SURROGATE.test(value),
    field,
    value,
    'a file name is 1 to 255 characters, not "." or "..", without "/", NUL, CR or LF',
  );
}

/** An absolute remote path: starts with `/`, no NUL, CR or LF, no `..` component, ≤ 4095. */
export function assertRemotePath(value: string, field = 'remote path'): void {
  check(value.startsWith('/'), field, value, 'a remote path must be absolute');
  check(!/[\0\n\r]/.test(value), field, value, 'a remote path must not contain NUL, CR or LF');
  check(
    !value.split('/').includes('..'),
    field,
    value,
    'a remote path must not contain a ".." component',
  );
  check(value.length < 4096, field, value, 'a remote path is shorter than 4096 characters');
  check(!LONE_SURROGATE.test(value), field, value, 'a remote path must be valid Unicode');
}

/**
 * An RPM package name, or a name with its version (`kpatch-patch-5_14_0-427-1-3.el9.x86_64`,
 * `kpatch-patch-5_14_0-427-0:1-3.el9`): starts with `[A-Za-z0-9_]`, then `[A-Za-z0-9._+~^:-]`,
 * ≤ 256. No glob characters, so dnf never reads it as a pattern.
 */
export function assertRpmName(value: string, field = 'RPM name'): void {
  check(
    RPM_NAME.test(value),
    field,
    value,
    'an RPM name is 1 to 256 characters of [A-Za-z0-9._+~^:-] starting with a letter, digit or "_"',
  );
}
