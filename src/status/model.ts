/**
 * The coverage report that `kpfleet status` writes: which declared live patches are live on each
 * host, which CVEs they therefore mitigate, which are declared but not live and why, and until
 * when each host's live protection is supported. Versioned, serialisable data
 * (schemas/status.schema.json); every format (text, JSON, CSV, OpenVEX, OpenMetrics, HTML) is
 * rendered from it by `report/status-*.ts`. Built by `status/host.ts` and `status/fleet.ts`
 * (pure).
 */
import type { ManagerName } from '../config-model.ts';
import type { ErrorInfo } from '../errors.ts';
import type { PatchState } from '../config-model.ts';
import type { HostStatus as PlanHostStatus } from '../plan/model.ts';

export const STATUS_FORMAT = 'kpfleet-status';
export const STATUS_VERSION = 1;

/**
 * One word for a host, decided in `status/host.ts` alone:
 * - `protected`: every CVE its groups declare loaded is mitigated by a live patch;
 * - `exposed`: at least one declared CVE is not (not converged, blocked);
 * - `uncovered`: patches are declared for it but none fits its running kernel (exposed too);
 * - `none`: nothing is declared loaded for it;
 * - `unreachable`: not reached (connection, authentication, host key); its coverage is unknown;
 * - `error`: reached, but its facts could not be read; its coverage is unknown.
 */
export type CoverageState =
  'protected' | 'exposed' | 'uncovered' | 'none' | 'unreachable' | 'error';
export const COVERAGE_STATES: readonly CoverageState[] = [
  'protected',
  'exposed',
  'uncovered',
  'none',
  'unreachable',
  'error',
];

/** A declared CVE on a host: mitigated by a live patch, exposed, or unknown (host not read). */
export type CveState = 'mitigated' | 'exposed' | 'unknown';

/**
 * Why a declared CVE is not mitigated on a host:
 * - `not-converged`: a patch that fixes it fits the kernel but is not live yet (`apply` loads it);
 * - `uncovered`: no declared patch that fixes it fits the running kernel (reboot into a fixed
 *   kernel, or add a patch for this one);
 * - `blocked`: kpfleet will not change the host (a transition in progress, kpatch missing, klp, no
 *   live-patch support, a suspect load, a module refused for its signature, `uncovered_kernel:
 *   fail`); the host's findings say why;
 * - `unreachable`, `error`: the host's facts are unknown.
 */
export type ExposedReason = 'not-converged' | 'uncovered' | 'blocked' | 'unreachable' | 'error';

/** A patch declared for the host (loaded or installed), as the host runs it. */
export interface PatchCoverage {
  patch: string;
  module: string;
  /** What the host's groups declare. */
  declared: Exclude<PatchState, 'absent'>;
  /** Built for the running kernel. */
  fits: boolean;
  /** Enabled in /sys/kernel/livepatch, and not in transition: its fixes are live. */
  live: boolean;
  /** In place for the running kernel's next boot (an installed file or package). */
  installed: boolean;
  /** The CVEs it fixes, its predecessors' included (a cumulative patch carries theirs). */
  cves: string[];
  /** `released` + its support window (YYYY-MM-DD), where both are known. */
  supportedUntil?: string;
}

/** A CVE declared for the host: by the patches its groups declare loaded. */
export interface HostCve {
  cve: string;
  state: CveState;
  /** The live patches that mitigate it (catalogue names). */
  by: string[];
  /** The declared patches that would. */
  patches: string[];
  reason?: ExposedReason;
  /** The latest support end among the live patches that mitigate it (YYYY-MM-DD). */
  coveredUntil?: string;
}

export interface HostCoverage {
  host: string;
  groups: string[];
  state: CoverageState;
  /** The running kernel (absent when facts could not be read). */
  kernel?: string;
  /** The kernel's architecture and the distribution (`/etc/os-release` ID), for VEX products. */
  arch?: string;
  os?: string;
  /** What manages its live patches and why, as its plan says (absent where facts were not read). */
  manager?: ManagerName;
  managerReason?: string;
  /** What `plan` would say of the host: converged, changes, blocked, error, unreachable. */
  plan: PlanHostStatus;
  /** The plan's one line for the host (why it is blocked, or what is pending). */
  reason: string;
  patches: PatchCoverage[];
  cves: HostCve[];
  /**
   * The earliest support end of the declared patches live on the host (YYYY-MM-DD): the day its
   * live protection runs out and it must reboot into a fixed kernel. Absent when no live patch
   * has a `released` date and a support window.
   */
  coveredUntil?: string;
  /** A live patch is past its support window. */
  rebootDue: boolean;
  /** For `unreachable` and `error`: what went wrong. */
  error?: ErrorInfo;
}

/** A group of kpfleet.yml: its hosts by state, and each patch it declares, host by host. */
export interface GroupCoverage {
  group: string;
  hosts: number;
  states: Partial<Record<CoverageState, number>>;
  patches: {
    patch: string;
    declared: Exclude<PatchState, 'absent'>;
    /** Hosts of the group where the patch is live / fits but is not live / does not fit. */
    live: number;
    notLive: number;
    unfit: number;
    /** Hosts whose facts are unknown. */
    unknown: number;
  }[];
}

/** A CVE across the fleet. */
export interface CveCoverage {
  cve: string;
  /** The catalogue patches that fix it (their successors included). */
  patches: string[];
  mitigated: number;
  exposed: number;
  unknown: number;
  /** The earliest support end among the hosts where it is mitigated (YYYY-MM-DD). */
  coveredUntil?: string;
}

export interface StatusSummary {
  hosts: number;
  states: Partial<Record<CoverageState, number>>;
  /** Hosts with a live patch past its support window. */
  rebootDue: number;
  /** Declared CVE × host pairs, by state. */
  cves: Record<CveState, number>;
  /** The earliest `coveredUntil` of any host (YYYY-MM-DD). */
  coveredUntil?: string;
}

export interface StatusReport {
  format: typeof STATUS_FORMAT;
  version: typeof STATUS_VERSION;
  /** When the facts were read (ISO 8601). */
  createdAt: string;
  kpfleetVersion: string;
  /** The project file, as named on the command line; and the --limit used. */
  config: string;
  limit?: string;
  hosts: HostCoverage[];
  groups: GroupCoverage[];
  cves: CveCoverage[];
  summary: StatusSummary;
}
