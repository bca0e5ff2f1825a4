/**
 * The remote command of each plan change, with the check that proves it worked, in one exec:
 * the command runs, then a marker line, then what verification reads (sysfs, the installed
 * file, rpm). Pure: strings in, strings out; every name is validated and every word quoted
 * (`transport/shell.ts`). The sections cited (§n) are docs/kpatch-behaviour.md's.
 */
import type { HostFacts } from '../facts/model.ts';
import type { Change } from '../plan/model.ts';
import {
  assertFileName,
  assertKernelRelease,
  assertModuleName,
  assertRemotePath,
  assertRpmName,
  sh,
} from '../transport/shell.ts';
import { versionAtLeast } from '../util/version.ts';
import {
  installedPath,
  installFolder,
  KPATCH_INSTALL_ROOT,
  LOAD_RECORD_DIR,
  STAGING_DIR,
} from '../host-paths.ts';
import { packageMatches } from '../plan/packages.ts';
import { basename, tailText } from '../util/text.ts';
import { LOCK_LOST_ERROR, refusedForLock } from './lock.ts';

export const VERIFY_MARK = '@@kpfleet-verify@@';
/** Printed, with sync's exit status, when the step's change could not be made durable. */
export const UNSYNCED_MARK = '@@kpfleet-unsynced@@';

/** The names `kpatch list` gives the installed modules (basename, no .ko, - → _: §1.3). */
const INSTALLED_NAMES = `for f in ${KPATCH_INSTALL_ROOT}/*/*.ko; do n=\${f##*/}; echo "\${n%.ko}" | tr - _; done 2>/dev/null`;

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
}

/**
 * The crash guard (issue 15 point 4): the folder where a load's record waits, one file per
 * module, while `kpatch load` runs. A record left behind under an older boot id means the host
 * went down during that load (facts/parse/load-records.ts, the planner's `suspect` finding).
 */

/** A patch name as kpfleet.yml allows one (schemas/kpfleet.schema.json `patchName`). */
const PATCH_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** A run id (`apply/stash.ts`): an ISO time and a random suffix. */
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * Writes the record of a load before it starts: which module and patch, the boot id, the run,
 * the time; mode 0644 (the facts probe reads it without root), renamed into place and synced, so
 * it is on disk before the load can take the host down. Records of this boot left by an earlier
 * load that never finished (a controller killed mid-load: the host stayed up) are removed first.
 * One command that fails if any part does: without its record, no load.
 */
export function loadRecordScript(module: string, patch: string, runId: string | undefined): string {
  assertModuleName(module);
  if (!PATCH_NAME.test(patch)) throw new Error(`invalid patch name ${JSON.stringify(patch)}`);
  if (runId !== undefined && !RUN_ID.test(runId))
    throw new Error(`invalid run id ${JSON.stringify(runId)}`);
  const dir = LOAD_RECORD_DIR;
  const file = `${dir}/${module}`;
  const body =
    `module=${module}\\npatch=${patch}\\nboot=%s\\n` +
    (runId !== undefined ? `run=${runId}\\n` : '') +
    'time=%s\\n';
  return (
    sh`{ kpb=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null) && [ -n "$kpb" ] && mkdir -p -m 0755 ${dir} && ` +
    sh`{ for kpr in ${dir}/*; do [ -f "$kpr" ] && grep -qsx "boot=$kpb" "$kpr" && rm -f -- "$kpr"; done; true; } && ` +
    sh`printf ${body} "$kpb" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >${`${file}.new`} && chmod 0644 ${`${file}.new`} && ` +
    sh`mv -f -- ${`${file}.new`} ${file} && sync; }`
  );
}

/**
 * True on the host when a record of `module`'s load from another boot is there: the crash
 * guard's evidence that this load may have taken the host down. The load step then refuses,
 * so that evidence is never overwritten, nor removed, by another load (`kpfleet clear-suspect`
 * removes it once someone has looked).
 */
export function suspectRecordTest(module: string): string {
  assertModuleName(module);
  const file = `${LOAD_RECORD_DIR}/${module}`;
  return sh`{ [ -e ${file} ] && ! grep -qsx "boot=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)" ${file}; }`;
}

