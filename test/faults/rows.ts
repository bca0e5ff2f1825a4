/**
 * The fault matrix (issue 15 point 7), one entry a row: which fault, at which phase, how it is
 * switched on and off, and what must hold. `matrix.test.ts` runs every row on the real-SSH fleet
 * and writes docs/reliability.md from the results.
 *
 * A row's `expect`:
 * - `converges`: nothing lost (the host is as before the run or as asked, no lock, staging or
 *   rollback copy left), the other host converged, and a rerun (the fault cleared) converges.
 * - `limit`: what happens instead, with the reason; `holds` says what must be true of the result,
 *   so a change in behaviour fails the suite and the row is looked at again.
 * - `pending`: the row waits for a feature (`needs`); with `today` it is run and `today` must hold
 *   of today's behaviour (so the row fails, and is flipped to `converges`, once the feature lands);
 *   without it the fault does not exist yet and the row is reported as pending, never passed.
 */
import type { FleetHost } from '../../lab/fleet.ts';

export type Phase = 'facts' | 'lock' | 'upload' | 'install' | 'load' | 'unload' | 'run';

export interface Result {
  /** The faulted host's outcome and message in the first run's report (normalised). */
  outcome: string;
  message: string;
  exit: number | null;
  /** The other host's outcome in the first run. */
  other: string;
  /** The faulted host's outcome in the rerun, its exit code, and whether `plan` is then empty. */
  rerunOutcome: string;
  rerunExit: number | null;
  converged: boolean;
  /** What differs from both "before the run" and "as asked" once the fault is cleared; [] = nothing. */
  halfChanged: string[];
  /** Extra facts a special row records (the concurrent run's second outcome, …). */
  note?: string;
}

export type Expect =
  | { kind: 'converges'; outcome?: string[] }
  | { kind: 'limit'; reason: string; holds: (r: Result) => boolean }
  | { kind: 'pending'; needs: string; today?: (r: Result) => boolean };

/** What a row does to its host; `ctx` is given by the suite. */
export interface FaultContext {
  host: FleetHost;
  /** Runs the built CLI in the row's folder (for rows that drive the run themselves). */
  dir: string;
}

export interface Row {
  fault: string;
  phase: Phase;
  /** What the row's kpfleet.yml declares: a `.ko` file (default) or a kpatch-patch package. */
  patch?: 'file' | 'rpm';
  /** The host's state before the run: `bare` (asked: loaded) or `loaded` (asked: absent). */
  start?: 'bare' | 'loaded';
  /** Switches the fault on before the run (or, with `run`, the row drives the run). */
  inject?: (h: FleetHost) => void;
  /** Switches it off before the rerun (default: every fault cleared). */
  clear?: (h: FleetHost) => void;
  /** A row whose fault comes during the run, not before it (see matrix.test.ts `special`). */
  special?: 'host-key' | 'concurrent' | 'killed' | 'hang-during-load';
  expect: Expect;
}

const converges: Expect = { kind: 'converges' };

