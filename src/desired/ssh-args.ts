/**
 * `ansible_ssh_args`, `ansible_ssh_common_args` and `ansible_ssh_extra_args`, read as Ansible's ssh
 * connection plugin uses them: split like Python's `shlex.split` and put on ssh's command line.
 * kpfleet passes the options that map onto its transport to `ssh -G` in the same order, so
 * OpenSSH itself decides which value wins (on the command line the first `-o` of a name wins, and
 * it beats ~/.ssh/config): `-o ProxyCommand=…`, `-o ProxyJump=…`/`-J`, `-o Port=`/`-p`,
 * `-o User=`/`-l`, `-o IdentityFile=`/`-i`, and the `-o` options kpfleet's ssh config support
 * reads. Connection-sharing options (`ControlMaster`, `-C`, …) change nothing for kpfleet and are
 * set aside; anything else is refused by name. Pure.
 */
import { shlexSplit, ShlexError } from '../inventory/shlex.ts';
import { knownHostsNameProblem } from '../util/names.ts';
import { loginNameProblem } from './connection-values.ts';

/** The variables, in the order Ansible puts them on ssh's command line. */
export const SSH_ARGS_VARS = [
  'ansible_ssh_args',
  'ansible_ssh_common_args',
  'ansible_ssh_extra_args',
] as const;

export interface SshArgsRefusal {
  /** The option as written (`-o StrictHostKeyChecking=no`, `-F`). */
  option: string;
  why: string;
  hint?: string;
}

export interface SshArgsReading {
  /** What kpfleet passes to `ssh -G`, in order, as written. */
  args: string[];
  refused: SshArgsRefusal[];
  /** Options set aside: they change nothing for kpfleet (connection sharing, compression). */
  ignored: string[];
  /** A `ProxyCommand` other than `none`: a command kpfleet would run on this machine. */
  command?: string;
  /**
   * An `IdentityAgent` other than `none` or `SSH_AUTH_SOCK`: a local socket of its choosing that
   * kpfleet would ask to sign with the user's keys.
   */
  agent?: string;
}

/** `-o` options kpfleet's transport honours (settings.ts reads them from `ssh -G`), lowercase. */
const HONOURED = new Map(
  [
    'ProxyCommand',
    'ProxyJump',
    'Port',
    'User',
    'IdentityFile',
    'IdentitiesOnly',
    'IdentityAgent',
    'HostName',
    'HostKeyAlias',
    'HashKnownHosts',
  ].map((k) => [k.toLowerCase(), k]),
);
const IGNORED = new Set(['controlmaster', 'controlpersist', 'controlpath', 'compression']);
const HOST_KEY_OPTIONS = new Set([
  'stricthostkeychecking',
  'userknownhostsfile',
  'globalknownhostsfile',
]);
const WITH_ARGUMENT = 'BbcDEeFIiJLlmOopQRSWw';
/** Flags kpfleet honours, and what they stand for. */
const FLAGS: Record<string, string> = { p: 'Port', l: 'User', i: 'IdentityFile', J: 'ProxyJump' };
/**
 * A control character other than a tab: `ssh -G` prints a value as it is, so a line break in one
 * (`-o 'IdentityFile="x<LF>proxycommand …"'`) would add a line of its own choosing to what
 * kpfleet reads back (a ProxyCommand nobody checked); a NUL cannot be passed at all.
 */
// eslint-disable-next-line no-control-regex -- the control characters are what it finds
const CONTROL = /[\0-\x08\x0a-\x1f\x7f]/;
const CONTROL_WHY =
  'it holds a line break or another control character, which ssh would not read as part of one value';

/** Why a value of an honoured option cannot be used, or undefined. */
function valueProblem(key: string, value: string): string | undefined {
  switch (key) {
    case 'port':
      return /^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 65535
        ? undefined
        : value === ''
          ? 'an empty port'
          : 'not a port number (1-65535)';
    case 'user':
      return loginNameProblem(value);
    case 'hostname':
      return knownHostsNameProblem(value.replaceAll('%h', 'h'));
    case 'hostkeyalias':
      return knownHostsNameProblem(value);
    case 'proxyjump':
      // ssh puts each hop's host and user into shell commands (%h, %r)
      return /^[A-Za-z0-9._@:,%[\]-]+$/.test(value)
        ? undefined
        : 'a jump host has characters a shell would read';
    default:
      return value === '' ? 'it has no value' : undefined;
  }
}

