/**
 * Which hosts no declared patch covers: the one place that says so. A host is uncovered (exposed)
 * when its plan has an `uncovered` finding, whatever its status: it may have nothing to do and
 * still run a kernel that none of its declared patches fits. The planner's summary counts these
 * hosts (`summarizePlan`), the plan's renderers and apply's end-of-run summary name them; none
 * of them decides it again.
 */
import type { HostPlan } from './model.ts';

/** A host no declared patch covers, and the kernel it runs (when its facts were read). */
export interface UncoveredHost {
  host: string;
  kernel?: string;
}

export function isUncovered(h: HostPlan): boolean {
  return h.findings.some((f) => f.kind === 'uncovered');
}

/** The uncovered hosts of a plan, in its order. */
export function uncoveredHosts(hosts: readonly HostPlan[]): UncoveredHost[] {
  return hosts
    .filter(isUncovered)
    .map((h) => ({ host: h.host, ...(h.kernel !== undefined ? { kernel: h.kernel } : {}) }));
}