/**
 * After `kpatch load` returned: its record goes unless the module is still in transition (kpatch
 * gave up waiting, §2.4): the load is not over, and the host may yet go down from it.
 */
function dropRecordUnlessInTransition(module: string): string {
  return sh`if [ "$(cat /sys/kernel/livepatch/${module}/transition 2>/dev/null)" != 1 ]; then rm -f -- ${`${LOAD_RECORD_DIR}/${module}`}; fi`;
}

/** `~/.kpfleet/stage/…` → the absolute path on this host. */
export function resolveStaged(path: string, host: StepHost): string {
  return path.startsWith(`${STAGING_DIR}/`) ? host.staging + path.slice(STAGING_DIR.length) : path;
}

/**
 * The command, then (for a change that persists) `durable`, which flushes it to disk, then the
 * marker and the verification. `durable` runs whatever the command's exit status was (install's
 * is systemctl's, §2.7): a failed sync prints UNSYNCED_MARK and fails the step.
 */
const script = (command: string, verify: string, durable?: string): string =>
  `{ ${command}\n} </dev/null 2>&1; rc=$?\n` +
  (durable === undefined
    ? ''
    : `{ ${durable}\n} </dev/null 2>&1 || printf '\\n%s %s\\n' ${UNSYNCED_MARK} "$?"\n`) +
  `printf '\\n%s %s\\n' ${VERIFY_MARK} "$rc"\n${verify}`;

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
 * "please supply patch module name without path" (test/fleet/SPEC.md "install / uninstall").
 * Such a file is removed as kpatch uninstall removes one: the file, then its kernel's folder if
 * that is empty.
 */
function uninstallCommand(kernel: string, file: string): string {
  if (!file.startsWith('-')) return sh`kpatch uninstall -k ${kernel} -- ${file}`;
  const dir = installFolder(kernel);
  return sh`rm -f -- ${`${dir}/${file}`} && { rmdir -- ${dir} 2>/dev/null; true; }`;
}

