/**
 * The klp manager's remote steps (docs/klp-behaviour.md): the same changes as kpatch's table in
 * `steps.ts`, made with nothing but cp, insmod, rmmod, sysfs and systemctl, for hosts without the
 * kpatch utility. Each step prints the same verification as its kpatch counterpart, so one judge
 * per action serves both managers and a batch gates them alike (`batch.ts` passingVerify). The
 * loader itself is `facts/klp-boot.ts`'s, shared with the boot script. Pure: strings in, strings out.
 */
import {
  STASH_ROOT,
  KLP_BOOT_SCRIPT,
  KLP_STORE_ROOT,
  KLP_UNIT,
  KLP_UNIT_PATH,
  storeFolder,
  storeRoot,
} from '../host-paths.ts';
import { KLP_FUNCTIONS, klpBootFiles } from '../facts/klp-boot.ts';
import type { ManagerName } from '../config-model.ts';
import type { Change, ChangeAction, InstallChange, UninstallChange } from '../plan/model.ts';
import {
  assertFileName,
  assertKernelRelease,
  assertModuleName,
  assertRemotePath,
  quote,
  sh,
} from '../transport/shell.ts';
import { basename } from '../util/text.ts';
import { guardedLoad } from './load-record.ts';
import { resolveStaged, stashScript } from './scripts.ts';
import { frame, loadVerify, unloadVerify } from './step-frame.ts';
import type { StepHost } from './steps.ts';

/** One kind of change under klp: its name for errors and its whole script (`step-frame.ts`). */
export interface KlpStep<C extends Change> {
  step: string;
  script: (change: C, host: StepHost) => string;
}

/** Where systemctl enable puts the unit's link (WantedBy=multi-user.target). */
const WANTS = '/etc/systemd/system/multi-user.target.wants';

/** A kpatch-patch package needs kpatch: the planner never plans one for a klp host. */
function noPackages(): never {
  throw new Error(
    'kpatch-patch packages need the kpatch manager: the klp manager has no package step',
  );
}

/** A store's root and its folder for a kernel: the klp manager's, or kpatch's on a host without it. */
function storeFolders(store: ManagerName, kernel: string): { root: string; dir: string } {
  return { root: storeRoot(store), dir: storeFolder(store, kernel) };
}

/**
 * An install without the kpatch utility: into the klp store, or (a rollback on a host moving away
 * from kpatch, which has no kpatch) back into kpatch's. What kpatch install checks first (§2.7),
 * where modinfo is there to ask; then a copy under a temporary name, synced, renamed, so a crash
 * leaves the old file or the new one; the same verification as kpatch install's (sha256).
 */
export function copyInstall(c: InstallChange, host: StepHost, store: ManagerName): string {
  assertKernelRelease(c.kernel);
  const file = resolveStaged(c.file, host.staging);
  assertRemotePath(file);
  assertModuleName(c.module);
  // a rollback puts a copy this run kept back under the name it had; otherwise the klp store
  // names a module `<module>.ko` (§K.1) and kpatch's keeps the file's own name
  const restore = file.startsWith(`${STASH_ROOT}/`);
  const name = store === 'klp' && !restore ? `${c.module}.ko` : basename(file);
  assertFileName(name);
  const { root, dir } = storeFolders(store, c.kernel);
  const target = `${dir}/${name}`;
  const temp = `${dir}/.${name}.new`;
  const [f, k, m] = [quote(file), quote(c.kernel), quote(c.module)];
  // what it replaces is kept first, as an uninstall's copy is (a rollback puts it back): without
  // the copy, no install
  const keep =
    restore || host.runId === undefined
      ? ''
      : sh`{ [ ! -e ${target} ] || { ` +
        `${stashScript(host.runId, c.kernel, name, store)}; }; } && `;
  const check = restore
    ? 'kpf_ok=1; '
    : `kpf_ok=1; if command -v modinfo >/dev/null 2>&1; then ` +
      // the name the kernel will give it: the one sysfs, the crash guard and the boot script use
      `kpf_nm=$(modinfo -F name -- ${f} 2>/dev/null); if [ -n "$kpf_nm" ] && [ "$kpf_nm" != ${m} ]; then echo "kpfleet: "${f}" is the module $kpf_nm, not "${m}; kpf_ok=0; fi; ` +
      `kpf_vm=$(modinfo -F vermagic -- ${f} 2>/dev/null); kpf_vm=\${kpf_vm%% *}; ` +
      `if [ "$kpf_vm" != ${k} ]; then echo "kpfleet: "${f}" is built for \${kpf_vm:-an unknown kernel}, not "${k}; kpf_ok=0; fi; ` +
      `if [ "$(modinfo -F livepatch -- ${f} 2>/dev/null)" != Y ]; then echo "kpfleet: "${f}" is not a livepatch module (its modinfo has no livepatch=Y)"; kpf_ok=0; fi; ` +
      `else echo 'kpfleet: no modinfo on this host: the module is not checked before the copy'; fi; `;
  const copy =
    sh`[ "$kpf_ok" = 1 ] && mkdir -p -m 0755 -- ${root} && mkdir -p -m 0755 -- ${dir} && ` +
    keep +
    sh`cp -- ${file} ${temp} && chmod 0644 -- ${temp} && ` +
    // RHEL-like hosts label modules; insmod from /var/lib needs it where SELinux enforces
    sh`{ if command -v selinuxenabled >/dev/null 2>&1 && selinuxenabled; then chcon -t modules_object_t -- ${temp}; else true; fi; } && ` +
    sh`sync -- ${temp} && mv -f -- ${temp} ${target}`;
  return frame(
    check + copy,
    sh`sha256sum ${target} 2>/dev/null | cut -d' ' -f1`,
    sh`sync -- ${target} ${dir} ${root}`,
  );
}