export const ROWS: Row[] = [
  // transitions (docs/kpatch-behaviour.md §6 #15–#17)
  {
    fault: 'transition stall, finite (10 s)',
    phase: 'load',
    inject: (h) => h.fault('stall', '10'),
    expect: converges,
  },
  {
    fault: 'transition stall, forever',
    phase: 'load',
    inject: (h) => h.fault('stall', 'forever'),
    expect: converges,
  },
  {
    fault: 'disabling transition stall, forever',
    phase: 'unload',
    start: 'loaded',
    inject: (h) => h.fault('stall-unload', 'forever'),
    expect: {
      kind: 'limit',
      reason:
        'a disabling transition that never ends is the kernel waiting on a task (docs/kpatch-behaviour.md §6 #16): the host is left mid-transition and the rerun blocks it, naming the transition, until the operator signals or forces it; nothing else is changed and the other host converges',
      holds: (r) =>
        r.outcome === 'failed' &&
        r.other === 'changed' &&
        r.rerunOutcome === 'blocked' &&
        r.halfChanged.includes('sysfs: enabled=0 transition=1'),
    },
  },
  // insmod errors (§2.4, §6 #24, #25)
  {
    fault: 'insmod EEXIST (File exists)',
    phase: 'load',
    inject: (h) => h.fault('insmod-error', 'file-exists'),
    expect: converges,
  },
  {
    fault: 'insmod vermagic (Invalid module format)',
    phase: 'load',
    inject: (h) => h.fault('insmod-error', 'invalid-format'),
    expect: converges,
  },
  {
    fault: 'insmod signature (Key was rejected)',
    phase: 'load',
    inject: (h) => h.fault('insmod-error', 'key-rejected'),
    expect: converges,
  },
  {
    fault: 'insmod lockdown (Operation not permitted)',
    phase: 'load',
    inject: (h) => h.fault('insmod-error', 'not-permitted'),
    expect: converges,
  },
  // busy (§1.4): kpatch retries a busy sysfs write; insmod EBUSY is not retried
  { fault: 'busy, 2 times', phase: 'load', inject: (h) => h.fault('busy', '2'), expect: converges },
  {
    fault: 'busy, 2 times',
    phase: 'unload',
    start: 'loaded',
    inject: (h) => h.fault('busy', '2'),
    expect: converges,
  },
  // connection drops
  {
    fault: 'connection drop',
    phase: 'upload',
    inject: (h) => h.fault('drop', 'upload'),
    expect: converges,
  },
  {
    fault: 'connection drop',
    phase: 'install',
    inject: (h) => h.fault('drop', 'install'),
    expect: converges,
  },
  {
    fault: 'connection drop',
    phase: 'load',
    inject: (h) => h.fault('drop', 'load'),
    expect: converges,
  },
  {
    fault: 'connection drop',
    phase: 'unload',
    start: 'loaded',
    inject: (h) => h.fault('drop', 'unload'),
    expect: converges,
  },
  // hangs
  {
    fault: 'host hang (every process stopped)',
    phase: 'facts',
    inject: (h) => h.hang(),
    expect: converges,
  },
  {
    fault: 'host hang (every process stopped)',
    phase: 'load',
    special: 'hang-during-load',
    expect: {
      kind: 'limit',
      reason:
        "the run loses the host (keepalive) and reports it unreachable; its lock ends with the connection (src/apply/lock.ts) and the rerun is not refused, but the upload it staged stays in the login user's ~/.kpfleet/stage until a run that changes the host (the rerun has nothing to do: the load finished on the host); a staged file is never loaded from there, uploads are checked by sha256 each run",
      holds: (r) =>
        r.outcome === 'unreachable' &&
        r.other === 'changed' &&
        r.rerunExit === 0 &&
        !r.halfChanged.includes('lock: held') &&
        r.halfChanged.every((d) => d.startsWith('staging:')),
    },
  },
  {
    fault: 'kpatch never finishes (every kpatch command)',
    phase: 'facts',
    inject: (h) => h.fault('hang'),
    expect: converges,
  },
  // the host's set-up
  {
    fault: 'sudo wants a password',
    phase: 'lock',
    inject: (h) => h.setSudo('password'),
    clear: (h) => h.setSudo('nopasswd'),
    expect: converges,
  },
  {
    // with manager auto the host is then a klp host (docs/klp-behaviour.md): the run converges
    // without kpatch, and once kpatch is back the rerun moves it to kpatch's store
    fault: 'kpatch missing',
    phase: 'facts',
    inject: (h) => h.setKpatchInstalled(false),
    clear: (h) => h.setKpatchInstalled(true),
    expect: converges,
  },
  {
    fault: 'no livepatch support',
    phase: 'facts',
    inject: (h) => h.fault('no-livepatch'),
    expect: converges,
  },
  // disk full: the fleet's (tmpfs over the upload places) and the simulator's (kpatch install's cp)
  {
    fault: 'disk full, 4 KiB left (the upload fits; kpatch install cannot copy)',
    phase: 'install',
    inject: (h) => h.fault('disk-full'),
    expect: converges,
  },
  {
    fault: 'disk full',
    phase: 'install',
    inject: (h) => h.sim.fault('disk-full'),
    clear: (h) => h.sim.clearFaults(),
    expect: converges,
  },
  // around the run
  {
    fault: 'host key changed between plan and apply',
    phase: 'run',
    special: 'host-key',
    expect: converges,
  },
  { fault: 'a concurrent run', phase: 'lock', special: 'concurrent', expect: converges },
  {
    fault: 'the controller killed (SIGKILL)',
    phase: 'load',
    special: 'killed',
    expect: {
      kind: 'limit',
      reason:
        "SIGKILL cannot be caught: the lock dies with the run's connection (src/apply/lock.ts), the load it started finishes on the host and the rerun, not refused, finds the host as asked; only the upload it staged stays in the login user's ~/.kpfleet/stage until a run that changes the host",
      holds: (r) =>
        r.rerunExit === 0 &&
        !r.halfChanged.includes('lock: held') &&
        r.halfChanged.every((d) => d.startsWith('staging:')),
    },
  },
  {
    fault: 'host reset during load',
    phase: 'load',
    inject: (h) => h.sim.fault('reset-on-load'),
    expect: {
      kind: 'limit',
      reason:
        'the crash guard (issue 15 point 4): the run loses the host mid-load, connects again, takes the lock again and rolls the host back (kpatch.service had loaded the installed patch at boot); its record of the load the host went down in stays, so the rerun blocks the patch there ("suspected of crashing this host", exit 1) until someone has looked and run kpfleet clear-suspect. Nothing else is changed and the other host converges',
      holds: (r) =>
        ['failed', 'unreachable'].includes(r.outcome) &&
        r.other === 'changed' &&
        r.rerunOutcome === 'blocked' &&
        r.rerunExit === 1 &&
        r.halfChanged.includes('records: [not empty]') &&
        !r.halfChanged.includes('lock: held'),
    },
  },
  // dnf 4 with rpm 4.14/4.16 (RHEL 8/9) reports a failed %post and exits 0: only the check
  // after the step (is the module in /var/lib/kpatch?) sees that the package did not do its work
  {
    fault: 'package %post fails (dnf exits 0)',
    phase: 'install',
    patch: 'rpm',
    inject: (h) => h.sim.fault('post-fail'),
    expect: converges,
  },
];