/** The remote step for one change. */
export function stepFor(change: Change, host: StepHost): RemoteStep {
  const f = host.facts;
  switch (change.action) {
    case 'upload':
      throw new Error('an upload is a transfer, not a command');
    case 'install': {
      assertKernelRelease(change.kernel);
      const file = resolveStaged(change.file, host);
      assertRemotePath(file);
      const target = installedPath(change.kernel, basename(file));
      return {
        step: 'kpatch install',
        become: true,
        // exit status is systemctl's, not the copy's (§2.7): the file and its sha256 decide
        script: script(
          // the path is absolute (never an option); `--` all the same, as for uninstall
          sh`kpatch install -k ${change.kernel} -- ${file}`,
          sh`sha256sum ${target} 2>/dev/null | cut -d' ' -f1`,
          // the copy, its entry in the kernel's folder (made by mkdir -p), and the enable link
          // install's systemctl may have made (§4.2: the service is enabled by every install)
          sh`sync -- ${target} ${installFolder(change.kernel)} ${KPATCH_INSTALL_ROOT} && ` +
            sh`if [ -d ${WANTS} ]; then sync -- ${WANTS} /etc/systemd/system; fi`,
        ),
      };
    }
    case 'package-install': {
      assertRpmName(change.package);
      return {
        step: 'package install',
        become: true,
        // the packages installed, and the modules in /var/lib/kpatch (the one %post dropped, §4.3)
        script: script(
          packageManager(sh`install ${rpmSpec(change.package)}`),
          "rpm -qa 'kpatch-patch*' 2>/dev/null | sed 's/^/package /'; " +
            INSTALLED_NAMES +
            " | sed 's/^/module /'",
          SYNC_ALL,
        ),
      };
    }
    case 'enable-service':
      return {
        step: 'systemctl enable',
        become: true,
        script: script(
          'systemctl enable kpatch.service',
          'systemctl is-enabled kpatch.service',
          SYNC_ENABLE,
        ),
      };
    case 'load': {
      assertModuleName(change.module);
      // kpatch load takes no options (§2.4): an absolute path or a module name is never one
      const target = change.file ?? change.module;
      if (change.file !== undefined) assertRemotePath(change.file);
      const m = change.module;
      // an inert same-named leftover blocks kpatch < 0.9.4 (§6 #27); it holds no reference
      const leftover = versionAtLeast(f.kpatch.version, '0.9.4')
        ? ''
        : sh`if [ ! -e /sys/kernel/livepatch/${m} ] && [ -e /sys/module/${m} ]; then rmmod ${m}; fi; `;
      return {
        step: 'kpatch load',
        become: true,
        // the crash guard's record is written and synced before the load, removed once its
        // outcome is known (the host did not go down); without the record, no load; a suspect
        // (a record of another boot) is never loaded, its record kept
        script: script(
          `if ${suspectRecordTest(m)}; then ` +
            sh`echo ${`kpfleet: ${m} is suspected of crashing this host (${LOAD_RECORD_DIR}/${m} is from an earlier boot): not loaded; kpfleet clear-suspect once someone has looked`}; false; ` +
            `elif ${loadRecordScript(m, change.patch, host.runId)}; then ${leftover}${sh`kpatch load ${target}`}; ` +
            `kpl=$?; ${dropRecordUnlessInTransition(m)}; (exit $kpl); ` +
            sh`else echo ${`kpfleet: could not write the load record in ${LOAD_RECORD_DIR}`}; false; fi`,
          sh`cat /sys/kernel/livepatch/${m}/enabled /sys/kernel/livepatch/${m}/transition 2>/dev/null | tr -d '\n'`,
        ),
      };
    }
    case 'unload': {
      assertModuleName(change.module);
      const m = change.module;
      return {
        step: 'kpatch unload',
        become: true,
        // exit 0 does not prove the module is gone (§6 #19): sysfs and /sys/module decide
        script: script(
          unloadCommand(m, f),
          sh`test -e /sys/kernel/livepatch/${m} && echo sysfs; test -e /sys/module/${m} && echo module; true`,
        ),
      };
    }
    case 'uninstall': {
      assertKernelRelease(change.kernel);
      assertFileName(change.file);
      const target = installedPath(change.kernel, change.file);
      assertRemotePath(target);
      return {
        step: 'kpatch uninstall',
        become: true,
        script: script(
          uninstallCommand(change.kernel, change.file),
          sh`test -e ${target} && echo present; true`,
          // the removal is in the folder; upstream also removes an emptied folder and then
          // /var/lib/kpatch (§2.8): each that is left, and /var/lib
          sh`set -- /var/lib; for d in ${KPATCH_INSTALL_ROOT} ${installFolder(change.kernel)}; do ` +
            `if [ -d "$d" ]; then set -- "$@" "$d"; fi; done; sync -- "$@"`,
        ),
      };
    }
    case 'package-remove':
      assertRpmName(change.package);
      return {
        step: 'package remove',
        become: true,
        script: script(
          packageManager(sh`remove ${rpmSpec(change.package)}`),
          "rpm -qa 'kpatch-patch*' 2>/dev/null | sed 's/^/package /'",
          SYNC_ALL,
        ),
      };
  }
}

/** Splits a step's stdout into the command's output, its exit status and the verification. */
export function splitStepOutput(stdout: string): {
  output: string;
  rc: number | undefined;
  verify: string;
} {
  const at = stdout.lastIndexOf(`\n${VERIFY_MARK} `);
  if (at < 0) return { output: stdout, rc: undefined, verify: '' };
  const rest = stdout.slice(at + VERIFY_MARK.length + 2);
  const nl = rest.indexOf('\n');
  const rcText = nl < 0 ? rest : rest.slice(0, nl);
  return {
    output: stdout.slice(0, at),
    rc: /^\d+$/.test(rcText) ? Number(rcText) : undefined,
    verify: nl < 0 ? '' : rest.slice(nl + 1).trim(),
  };
}

const lastLines = (s: string, n = 3): string =>
  tailText(s, n, 500).replaceAll('\n', ' / ') || '(no output)';

