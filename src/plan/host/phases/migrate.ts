/**
 * Moving a host between managers (docs/klp-behaviour.md §K.6) is planned like any other change: a
 * declared patch's copy in the other manager's store is removed once this manager's store holds
 * it for that kernel, now or by an install of this plan (installs run before removals,
 * `changesInOrder`), so the patch is in a boot set at every step. A loaded patch stays loaded
 * throughout: /sys/kernel/livepatch is the kernel's, not a manager's, so nothing is reloaded.
 */
import { holds, type HostContext } from '../context.ts';
import { planUninstall, type Draft } from '../draft.ts';

export function migrate(ctx: HostContext, draft: Draft): void {
  const m = ctx.manager;
  // only where this manager can load at boot: else the other store's copy is what a reboot loads
  const canBoot =
    m.name === 'klp' ? ctx.facts.klp?.boot.systemctl !== false : ctx.facts.service.present;
  for (const d of ctx.present) {
    for (const i of m.foreign.filter((x) => holds(d.p, x))) {
      const ownNow = m.store.some(
        (x) => x.kernel === i.kernel && holds(d.p, x) && !draft.uninstalling.has(x.path),
      );
      const ownPlanned = draft.installs.some((c) => c.kernel === i.kernel && c.patch === d.p.name);
      if (!ownNow && !ownPlanned) continue;
      if (!canBoot) {
        draft.findings.push({
          kind: 'boot-disabled',
          severity: 'warning',
          patch: d.p.name,
          module: d.p.module,
          message: `${i.path} is kept: it is what loads ${d.p.module} at boot, since this host's ${m.name} manager has no boot mechanism (${m.name === 'klp' ? 'no systemctl' : 'no kpatch.service'})`,
        });
        continue;
      }
      planUninstall(
        draft,
        i,
        `the host's manager is ${m.name}: ${d.p.name} is installed in ${m.storeFolder(i.kernel)}, so the copy the other manager loads at boot is removed`,
        { patch: d.p.name },
      );
    }
  }
}
