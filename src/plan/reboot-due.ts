/**
 * "Reboot due" (issue 5 §3): a patch loaded on the host whose support window — its `released`
 * date plus the rollout's `reboot_due_after` — has passed. A warning, never a change: the cure is
 * a reboot into the errata kernel. `kpfleet facts` shows it too. Pure (`now` is an input).
 */
import type { Patch, Rollout } from '../config-model.ts';
import { formatDuration } from '../config/duration.ts';
import type { HostFacts } from '../facts/model.ts';
import type { Finding } from './model.ts';

const DAY_MS = 86_400_000;

/** Patches loaded on the host now whose support window has passed. */
export function rebootDue(
  facts: Pick<HostFacts, 'patches'>,
  patches: ReadonlyMap<string, Patch>,
  rollout: Pick<Rollout, 'rebootDueAfterMs'>,
  now: number,
): Finding[] {
  const window = rollout.rebootDueAfterMs;
  if (window === undefined) return [];
  const out: Finding[] = [];
  for (const lp of facts.patches) {
    if (lp.enabled === false) continue;
    for (const p of patches.values()) {
      if (p.module !== lp.name || p.released === undefined) continue;
      const released = Date.parse(p.released + 'T00:00:00Z');
      if (Number.isNaN(released) || now <= released + window) continue;
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