/**
 * Did the step do what it was for, durably? The verification first (its failure says more),
 * then the sync: a change that is made but not on disk yet may not survive a crash.
 */
export function judgeStep(change: Change, stdout: string): StepOutcome {
  if (refusedForLock(stdout)) return { ok: false, error: LOCK_LOST_ERROR };
  const verdict = judgeVerified(change, stdout);
  if (!verdict.ok) return verdict;
  const { output } = splitStepOutput(stdout);
  const at = output.lastIndexOf(`\n${UNSYNCED_MARK} `);
  if (at < 0) return verdict;
  const rc = /^\d{1,3}/.exec(output.slice(at + UNSYNCED_MARK.length + 2))?.[0] ?? '?';
  return {
    ok: false,
    error: `the change is made but sync failed (exit ${rc}: ${lastLines(output.slice(0, at))}): it may not survive a crash`,
  };
}

/**
 * rpm's warning for a failed scriptlet (`warning: %post(NEVRA) scriptlet failed, exit status N`),
 * as ` (…)`: dnf 4 with rpm 4 goes on and exits 0 when a %post fails (docs/kpatch-behaviour.md §4.3).
 */
function scriptletFailure(output: string): string {
  const line = output.split('\n').findLast((l) => /^warning: %\w+\(.*\) scriptlet failed/.test(l));
  return line ? ` (${tailText(line, 1, 300)})` : '';
}

/** Did the step do what it was for? Reads the verification, not only the exit status. */
function judgeVerified(change: Change, stdout: string): StepOutcome {
  const { output, rc, verify } = splitStepOutput(stdout);
  if (rc === undefined) return { ok: false, error: `the step ended early: ${lastLines(stdout)}` };
  const failedWith = (what: string) => ({
    ok: false,
    error: `${what}${rc !== 0 ? ` (exit ${String(rc)}: ${lastLines(output)})` : ''}`,
  });
  switch (change.action) {
    case 'upload':
      return { ok: true };
    case 'install':
      // the sha256 of what landed in /var/lib/kpatch (install's exit is systemctl's, §6 #30)
      return verify === change.sha256
        ? { ok: true }
        : failedWith(
            verify === ''
              ? `the module is not in ${installFolder(change.kernel)}`
              : `the installed file's sha256 is ${verify.slice(0, 12)}…, not ${change.sha256.slice(0, 12)}…`,
          );
    case 'package-install': {
      const lines = verify.split('\n');
      const pkgs = lines.flatMap((l) => (l.startsWith('package ') ? [l.slice(8)] : []));
      const mods = lines.flatMap((l) => (l.startsWith('module ') ? [l.slice(7)] : []));
      if (!pkgs.some((x) => packageMatches(x, change.package)))
        return failedWith(`${change.package} is not installed`);
      if (change.module !== '' && !mods.includes(change.module))
        return failedWith(
          `${change.package} is installed but ${change.module} is not in ${KPATCH_INSTALL_ROOT}${scriptletFailure(output)}`,
        );
      return { ok: true };
    }
    case 'enable-service':
      return /^enabled/m.test(verify) ? { ok: true } : failedWith('kpatch.service is not enabled');
    case 'load':
      // enabled=1 and transition=0 (§5.1)
      return verify === '10'
        ? { ok: true }
        : failedWith(
            verify === ''
              ? `${change.module} is not in /sys/kernel/livepatch`
              : verify === '11'
                ? `${change.module} is still in transition`
                : `${change.module} is not enabled (enabled/transition ${verify.split('').join('/')})`,
          );
    case 'unload':
      return verify === ''
        ? { ok: true }
        : failedWith(
            `${change.module} is still ${verify.includes('sysfs') ? 'in /sys/kernel/livepatch' : 'in memory (/sys/module)'}`,
          );
    case 'uninstall':
      return verify === ''
        ? { ok: true }
        : failedWith(`${installedPath(change.kernel, change.file)} is still there`);
    case 'package-remove':
      return verify
        .split('\n')
        .some((l) => l.startsWith('package ') && packageMatches(l.slice(8), change.package))
        ? failedWith(`${change.package} is still installed`)
        : { ok: true };
  }
}
