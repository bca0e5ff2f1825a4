/**
 * Boot-time loading (docs/kpatch-behaviour.md §4.2): where patches are declared for this kernel,
 * kpatch.service must be enabled (enabled here, unless an install in this plan enables it) and
 * `kpatch.enable=0` must not be on the kernel command line (reported).
 */
import type { HostContext } from '../context.ts';
import type { Draft } from '../draft.ts';

export function boot(ctx: HostContext, draft: Draft): void {
  if (ctx.fitting.length === 0) return;
  const f = ctx.facts;
  const installsHere =
    draft.installs.some((c) => c.kernel === ctx.kernel) || draft.packageInstalls.length > 0;
  if (!f.service.present && f.kpatch.installed) {
    draft.findings.push({
      kind: 'boot-disabled',
      severity: 'warning',
      message: `kpatch.service is not present (${f.service.state || 'no systemctl'}): installed patches are not loaded at boot`,
    });
  } else if (f.service.present && !f.service.enabled && !installsHere) {
    draft.enableService.push({
      action: 'enable-service',
      reason: `kpatch.service is ${f.service.state || 'disabled'}: installed patches would not load at boot`,
    });
  }
  if (f.kpatchDisabledAtBoot) {
    draft.findings.push({
      kind: 'boot-disabled',
      severity: 'warning',
      message:
        'kpatch.enable=0 is on the kernel command line: kpatch.service loads nothing at boot (docs/kpatch-behaviour.md §4.2)',
    });
  }
}
