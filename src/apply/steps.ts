/**
 * The remote step of each plan change: one table, keyed by the change's action, that puts the
 * command beside the check that judges it. A step runs in one exec: the command, then a marker
 * line, then what verification reads (sysfs, the installed file, rpm); the judge reads that, not
 * only the exit status. Pure: strings in, strings out; every name is validated and every word
 * quoted (`transport/shell.ts`). The sections cited (§n) are docs/kpatch-behaviour.md's.
 */
import type { HostFacts } from '../facts/model.ts';
import type { Change, ChangeAction } from '../plan/model.ts';
import {
  assertFileName,
  assertKernelRelease,
  assertModuleName,
  assertRemotePath,
  assertRpmName,
  sh,
} from '../transport/shell.ts';
import { versionAtLeast } from '../util/version.ts';
import { installedPath, installFolder, KPATCH_INSTALL_ROOT, storeFolder } from '../host-paths.ts';
import type { ManagerName } from '../config-model.ts';
import { copyInstall, KLP_STEPS, removeStored, type KlpStep } from './klp-steps.ts';
import { packageMatches } from '../plan/packages.ts';
import { basename, tailText } from '../util/text.ts';
import { guardedLoad } from './load-record.ts';
import { LOCK_LOST_ERROR, refusedForLock } from './lock.ts';
import { resolveStaged } from './scripts.ts';
import {
  frame,
  lastLines,
  loadVerify,
  splitStepOutput,
  unloadVerify,
  unsyncedError,
} from './step-frame.ts';

/** Callers read the frame's markers and output from here, with the steps. */
export { splitStepOutput, UNSYNCED_MARK, VERIFY_MARK } from './step-frame.ts';

export interface RemoteStep {
  /** The whole script: the command, `VERIFY_MARK <its exit status>`, then the verification. */
  script: string;
  become: boolean;
  /** A short name for errors: `kpatch load`. */
  step: string;
}

export interface StepOutcome {
  ok: boolean;
  /** Why not, in one sentence (the command's own error, or what verification found). */
  error?: string;
}

/** What the step needs to know of the host: facts read under the lock, and the staging folder. */
export interface StepHost {
  facts: HostFacts;
  /** The absolute staging folder (`~/.kpfleet/stage` resolved on the host). */
  staging: string;
  /** The run's id, written in the crash guard's record of a load (`loadRecordScript`). */
  runId?: string;
  /** Who manages the host's live patches (the plan's `HostPlan.manager`); kpatch when unsaid. */
  manager?: ManagerName | undefined;
}

/** What a judge reads of a step's output. */
interface Verified {
  /** What the command printed. */
  output: string;
  /** What the verification printed, trimmed. */
  verify: string;
  /** A failure that says `what`, then the exit status and last lines if the command failed. */
  fail: (what: string) => StepOutcome;
  /** The store the manager installs into: `/var/lib/kpatch/<kernel>` or kpfleet's klp store. */
  storeFolder: (kernel: string) => string;
}

/** One kind of change: its command (with its verification) and the judge of what it printed. */
interface StepKind<C extends Change> {
  /** A short name for errors: `kpatch load`. */
  step: string;
  /** The whole script (`step-frame.ts`). */
  script: (change: C, host: StepHost) => string;
  /** Did it do what it was for? */
  judge: (change: C, v: Verified) => StepOutcome;
}

/*
 * Durability. Nothing in the chain fsyncs: `kpatch install` is a plain `cp` (§2.7), systemctl
 * writes a symlink, rpm does not flush by default. A host that resets within the page cache's
 * writeback window (seconds; ext4's delayed allocation) boots with an empty or missing .ko and
 * `kpatch load --all` fails (§4.2), so each change that persists is flushed before it counts.
 * `sync -- FILE…` fsyncs each file and folder (coreutils 8.24+, busybox 1.30+). The older ones
 * (RHEL 7's coreutils 8.22) print "sync: ignoring all arguments", flush everything with sync(2)
 * and exit 0: stronger, never weaker, so one command serves both. Options such as `-f` are not
 * used: 8.22 would refuse them.
 */
/** kpatch.service's enable link (WantedBy=multi-user.target, §4.2) and the folders above it. */
const WANTS = '/etc/systemd/system/multi-user.target.wants';
/** After enable: the link's folder and its parent, or everything when the link is elsewhere. */
const SYNC_ENABLE = sh`if [ -e ${WANTS}/kpatch.service ]; then sync -- ${WANTS} /etc/systemd/system; else sync; fi`;
/** rpm writes its payload, its database and what %post did (§4.3): all of it, with sync(2). */
const SYNC_ALL = 'sync';

