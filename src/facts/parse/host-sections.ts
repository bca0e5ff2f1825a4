/**
 * The probe's sections (probe.ts), each read into facts with its bounds checked (fields.ts): a
 * line that does not have its section's shape, a name outside its rule, a list or text too long
 * is a FieldError for the host, never skipped or passed on. Pure; linear in the text.
 */
import type {
  InstalledModule,
  LivepatchState,
  LoadedModule,
  LockdownLevel,
  PatchedFunction,
  SecurityFacts,
  TransitionTask,
} from '../model.ts';
import {
  bounded,
  comm,
  FACTS_LIMITS,
  field,
  fileName,
  hasControl,
  kernelRelease,
  lines,
  moduleName,
  rpmName,
  shown,
  text,
} from './fields.ts';

const { entries } = FACTS_LIMITS;

const FLAG = new Set(['0', '1', '-']);
const flag = (v: string): boolean | undefined => (v === '1' ? true : v === '0' ? false : undefined);

/** `uname -r` then `uname -m`. */
export function readUname(section: string): { kernel: string; arch: string } {
  const [kernel = '', arch = ''] = section.split('\n');
  kernelRelease(kernel, 'uname -r printed');
  field(
    /^[A-Za-z0-9_]{1,32}$/.test(arch),
    () =>
      `uname -m printed ${shown(arch)}, not a machine name (1 to 32 characters of [A-Za-z0-9_])`,
  );
  return { kernel, arch };
}

/**
 * `present` or `absent`, then `name enabled transition replace [stack_order]` per patch (`-`: no
 * file; the fifth field only where the kernel has `stack_order`, 6.13+, §5.1).
 */
export function readLivepatch(section: string): { supported: boolean; patches: LivepatchState[] } {
  const [head = '', ...rest] = lines(section);
  field(
    head === 'present' || head === 'absent',
    () => `livepatch section starts with ${shown(head)}`,
  );
  const seen = new Set<string>();
  const patches = bounded(rest, entries, 'live patches in /sys/kernel/livepatch').map((line) => {
    const [name = '', e = '', t = '', r = '', o, ...extra] = line.split(' ');
    moduleName(name, '/sys/kernel/livepatch has a patch named');
    field(
      head === 'present',
      () => `/sys/kernel/livepatch is absent, yet the probe lists ${shown(name)} in it`,
    );
    // one folder per patch: a name twice is no kernel's answer, and which line to believe is a guess
    field(!seen.has(name), () => `/sys/kernel/livepatch lists ${shown(name)} twice`);
    seen.add(name);
    field(
      FLAG.has(e) && FLAG.has(t) && FLAG.has(r) && extra.length === 0,
      () =>
        `livepatch line ${shown(line)} is not "<name> <enabled> <transition> <replace> [<stack_order>]"`,
    );
    const state: LivepatchState = { name, enabled: flag(e), transition: flag(t), replace: flag(r) };
    if (o === undefined) return state;
    // the patch's position in the kernel's list of patches, counted from 1: never more than there
    // are patches, and no list here is longer than `entries`
    field(
      /^[1-9]\d{0,3}$/.test(o) && Number(o) <= entries,
      () => `${name}/stack_order is ${shown(o)}, not a position from 1 to ${String(entries)}`,
    );
    return { ...state, stackOrder: Number(o) };
  });
  return { supported: head === 'present', patches };
}

/** How many patched functions the probe reads (`livepatch-functions`); one more means more. */
export const FUNCTIONS_MAX = 4096;
/** A symbol as kallsyms has it: a C identifier, with compiler suffixes (`.isra.0`, `.cold`). */
const SYMBOL = /^[A-Za-z_][A-Za-z0-9_.$]{0,127}$/;

/**
 * The `livepatch-functions` section (`<patch>/<object>/<function>,<sympos>/` per line) → each
 * patch's functions, by patch; `truncated` when the host had more than FUNCTIONS_MAX. A line of
 * another shape is refused, never guessed.
 */
export function readFunctions(section: string): {
  byPatch: Map<string, PatchedFunction[]>;
  truncated: boolean;
} {
  const all = lines(section);
  const byPatch = new Map<string, PatchedFunction[]>();
  for (const line of all.slice(0, FUNCTIONS_MAX)) {
    const m = /^([^/]+)\/([^/]+)\/([^/,]+),(\d{1,6})\/$/.exec(line);
    field(
      m !== null,
      () =>
        `a patched function's sysfs path ${shown(line)} is not <patch>/<object>/<function>,<sympos>/`,
    );
    const [, patch = '', object = '', name = '', pos = '0'] = m;
    moduleName(patch, '/sys/kernel/livepatch has a patch named');
    field(
      object === 'vmlinux' || /^[A-Za-z0-9_]{1,55}$/.test(object),
      () => `${patch} patches an object named ${shown(object)}, not vmlinux or a module`,
    );
    field(SYMBOL.test(name), () => `${patch} patches a function named ${shown(name)}`);
    const list = byPatch.get(patch) ?? [];
    list.push({ object, name, sympos: Number(pos) });
    byPatch.set(patch, list);
  }
  return { byPatch, truncated: all.length > FUNCTIONS_MAX };
}

