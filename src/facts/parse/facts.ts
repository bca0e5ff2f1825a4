/**
 * Probe output → HostFacts (pure). Output without the probe's shape is an error that shows the
 * text; a name or value outside its bounds (fields.ts) is an error that names it. Never a guess,
 * and linear in the output, whatever the host printed.
 */
import {
  KLP_BOOT_SCRIPT,
  KLP_STORE_ROOT,
  KLP_UNIT_PATH,
  KPATCH_INSTALL_ROOT,
  RPM_MODULE_ROOT,
} from '../../host-paths.ts';
import { klpBootFiles } from '../klp-boot.ts';
import type {
  HostFacts,
  KlpFacts,
  LivepatchState,
  TransitionFacts,
  TransitionTask,
} from '../model.ts';
import { FACTS_LIMITS, FieldError, shown, text } from './fields.ts';
import {
  readInstalled,
  readKernels,
  readLivepatch,
  readModules,
  readOsRelease,
  readPackages,
  readSecurity,
  readServiceState,
  readSha256Lines,
  readFunctions,
  readTasks,
  readUname,
  stalledTasks,
} from './host-sections.ts';
import { parseKpatchList } from './kpatch-list.ts';
import { readLoadRecords } from './load-records.ts';
import type { KpatchListParsed } from './kpatch-list-model.ts';
import type { Sections } from './probe-output.ts';
import { splitSections, withStatus } from './probe-output.ts';

/**
 * `output`: the host's answer does not have the probe's shape (E_FACTS); `field`: a name or value
 * in it is outside what kpfleet accepts (E_FACTS_FIELD).
 */
export type FactsResult =
  | { ok: true; facts: HostFacts }
  | { ok: false; kind: 'output' | 'field'; error: string; text: string };

/**
 * The patch in transition (sysfs `transition` = 1), with the tasks not yet switched: those
 * `kpatch list` printed in its Stalled block, and those whose /proc patch_state the probe could
 * read and that differ from the patch's `enabled` (§3.1).
 */
function transitionOf(
  patches: readonly LivepatchState[],
  tasksText: string,
  listed: readonly TransitionTask[] | undefined,
): TransitionFacts | undefined {
  const p = patches.find((x) => x.transition === true);
  if (!p) return undefined;
  const enabling = p.enabled !== false;
  const { readable, tasks: read } = readTasks(tasksText);
  const tasks = new Map<number, TransitionTask>();
  for (const t of stalledTasks(listed)) tasks.set(t.pid, t);
  for (const t of read) {
    if ((t.state === 1) === enabling) continue;
    if (!tasks.has(t.pid)) tasks.set(t.pid, { pid: t.pid, comm: t.comm });
  }
  return {
    patch: p.name,
    enabling,
    tasks: [...tasks.values()].sort((a, b) => a.pid - b.pid),
    tasksComplete: readable,
  };
}

export function parseFacts(stdout: string): FactsResult {
  const { sections, error } = splitSections(stdout);
  if (error !== undefined) return { ok: false, kind: 'output', error, text: stdout.slice(0, 2000) };
  try {
    return readFacts(sections);
  } catch (e) {
    if (!(e instanceof FieldError)) throw e;
    return { ok: false, kind: 'field', error: e.message, text: stdout.slice(0, 2000) };
  }
}