/** The names `kpatch list` gives the installed modules (basename, no .ko, - → _: §1.3). */
const INSTALLED_NAMES = `for f in ${KPATCH_INSTALL_ROOT}/*/*.ko; do n=\${f##*/}; echo "\${n%.ko}" | tr - _; done 2>/dev/null`;
/** The kpatch-patch packages installed, one `package NEVRA` line each. */
const PACKAGES = "rpm -qa 'kpatch-patch*' 2>/dev/null | sed 's/^/package /'";

/** The steps, by action. Each `become`s root; each command's check is beside it. */
const STEPS: { [A in ChangeAction]: StepKind<Extract<Change, { action: A }>> } = {
  upload: {
    step: 'upload',
    script: () => {
      throw new Error('an upload is a transfer, not a command');
    },
    judge: () => ({ ok: true }),
  },

  install: {
    step: 'kpatch install',
    script: (c, host) => {
      assertKernelRelease(c.kernel);
      const file = resolveStaged(c.file, host.staging);
      assertRemotePath(file);
      const target = installedPath(c.kernel, basename(file));
      // exit status is systemctl's, not the copy's (§2.7): the file and its sha256 decide
      return frame(
        // the path is absolute (never an option); `--` all the same, as for uninstall
        sh`kpatch install -k ${c.kernel} -- ${file}`,
        sh`sha256sum ${target} 2>/dev/null | cut -d' ' -f1`,
        // the copy, its entry in the kernel's folder (made by mkdir -p), and the enable link
        // install's systemctl may have made (§4.2: the service is enabled by every install)
        sh`sync -- ${target} ${installFolder(c.kernel)} ${KPATCH_INSTALL_ROOT} && ` +
          sh`if [ -d ${WANTS} ]; then sync -- ${WANTS} /etc/systemd/system; fi`,
      );
    },
    // the sha256 of what landed in /var/lib/kpatch (install's exit is systemctl's, §6 #30)
    judge: (c, { verify, fail, storeFolder }) =>
      verify === c.sha256
        ? { ok: true }
        : fail(
            verify === ''
              ? `the module is not in ${storeFolder(c.kernel)}`
              : `the installed file's sha256 is ${verify.slice(0, 12)}…, not ${c.sha256.slice(0, 12)}…`,
          ),
  },

  'package-install': {
    step: 'package install',
    script: (c) => {
      assertRpmName(c.package);
      // the packages installed, and the modules in /var/lib/kpatch (the one %post dropped, §4.3)
      return frame(
        packageManager(sh`install ${rpmSpec(c.package)}`),
        `${PACKAGES}; ${INSTALLED_NAMES} | sed 's/^/module /'`,
        SYNC_ALL,
      );
    },
    judge: (c, { output, verify, fail }) => {
      const lines = verify.split('\n');
      const pkgs = lines.flatMap((l) => (l.startsWith('package ') ? [l.slice(8)] : []));
      const mods = lines.flatMap((l) => (l.startsWith('module ') ? [l.slice(7)] : []));
      if (!pkgs.some((x) => packageMatches(x, c.package)))
        return fail(`${c.package} is not installed`);
      if (c.module !== '' && !mods.includes(c.module))
        return fail(
          `${c.package} is installed but ${c.module} is not in ${KPATCH_INSTALL_ROOT}${scriptletFailure(output)}`,
        );
      return { ok: true };
    },
  },

  'enable-service': {
    step: 'systemctl enable',
    script: () =>
      frame('systemctl enable kpatch.service', 'systemctl is-enabled kpatch.service', SYNC_ENABLE),
    // klp's step prints `enabled` only when its unit is enabled and both its files are current
    judge: (_c, { verify, fail }) =>
      /^enabled/m.test(verify)
        ? { ok: true }
        : fail(verify.includes('is-enabled: ') ? verify : 'kpatch.service is not enabled'),
  },

  load: {
    step: 'kpatch load',
    script: (c, host) => {
      assertModuleName(c.module);
      // kpatch load takes no options (§2.4): an absolute path or a module name is never one
      const target = c.file ?? c.module;
      if (c.file !== undefined) assertRemotePath(c.file);
      const m = c.module;
      // an inert same-named leftover blocks kpatch < 0.9.4 (§6 #27); it holds no reference
      const leftover = versionAtLeast(host.facts.kpatch.version, '0.9.4')
        ? ''
        : sh`if [ ! -e /sys/kernel/livepatch/${m} ] && [ -e /sys/module/${m} ]; then rmmod ${m}; fi; `;
      // the crash guard's record is written and synced before the load, removed once its
      // outcome is known (the host did not go down); without the record, no load; a suspect
      // (a record of another boot) is never loaded, its record kept
      return frame(
        guardedLoad(m, c.patch, host.runId, `${leftover}${sh`kpatch load ${target}`}`),
        loadVerify(m),
      );
    },
    // enabled=1 and transition=0 (§5.1)
    judge: (c, { verify, fail }) =>
      verify === '10'
        ? { ok: true }
        : fail(
            verify === ''
              ? `${c.module} is not in /sys/kernel/livepatch`
              : verify === '11'
                ? `${c.module} is still in transition`
                : `${c.module} is not enabled (enabled/transition ${verify.split('').join('/')})`,
          ),
  },

  unload: {
    step: 'kpatch unload',
    script: (c, host) => {
      assertModuleName(c.module);
      const m = c.module;
      // exit 0 does not prove the module is gone (§6 #19): sysfs and /sys/module decide
      return frame(unloadCommand(m, host.facts), unloadVerify(m));
    },
    judge: (c, { verify, fail }) =>
      verify === ''
        ? { ok: true }
        : fail(
            `${c.module} is still ${verify.includes('sysfs') ? 'in /sys/kernel/livepatch' : 'in memory (/sys/module)'}`,
          ),
  },

  uninstall: {
    step: 'kpatch uninstall',
    script: (c) => {
      assertKernelRelease(c.kernel);
      assertFileName(c.file);
      const target = installedPath(c.kernel, c.file);
      assertRemotePath(target);
      return frame(
        uninstallCommand(c.kernel, c.file),
        sh`test -e ${target} && echo present; true`,
        // the removal is in the folder; upstream also removes an emptied folder and then
        // /var/lib/kpatch (§2.8): each that is left, and /var/lib
        sh`set -- /var/lib; for d in ${KPATCH_INSTALL_ROOT} ${installFolder(c.kernel)}; do ` +
          `if [ -d "$d" ]; then set -- "$@" "$d"; fi; done; sync -- "$@"`,
      );
    },
    judge: (c, { verify, fail, storeFolder }) =>
      verify === '' ? { ok: true } : fail(`${storeFolder(c.kernel)}/${c.file} is still there`),
  },

  'package-remove': {
    step: 'package remove',
    script: (c) => {
      assertRpmName(c.package);
      return frame(packageManager(sh`remove ${rpmSpec(c.package)}`), PACKAGES, SYNC_ALL);
    },
    judge: (c, { verify, fail }) =>
      verify
        .split('\n')
        .some((l) => l.startsWith('package ') && packageMatches(l.slice(8), c.package))
        ? fail(`${c.package} is still installed`)
        : { ok: true },
  },
};