const LOCKDOWN_LEVELS: readonly LockdownLevel[] = ['none', 'integrity', 'confidentiality'];
/** The kernel's lockdown line: every level it knows, the one in force in brackets (§5.5). */
const LOCKDOWN_LINE = /^(?:[a-z]{1,32} ){0,7}\[([a-z]{1,32})\](?: [a-z]{1,32}){0,7}$/;

/**
 * `lockdown <line>`, `sig_enforce <Y|N>`, `secureboot <0|1>`, each `-` where the file is absent
 * or unreadable (§5.5): an unknown is a key left out, never a guess. A key the probe does not
 * print, a key twice, or a value no kernel prints is refused, like any other line out of shape.
 */
export function readSecurity(section: string): SecurityFacts {
  const out: SecurityFacts = {};
  const seen = new Set<string>();
  for (const line of bounded(lines(section), 3, 'security lines')) {
    const sp = line.indexOf(' ');
    const key = sp < 0 ? line : line.slice(0, sp);
    const value = sp < 0 ? '' : line.slice(sp + 1);
    field(
      (key === 'lockdown' || key === 'sig_enforce' || key === 'secureboot') && !seen.has(key),
      () =>
        `security line ${shown(line)} is not "lockdown|sig_enforce|secureboot <value>", once each`,
    );
    seen.add(key);
    if (value === '-') continue;
    if (key === 'lockdown') {
      const word = LOCKDOWN_LINE.exec(value)?.[1];
      const level = LOCKDOWN_LEVELS.find((l) => l === word);
      field(
        level !== undefined,
        () =>
          `/sys/kernel/security/lockdown reads ${shown(value)}, not "none", "integrity" or "confidentiality" in brackets`,
      );
      out.lockdown = level;
    } else if (key === 'sig_enforce') {
      field(
        value === 'Y' || value === 'N',
        () => `/sys/module/module/parameters/sig_enforce reads ${shown(value)}, not Y or N`,
      );
      out.sigEnforce = value === 'Y';
    } else {
      field(
        value === '0' || value === '1',
        () => `the SecureBoot EFI variable holds ${shown(value)}, not 0 or 1`,
      );
      out.secureBoot = value === '1';
    }
  }
  return out;
}

/** `name refcnt taint` per live-patch module in memory (refcnt `-` where unreadable). */
export function readModules(section: string): LoadedModule[] {
  return bounded(lines(section), entries, 'live-patch modules in memory').map((line) => {
    const [name = '', ref = '', taint = '', ...extra] = line.split(' ');
    moduleName(name, '/sys/module has a live-patch module named');
    field(
      /^(\d{1,10}|-)$/.test(ref) && /^[A-Z]{1,32}$/.test(taint) && extra.length === 0,
      () => `module line ${shown(line)} is not "<name> <refcnt> <taint>"`,
    );
    return { name, refcnt: ref === '-' ? undefined : Number(ref), taint };
  });
}

/** The name `kpatch list` shows for an installed file: basename without .ko, `-` → `_` (§1.3). */
function moduleNameOfFile(file: string): string {
  const base = file.slice(file.lastIndexOf('/') + 1);
  return (base.endsWith('.ko') ? base.slice(0, -3) : base).replaceAll('-', '_');
}

const SHA256_LINE = /^([0-9a-f]{64}) [ *]/;

/** `sha256sum` lines of `<root><kernel>/<file>.ko` (/var/lib/kpatch/, /usr/lib/kpatch/). */
export function readInstalled(section: string, root: string): InstalledModule[] {
  return bounded(lines(section), entries, `modules in ${root}`).map((line) => {
    // sha256sum starts a line with `\` when it had to escape the name (a `\` or a newline in it)
    field(!line.startsWith('\\'), () => `a file in ${root} has a "\\" or a newline in its name`);
    const sha = SHA256_LINE.exec(line)?.[1];
    field(sha !== undefined, () => `sha256sum printed ${shown(line)}, not "<sha256>  <path>"`);
    const path = line.slice(66);
    field(path.startsWith(root), () => `sha256sum printed a path outside ${root}: ${shown(path)}`);
    const rest = path.slice(root.length);
    const slash = rest.indexOf('/');
    field(
      slash > 0,
      () => `sha256sum printed a path not in a kernel folder of ${root}: ${shown(path)}`,
    );
    const kernel = rest.slice(0, slash);
    const file = rest.slice(slash + 1);
    kernelRelease(kernel, `${root} has a folder named`);
    fileName(file, `${root}${kernel}/ has a file named`);
    return { kernel, file, path, module: moduleNameOfFile(file), sha256: sha };
  });
}

