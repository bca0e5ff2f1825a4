/**
 * The probe's sections (probe.ts), each read into facts with its bounds checked (fields.ts): a
 * line that does not have its section's shape, a name outside its rule, a list or text too long
 * is a FieldError for the host, never skipped or passed on. Pure; linear in the text.
 */
import type { InstalledModule, LivepatchState, LoadedModule, TransitionTask } from '../model.ts';
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

/** `present` or `absent`, then `name enabled transition replace` per patch (`-`: no file). */
export function readLivepatch(section: string): { supported: boolean; patches: LivepatchState[] } {
  const [head = '', ...rest] = lines(section);
  field(
    head === 'present' || head === 'absent',
    () => `livepatch section starts with ${shown(head)}`,
  );
  const seen = new Set<string>();
  const patches = bounded(rest, entries, 'live patches in /sys/kernel/livepatch').map((line) => {
    const [name = '', e = '', t = '', r = '', ...extra] = line.split(' ');
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
      () => `livepatch line ${shown(line)} is not "<name> <enabled> <transition> <replace>"`,
    );
    return { name, enabled: flag(e), transition: flag(t), replace: flag(r) };
  });
  return { supported: head === 'present', patches };
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
