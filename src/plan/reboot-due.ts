/**
 * "Reboot due" (issue 5 §3): a patch loaded on the host whose support window — its `released`
 * date plus its `support` (else `patch_defaults.support`, else the rollout's `reboot_due_after`)
 * — has passed. `supportEnd` is that date, which `kpfleet status` reports as "covered until". A warning, never a change: the cure is
 * a reboot into the errata kernel. `kpfleet facts` shows it too. Pure (`now` is an input).
 */
import type { Patch, Rollout } from '../config-model.ts';
import { formatDuration } from '../config/duration.ts';
import { kernelMatches } from '../config/kernel-match.ts';
import type { HostFacts } from '../facts/model.ts';
import type { Finding } from './model.ts';

const DAY_MS = 86_400_000;

/**
 * When a patch's support ends (epoch ms, the start of the first day past its window), or undefined
 * without a `released` date or a window.
 */
export function supportEnd(
  p: Pick<Patch, 'released' | 'supportMs'>,
  rollout: Pick<Rollout, 'rebootDueAfterMs'>,
): { released: number; window: number; end: number } | undefined {
  const window = p.supportMs ?? rollout.rebootDueAfterMs;
  if (window === undefined || p.released === undefined) return undefined;
  const released = Date.parse(p.released + 'T00:00:00Z');
  return Number.isNaN(released) ? undefined : { released, window, end: released + window };
}

/**
 * Patches loaded on the host now whose support window has passed: the build for the running
 * kernel only (one module name may be built for several kernels, each with its own window).
 */
export function rebootDue(
  facts: Pick<HostFacts, 'patches' | 'kernel'>,
  patches: ReadonlyMap<string, Patch>,
  rollout: Pick<Rollout, 'rebootDueAfterMs'>,
  now: number,
): Finding[] {
  const out: Finding[] = [];
  for (const lp of facts.patches) {
    if (lp.enabled === false) continue;
    for (const p of patches.values()) {
      if (p.module !== lp.name || !kernelMatches(p.kernels, facts.kernel)) continue;
      const s = supportEnd(p, rollout);
      if (s === undefined || now <= s.end) continue;
      const { released, window } = s;
      const dueSince = new Date(released + window).toISOString().slice(0, 10);
      out.push({
        kind: 'reboot-due',
        severity: 'warning',
        patch: p.name,
        module: p.module,
        message: `reboot due: ${p.name} (released ${p.released}) is past its ${formatDuration(window)} support window since ${dueSince} (${String(Math.floor((now - released - window) / DAY_MS))} days); reboot into the errata kernel`,
      });
    }
  }
  return out;
}