/** `sha256sum` lines of known files (`paths`): [path, sha256] pairs; any other path is refused. */
export function readSha256Lines(section: string, paths: readonly string[]): [string, string][] {
  return bounded(lines(section), paths.length, 'sha256sum lines').map((line) => {
    const sha = SHA256_LINE.exec(line)?.[1];
    field(sha !== undefined, () => `sha256sum printed ${shown(line)}, not "<sha256>  <path>"`);
    const path = line.slice(66);
    field(paths.includes(path), () => `sha256sum printed an unexpected path: ${shown(path)}`);
    return [path, sha];
  });
}

/** Installed kernels (/lib/modules/*). */
export function readKernels(section: string): string[] {
  return bounded(lines(section), entries, 'kernels in /lib/modules').map((k) =>
    kernelRelease(k, '/lib/modules has a folder named'),
  );
}

/** `rpm -qa 'kpatch-patch*'`: name-version-release.arch. */
export function readPackages(section: string): string[] {
  return bounded(lines(section), entries, 'kpatch-patch packages').map((p) =>
    rpmName(p, 'rpm -qa printed'),
  );
}

/**
 * `readable=yes|no`, then `tid state comm` for each task whose patch_state the probe read while a
 * patch was in transition. A task may have exited, or renamed itself oddly, between two reads:
 * such a line is skipped, and its comm made printable.
 */
export function readTasks(section: string): {
  readable: boolean;
  tasks: { pid: number; state: number; comm: string }[];
} {
  const [head = '', ...rest] = lines(section);
  const tasks = rest.slice(0, FACTS_LIMITS.tasks).flatMap((line) => {
    const m = /^(\d{1,10}) (-1|0|1)(?: |$)/.exec(line);
    if (!m) return [];
    return [{ pid: Number(m[1]), state: Number(m[2]), comm: comm(line.slice(m[0].length)) }];
  });
  return { readable: head === 'readable=yes', tasks };
}

/** The tasks of `kpatch list`'s Stalled block, made printable, at most FACTS_LIMITS.tasks. */
export function stalledTasks(listed: readonly TransitionTask[] | undefined): TransitionTask[] {
  return (listed ?? [])
    .slice(0, FACTS_LIMITS.tasks)
    .map((t) => ({ pid: t.pid, comm: comm(t.comm) }));
}

/** os-release's KEY=value lines (shell quoting undone); the values kpfleet shows, checked. */
export function readOsRelease(section: string): {
  id?: string;
  versionId?: string;
  prettyName?: string;
} {
  const out: Record<string, string> = {};
  for (const line of lines(section)) {
    const t = line.trim();
    const eq = t.indexOf('=');
    const key = eq < 1 ? '' : t.slice(0, eq);
    // only the keys read below (the last assignment of each wins, as a shell reading it would)
    if (key !== 'ID' && key !== 'VERSION_ID' && key !== 'PRETTY_NAME') continue;
    let v = t.slice(eq + 1);
    const q = v[0];
    if (v.length >= 2 && (q === '"' || q === "'") && v.endsWith(q)) {
      v = v.slice(1, -1);
      if (v.includes('\\')) v = v.replace(/\\(["\\$`])/g, '$1');
    }
    out[key] = v;
  }
  const take = (key: string): string | undefined =>
    out[key] === undefined ? undefined : text(out[key], FACTS_LIMITS.text, `os-release ${key}`);
  const id = take('ID');
  const versionId = take('VERSION_ID');
  const prettyName = take('PRETTY_NAME');
  return {
    ...(id !== undefined ? { id } : {}),
    ...(versionId !== undefined ? { versionId } : {}),
    ...(prettyName !== undefined ? { prettyName } : {}),
  };
}

/** `systemctl is-enabled kpatch.service`'s answer (text before `rc=`): printable, bounded. */
export function readServiceState(answer: string): string {
  const state = answer.trim();
  field(
    state.length <= FACTS_LIMITS.service,
    () => `systemctl is-enabled printed more than ${String(FACTS_LIMITS.service)} characters`,
  );
  field(
    !hasControl(state, ['\n', '\t']),
    () => `systemctl is-enabled printed control characters: ${shown(state)}`,
  );
  return state;
}