/** An uninstall without the kpatch utility: the file removed, then its emptied kernel folder. */
export function removeStored(c: UninstallChange, store: ManagerName): string {
  assertKernelRelease(c.kernel);
  assertFileName(c.file);
  const { root, dir } = storeFolders(store, c.kernel);
  const target = `${dir}/${c.file}`;
  assertRemotePath(target);
  return frame(
    sh`rm -f -- ${target} && { rmdir -- ${dir} 2>/dev/null; true; }`,
    sh`test -e ${target} && echo present; true`,
    sh`set -- ${root}; if [ -d ${dir} ]; then set -- "$@" ${dir}; fi; sync -- "$@"`,
  );
}

export const KLP_STEPS: {
  [A in Exclude<ChangeAction, 'upload'>]: KlpStep<Extract<Change, { action: A }>>;
} = {
  install: { step: 'klp install', script: (c, host) => copyInstall(c, host, 'klp') },

  'package-install': { step: 'package install', script: noPackages },

  'enable-service': {
    step: 'klp boot unit',
    script: () => {
      const { unit, script } = klpBootFiles();
      const write = (path: string, text: string): string =>
        sh`printf '%s' ${text} >${`${path}.new`} && chmod 0644 -- ${`${path}.new`} && ` +
        sh`sync -- ${`${path}.new`} && mv -f -- ${`${path}.new`} ${path}`;
      // `enabled` only when the unit is enabled and both files are kpfleet's current ones (the
      // verification kpatch's enable prints, so one judge serves both); else what differs
      const verify =
        sh`kpf_e=$(systemctl is-enabled ${KLP_UNIT} 2>&1); ` +
        sh`kpf_u=$(sha256sum ${unit.path} 2>/dev/null | cut -d' ' -f1); ` +
        sh`kpf_s=$(sha256sum ${script.path} 2>/dev/null | cut -d' ' -f1); ` +
        sh`if [ "$kpf_e" = enabled ] && [ "$kpf_u" = ${unit.sha256} ] && [ "$kpf_s" = ${script.sha256} ]; then echo enabled; ` +
        sh`else echo "is-enabled: $kpf_e"; [ "$kpf_u" = ${unit.sha256} ] || echo ${`${unit.path} is not kpfleet's current unit`}; ` +
        sh`[ "$kpf_s" = ${script.sha256} ] || echo ${`${script.path} is not kpfleet's current boot script`}; fi`;
      return frame(
        sh`mkdir -p -m 0755 -- ${KLP_STORE_ROOT} && ` +
          `${write(script.path, script.text)} && ${write(unit.path, unit.text)} && ` +
          sh`systemctl daemon-reload && systemctl enable ${KLP_UNIT}`,
        verify,
        sh`sync -- ${KLP_BOOT_SCRIPT} ${KLP_STORE_ROOT} ${KLP_UNIT_PATH} /etc/systemd/system && ` +
          sh`if [ -d ${WANTS} ]; then sync -- ${WANTS}; fi`,
      );
    },
  },

  load: {
    step: 'klp load',
    script: (c, host) => {
      assertModuleName(c.module);
      const m = c.module;
      // a klp load names its file: there is no utility to find it by name (the planner gives it)
      if (c.file === undefined) throw new Error(`the klp load of ${m} names no file`);
      assertRemotePath(c.file);
      // the crash guard as for kpatch (load-record.ts); the loader is the boot script's
      return frame(
        `${KLP_FUNCTIONS}\n` + guardedLoad(m, c.patch, host.runId, sh`kpf_klp_load ${m} ${c.file}`),
        loadVerify(m),
      );
    },
  },

  unload: {
    step: 'klp unload',
    script: (c) => {
      assertModuleName(c.module);
      return frame(`${KLP_FUNCTIONS}\n${sh`kpf_klp_unload ${c.module}`}`, unloadVerify(c.module));
    },
  },

  uninstall: { step: 'klp uninstall', script: (c) => removeStored(c, 'klp') },

  'package-remove': { step: 'package remove', script: noPackages },
};
