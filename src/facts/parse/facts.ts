/** Probe output → HostFacts (pure). */
import type {
  HostFacts,
  InstalledModule,
  LivepatchState,
  LoadedModule,
  TransitionFacts,
  TransitionTask,
} from '../model.ts';
import { parseKpatchList } from './kpatch-list.ts';
import { parseOsRelease, parseSha256Lines, splitSections, withStatus } from './probe-output.ts';

export type FactsResult =
  { ok: true; facts: HostFacts } | { ok: false; error: string; text: string };

const flag = (v: string | undefined): boolean | undefined =>
  v === '1' ? true : v === '0' ? false : undefined;

/** The name `kpatch list` shows for an installed file: basename without .ko, `-` → `_` (§1.3). */
export function moduleNameOfFile(file: string): string {
  const base = file.slice(file.lastIndexOf('/') + 1);
  return base.replace(/\.ko$/, '').replace(/-/g, '_');
}

function installed(text: string, root: string): InstalledModule[] {
  return parseSha256Lines(text).flatMap(({ path, sha256 }) => {
    if (!path.startsWith(root)) return [];
    const [kernel, file] = path.slice(root.length).split('/');
    if (!kernel || !file) return [];
    return [{ kernel, file, path, module: moduleNameOfFile(file), sha256 }];
  });
}

/**
 * The patch in transition (sysfs `transition` = 1), with the tasks not yet switched: those
 * `kpatch list` printed in its Stalled block, and those whose /proc patch_state the probe could
 * read and that differ from the patch's `enabled` (§3.1).
 */
function transitionOf(
  patches: readonly LivepatchState[],
  tasksText: string,
  listed: readonly { pid: number; comm: string }[] | undefined,
): TransitionFacts | undefined {
  const p = patches.find((x) => x.transition === true);
  if (!p) return undefined;
  const enabling = p.enabled !== false;
  const [first = '', ...lines] = tasksText.split('\n').filter(Boolean);
  const tasks = new Map<number, TransitionTask>();
  for (const t of listed ?? []) tasks.set(t.pid, { pid: t.pid, comm: t.comm });
  for (const line of lines) {
    const m = /^(\d+) (-?\d) ?(.*)$/.exec(line);
    if (!m) continue;
    const state = m[2] === '1';
    if (state === enabling) continue;
    const pid = Number(m[1]);
    if (!tasks.has(pid)) tasks.set(pid, { pid, comm: m[3] ?? '' });
  }
  return {
    patch: p.name,
    enabling,
    tasks: [...tasks.values()].sort((a, b) => a.pid - b.pid),
    tasksComplete: first === 'readable=yes',
  };
}

export function parseFacts(stdout: string): FactsResult {
  const { sections, error } = splitSections(stdout);
  if (error !== undefined) return { ok: false, error, text: stdout.slice(0, 2000) };
  const get = (name: string): string => sections.get(name) ?? '';
  const [kernel = '', arch = ''] = get('uname').split('\n');
  if (!/^[A-Za-z0-9._+~-]+$/.test(kernel)) {
    return {
      ok: false,
      error: `uname -r printed something that is not a kernel release: ${JSON.stringify(kernel)}`,
      text: get('uname'),
    };
  }
  const os = parseOsRelease(get('os-release'));
  const cmdline = get('cmdline');
  const tainted = /^\d+$/.test(get('tainted')) ? Number(get('tainted')) : undefined;
  const version = withStatus(sections.get('kpatch-version'));
  const list = withStatus(sections.get('kpatch-list'));
  // Output kpatch list gives that kpfleet cannot read is this host's error, never a guess.
  const parsedList = list.rc === 0 ? parseKpatchList(list.text) : undefined;
  if (parsedList && !parsedList.ok) {
    return {
      ok: false,
      error: `kpatch list printed something kpfleet cannot read${parsedList.line !== undefined ? ` (line ${String(parsedList.line)}: ${JSON.stringify(parsedList.text)})` : ''}: ${parsedList.error}`,
      text: list.text,
    };
  }
  const lp = get('livepatch').split('\n').filter(Boolean);
  const patches: LivepatchState[] = lp.slice(1).map((line) => {
    const [name = '', e, t, r] = line.split(' ');
    return { name, enabled: flag(e), transition: flag(t), replace: flag(r) };
  });
  const modules: LoadedModule[] = get('modules')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [name = '', ref, taint = ''] = line.split(' ');
      return {
        name,
        refcnt: ref !== undefined && /^\d+$/.test(ref) ? Number(ref) : undefined,
        taint,
      };
    });
  const transition = transitionOf(
    patches,
    get('tasks'),
    parsedList?.ok ? parsedList.stalled : undefined,
  );
  const service = withStatus(sections.get('service'));
  const serviceState = service.text.trim();
  const facts: HostFacts = {
    probeVersion: Number(get('probe')) || 0,
    kernel,
    arch,
    os: {
      ...(os.ID !== undefined ? { id: os.ID } : {}),
      ...(os.VERSION_ID !== undefined ? { versionId: os.VERSION_ID } : {}),
      ...(os.PRETTY_NAME !== undefined ? { prettyName: os.PRETTY_NAME } : {}),
    },
    cmdline,
    kpatchDisabledAtBoot: /(^|\s)kpatch\.enable=0(\s|$)/.test(cmdline),
    tainted,
    kpatch:
      version.rc === 0
        ? {
            installed: true,
            version: version.text.trim(),
            flavor: withStatus(sections.get('kpatch-force')).rc === 0 ? 'rhel' : 'upstream',
          }
        : { installed: false },
    kpatchList: { rc: list.rc, text: list.text, ...(parsedList?.ok ? { parsed: parsedList } : {}) },
    livepatchSupported: lp[0] === 'present',
    patches,
    ...(transition ? { transition } : {}),
    kernels: get('kernels').split('\n').filter(Boolean),
    modules,
    installed: installed(get('installed'), '/var/lib/kpatch/'),
    rpmInstalled: installed(get('rpm-installed'), '/usr/lib/kpatch/'),
    service: {
      present: service.rc !== 127 && !/not-found|No such file|does not exist/i.test(serviceState),
      enabled: service.rc === 0 && /^(enabled|enabled-runtime|static|alias)$/.test(serviceState),
      state: serviceState,
    },
    packages: get('packages').split('\n').filter(Boolean),
  };
  return { ok: true, facts };
}