/** One `-o` argument (`Key=Value` or `Key Value`). */
function readOption(text: string, out: SshArgsReading): void {
  const m = /^\s*([A-Za-z0-9]+)\s*(?:=\s*|\s+)?(.*)$/s.exec(text);
  const key = (m?.[1] ?? '').toLowerCase();
  const value = (m?.[2] ?? '').trim();
  const shown = `-o ${text}`;
  if (IGNORED.has(key)) {
    out.ignored.push(shown);
    return;
  }
  const name = HONOURED.get(key);
  if (name === undefined) {
    out.refused.push({
      option: shown,
      why: `kpfleet does not apply the ssh option ${m?.[1] ?? text}`,
      hint: HOST_KEY_OPTIONS.has(key)
        ? 'kpfleet checks host keys as connection.host_key_checking and connection.known_hosts say: set those in kpfleet.yml'
        : `kpfleet honours ${[...HONOURED.values()].join(', ')}: remove it, or set it in ~/.ssh/config if it is needed there`,
    });
    return;
  }
  const problem = valueProblem(key, value);
  if (problem !== undefined) {
    out.refused.push({ option: shown, why: `${name}: ${problem}` });
    return;
  }
  if (key === 'proxycommand' && value.toLowerCase() !== 'none') out.command = value;
  if (key === 'identityagent' && value !== 'none' && value !== 'SSH_AUTH_SOCK') out.agent = value;
  out.args.push('-o', text);
}

/** Reads the words of one variable, adding to `out`. */
function readWords(words: readonly string[], out: SshArgsReading): void {
  for (let i = 0; i < words.length; i++) {
    const word = words[i] ?? '';
    if (CONTROL.test(word)) {
      out.refused.push({ option: word, why: CONTROL_WHY });
      continue;
    }
    if (!word.startsWith('-') || word === '-' || word === '--') {
      out.refused.push({ option: word, why: 'it is not an ssh option' });
      continue;
    }
    const flag = word.charAt(1);
    if (WITH_ARGUMENT.includes(flag)) {
      const attached = word.length > 2;
      const arg = attached ? word.slice(2) : words[++i];
      if (arg === undefined) {
        out.refused.push({ option: word, why: `-${flag} needs a value` });
        continue;
      }
      if (CONTROL.test(arg)) {
        out.refused.push({ option: `-${flag} ${arg}`, why: CONTROL_WHY });
        continue;
      }
      if (flag === 'o') {
        readOption(arg, out);
        continue;
      }
      const name = FLAGS[flag];
      if (name === undefined) {
        out.refused.push({ option: `-${flag}`, why: `kpfleet does not apply ssh's -${flag}` });
        continue;
      }
      const problem = valueProblem(name.toLowerCase(), arg);
      if (problem !== undefined) out.refused.push({ option: `-${flag} ${arg}`, why: problem });
      else out.args.push(`-${flag}`, arg);
      continue;
    }
    // flags without a value, possibly bundled (-Cq)
    for (const f of word.slice(1)) {
      if (f === 'C') out.ignored.push('-C');
      else out.refused.push({ option: `-${f}`, why: `kpfleet does not apply ssh's -${f}` });
    }
  }
}

/** The variables' texts (rendered), in `SSH_ARGS_VARS` order, read into one result. */
export function readSshArgs(texts: readonly (string | undefined)[]): SshArgsReading {
  const out: SshArgsReading = { args: [], refused: [], ignored: [] };
  for (const text of texts) {
    if (text === undefined || text.trim() === '') continue;
    try {
      readWords(
        shlexSplit(text, false).map((t) => t.value),
        out,
      );
    } catch (err) {
      if (!(err instanceof ShlexError)) throw err;
      out.refused.push({
        option: text,
        why: `it cannot be split as a shell would: ${err.message}`,
      });
    }
  }
  return out;
}