/** The table's entry for this change (TypeScript cannot follow the action to the entry's type). */
function kindOf<C extends Change>(change: C): StepKind<C> {
  return STEPS[change.action] as unknown as StepKind<C>;
}

/** The remote step for one change, by the host's manager (klp's: `klp-steps.ts`). */
export function stepFor(change: Change, host: StepHost): RemoteStep {
  // a file in the other manager's store (a host moving between managers): kpatch's own command
  // where kpatch is there, else the plain copy or removal (`klp-steps.ts`)
  const other = storeStep(change, host);
  if (other !== undefined) return { step: other.step, become: true, script: other.script };
  if (host.manager === 'klp' && change.action !== 'upload') {
    const klp = KLP_STEPS[change.action] as unknown as KlpStep<Change>;
    return { step: klp.step, become: true, script: klp.script(change, host) };
  }
  const kind = kindOf(change);
  return { step: kind.step, become: true, script: kind.script(change, host) };
}

/** The store a change's file is in, or goes into (`InstallChange.store`, `UninstallChange.store`). */
function storeOfChange(change: Change, manager: ManagerName): ManagerName | undefined {
  if (change.action === 'install') return change.store ?? manager;
  if (change.action === 'uninstall') return change.store ?? 'kpatch';
  return undefined;
}

/**
 * An install or uninstall in a store that is not the manager's own: into or out of kpatch's store
 * under klp (kpatch's command where the utility is there), or the klp store under kpatch.
 */