function readFacts(sections: Sections): FactsResult {
  const get = (name: string): string => sections.get(name) ?? '';
  const { kernel, arch } = readUname(get('uname'));
  const cmdline = text(get('cmdline'), FACTS_LIMITS.cmdline, '/proc/cmdline');
  const tainted = /^\d{1,20}$/.test(get('tainted')) ? Number(get('tainted')) : undefined;
  const version = withStatus(sections.get('kpatch-version'));
  const list = withStatus(sections.get('kpatch-list'));
  if (list.rc === undefined) {
    return {
      ok: false,
      kind: 'output',
      error:
        'the kpatch list section has no exit status: its output was cut off or is not kpatch list',
      text: list.text.slice(0, 2000),
    };
  }
  // Output kpatch list gives that kpfleet cannot read is this host's error, never a guess.
  const parsedList = list.rc === 0 ? parseKpatchList(list.text) : undefined;
  if (parsedList && !parsedList.ok) {
    return {
      ok: false,
      kind: parsedList.field === true ? 'field' : 'output',
      error: `kpatch list printed something kpfleet cannot ${parsedList.field === true ? 'accept' : 'read'}${parsedList.line !== undefined ? ` (line ${String(parsedList.line)}: ${shown(parsedList.text)})` : ''}: ${parsedList.error}`,
      text: list.text.slice(0, 2000),
    };
  }
  const livepatch = withFunctions(
    readLivepatch(get('livepatch')),
    sections.has('livepatch-functions') ? readFunctions(get('livepatch-functions')) : undefined,
  );
  const listed: KpatchListParsed | undefined = parsedList?.ok ? parsedList : undefined;
  const transition = transitionOf(livepatch.patches, get('tasks'), listed?.stalled);
  const service = withStatus(sections.get('service'));
  const serviceState = readServiceState(service.text);
  const records = readLoadRecords(get('load-records'));
  const facts: HostFacts = {
    probeVersion: Number(get('probe')) || 0,
    kernel,
    arch,
    os: readOsRelease(get('os-release')),
    cmdline,
    kpatchDisabledAtBoot: /(^|\s)kpatch\.enable=0(\s|$)/.test(cmdline),
    tainted,
    kpatch:
      version.rc === 0
        ? {
            installed: true,
            version: text(version.text.trim(), FACTS_LIMITS.text, 'kpatch version'),
            flavor: withStatus(sections.get('kpatch-force')).rc === 0 ? 'rhel' : 'upstream',
          }
        : { installed: false },
    kpatchList: { rc: list.rc, text: list.text, ...(listed ? { parsed: listed } : {}) },
    security: readSecurity(get('security')),
    livepatchSupported: livepatch.supported,
    patches: livepatch.patches,
    ...(transition ? { transition } : {}),
    kernels: readKernels(get('kernels')),
    modules: readModules(get('modules')),
    installed: readInstalled(get('installed'), `${KPATCH_INSTALL_ROOT}/`),
    rpmInstalled: readInstalled(get('rpm-installed'), `${RPM_MODULE_ROOT}/`),
    service: {
      present: service.rc !== 127 && !/not-found|No such file|does not exist/i.test(serviceState),
      enabled: service.rc === 0 && /^(enabled|enabled-runtime|static|alias)$/.test(serviceState),
      state: serviceState,
    },
    packages: readPackages(get('packages')),
    ...(sections.has('klp-service') ? { klp: readKlp(sections) } : {}),
    ...(records.bootId !== undefined ? { bootId: records.bootId } : {}),
    suspects: records.suspects,
  };
  return { ok: true, facts };
}

/**
 * The klp sections: the store as `installed` is read, the unit's state as kpatch.service's, and
 * the two boot files' sha256 against what this kpfleet writes. A host without systemctl (rc 127)
 * has no boot mechanism kpfleet can use (the planner warns).
 */
function readKlp(sections: Sections): KlpFacts {
  const service = withStatus(sections.get('klp-service'));
  const state = readServiceState(service.text);
  const files = new Map(
    readSha256Lines(sections.get('klp-files') ?? '', [KLP_UNIT_PATH, KLP_BOOT_SCRIPT]),
  );
  const want = klpBootFiles();
  return {
    store: readInstalled(sections.get('klp-store') ?? '', `${KLP_STORE_ROOT}/`),
    boot: {
      systemctl: service.rc !== 127,
      // only `enabled` lasts: `enabled-runtime` is gone at the next boot, and the unit is
      // neither static nor an alias
      enabled: service.rc === 0 && state === 'enabled',
      state,
      current:
        files.get(want.unit.path) === want.unit.sha256 &&
        files.get(want.script.path) === want.script.sha256,
    },
  };
}

/**
 * Each patch with the functions sysfs lists for it (a patch with none listed has none), when the
 * probe read them; a list cut at FUNCTIONS_MAX is not given at all (a partial list would say
 * wrongly which patch wins for a function).
 */
function withFunctions(
  lp: { supported: boolean; patches: LivepatchState[] },
  fns: ReturnType<typeof readFunctions> | undefined,
): { supported: boolean; patches: LivepatchState[] } {
  // a patch that left sysfs between the two reads is in one list only: its functions are dropped
  if (fns === undefined || fns.truncated) return lp;
  return {
    ...lp,
    patches: lp.patches.map((p) => ({ ...p, functions: fns.byPatch.get(p.name) ?? [] })),
  };
}
