/**
 * The crash guard's record of a load (issue 15 point 4): written and synced on the host before
 * `kpatch load` starts, removed once its outcome is known. A record left behind under an older
 * boot id means the host went down during that load (facts/parse/load-records.ts reads it; the
 * planner's `suspect` finding). Pure: the command as a string, every name checked.
 */
import { LOAD_RECORD_DIR } from '../host-paths.ts';
import { assertModuleName, sh } from '../transport/shell.ts';
import { assertRunId } from './scripts.ts';

/** A patch name as kpfleet.yml allows one (schemas/kpfleet.schema.json `patchName`). */
const PATCH_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

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
  if (runId !== undefined) assertRunId(runId);
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
 * After `kpatch load` returned, whatever its status: its record goes, durably (the host did not go down
 * during it). Kept while the module was still in transition, a record outlives every load that
 * a dead controller cut short (kpatch dies of SIGPIPE, the transition completes without it) and,
 * after any later reboot, wrongly blocks that patch as a suspect (the fault matrix's killed and
 * hang rows); a load that gave up mid-transition (§2.4) is reported failed and rolled back.
 */
export function dropRecord(module: string): string {
  assertModuleName(module);
  // synced: an unlink still in the page cache comes back after a crash as a record of an
  // earlier boot, and the patch it names is then wrongly a suspect (found by the VM suite's
  // hard reset right after a klp apply)
  return sh`{ rm -f -- ${`${LOAD_RECORD_DIR}/${module}`}; sync -- ${LOAD_RECORD_DIR}; } 2>/dev/null`;
}

/**
 * `load` (a command) inside the crash guard, as both managers' load steps run it: a suspect is
 * never loaded (its record kept); without a record written first, no load; the record goes,
 * synced, once the load returned, and the step's status is the load's.
 */
export function guardedLoad(
  module: string,
  patch: string,
  runId: string | undefined,
  load: string,
): string {
  const m = module;
  return (
    `if ${suspectRecordTest(m)}; then ` +
    sh`echo ${`kpfleet: ${m} is suspected of crashing this host (${LOAD_RECORD_DIR}/${m} is from an earlier boot): not loaded; kpfleet clear-suspect once someone has looked`}; false; ` +
    `elif ${loadRecordScript(m, patch, runId)}; then ${load}; ` +
    `kpl=$?; ${dropRecord(m)}; (exit $kpl); ` +
    sh`else echo ${`kpfleet: could not write the load record in ${LOAD_RECORD_DIR}`}; false; fi`
  );
}