function storeStep(change: Change, host: StepHost): { step: string; script: string } | undefined {
  const manager = host.manager ?? 'kpatch';
  const store = storeOfChange(change, manager);
  if (store === undefined || store === manager) return undefined;
  if (store === 'kpatch' && host.facts.kpatch.installed) {
    const kind = kindOf(change);
    return { step: kind.step, script: kind.script(change, host) };
  }
  if (change.action === 'install')
    return { step: `${store} install`, script: copyInstall(change, host, store) };
  if (change.action === 'uninstall')
    return { step: `${store} uninstall`, script: removeStored(change, store) };
  return undefined;
}

/**
 * Did the step do what it was for, durably? Its output must reach the marker (else the step ended
 * early); then the verification (its failure says more), then the sync: a change that is made but
 * not on disk yet may not survive a crash.
 */
export function judgeStep(
  change: Change,
  stdout: string,
  manager: ManagerName = 'kpatch',
): StepOutcome {
  if (refusedForLock(stdout)) return { ok: false, error: LOCK_LOST_ERROR };
  const { output, rc, verify } = splitStepOutput(stdout);
  if (rc === undefined) return { ok: false, error: `the step ended early: ${lastLines(stdout)}` };
  const fail = (what: string): StepOutcome => ({
    ok: false,
    error: `${what}${rc !== 0 ? ` (exit ${String(rc)}: ${lastLines(output)})` : ''}`,
  });
  const store = storeOfChange(change, manager) ?? manager;
  const verdict = kindOf(change).judge(change, {
    output,
    verify,
    fail,
    storeFolder: (kernel) => storeFolder(store, kernel),
  });
  if (!verdict.ok) return verdict;
  const unsynced = unsyncedError(output);
  return unsynced === undefined ? verdict : { ok: false, error: unsynced };
}

/**
 * rpm's warning for a failed scriptlet (`warning: %post(NEVRA) scriptlet failed, exit status N`),
 * as ` (…)`: dnf 4 with rpm 4 goes on and exits 0 when a %post fails (docs/kpatch-behaviour.md §4.3).
 */
function scriptletFailure(output: string): string {
  const line = output.split('\n').findLast((l) => /^warning: %\w+\(.*\) scriptlet failed/.test(l));
  return line ? ` (${tailText(line, 1, 300)})` : '';
}

/**
 * What dnf is asked for: name-version-release without the dist tag (as kpfleet.yml allows) is a
 * glob, `…-1-3.*`, which matches `…-1-3.el9_3.x86_64` and never `…-1-30…`; a full NEVRA as is.
 */
export function rpmSpec(pkg: string): string {
  const release = pkg.slice(pkg.lastIndexOf('-') + 1);
  return release.includes('.') ? pkg : `${pkg}.*`;
}

/** dnf where there is one (RHEL 8+), else yum (RHEL 7): `-y`, never a prompt (§4.3). */
function packageManager(args: string): string {
  return `if command -v dnf >/dev/null 2>&1; then dnf -y ${args}; else yum -y ${args}; fi`;
}

/** `kpatch unload`, the way that never prompts: RHEL's `force` prefix (§2.6, §6 #28). */
function unloadCommand(module: string, facts: HostFacts): string {
  const leftoverOnly =
    !facts.patches.some((p) => p.name === module) && facts.modules.some((m) => m.name === module);
  // before 0.9.7 kpatch cannot unload an inert leftover (§2.6 "Version differences")
  if (leftoverOnly && !versionAtLeast(facts.kpatch.version, '0.9.7')) return sh`rmmod ${module}`;
  return facts.kpatch.flavor === 'rhel'
    ? sh`kpatch force unload ${module}`
    : sh`kpatch unload ${module}`;
}

/**
 * `kpatch uninstall -k K -- FILE`: `--` ends kpatch's options (GNU getopt, §2.8), so no file
 * name is read as one. A name that starts with `-` cannot reach kpatch at all: it hands its
 * argument to `basename` without `--`, which reads the name as its own options, and kpatch dies
 * "please supply patch module name without path" (lab/SPEC.md "install / uninstall").
 * Such a file is removed as kpatch uninstall removes one: the file, then its kernel's folder if
 * that is empty.
 */
function uninstallCommand(kernel: string, file: string): string {
  if (!file.startsWith('-')) return sh`kpatch uninstall -k ${kernel} -- ${file}`;
  const dir = installFolder(kernel);
  return sh`rm -f -- ${`${dir}/${file}`} && { rmdir -- ${dir} 2>/dev/null; true; }`;
}
