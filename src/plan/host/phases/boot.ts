/**
 * Boot-time loading: where patches are declared for this kernel, the manager's boot mechanism must
 * be in place, and a kernel command-line switch that turns it off is reported.
 * - kpatch (docs/kpatch-behaviour.md §4.2): kpatch.service enabled (here, unless an install in this
 *   plan enables it); `kpatch.enable=0` skips it.
 * - klp (docs/klp-behaviour.md §K.2): kpfleet's own unit and boot script, written and enabled
 *   when either is missing, not this kpfleet's, or the unit is not enabled; `kpatch.enable=0` and
 *   `kpfleet.enable=0` both skip it. A host without systemctl has no boot mechanism: a warning.
 */
import { KLP_UNIT } from '../../../host-paths.ts';
import type { HostContext } from '../context.ts';
import type { Draft } from '../draft.ts';

export function boot(ctx: HostContext, draft: Draft): void {
  if (ctx.fitting.length === 0) return;
  if (ctx.manager.name === 'klp') klpBoot(ctx, draft);
  else kpatchBoot(ctx, draft);
}

function kpatchBoot(ctx: HostContext, draft: Draft): void {
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

function klpBoot(ctx: HostContext, draft: Draft): void {
  const b = ctx.facts.klp?.boot;
  if (b !== undefined && !b.systemctl) {
    draft.findings.push({
      kind: 'boot-disabled',
      severity: 'warning',
      message: `there is no systemctl on this host, so ${KLP_UNIT} cannot be used: installed patches are not loaded at boot (docs/klp-behaviour.md §K.2)`,
    });
  } else if (b === undefined || !b.enabled || !b.current) {
    const why =
      b === undefined || (!b.current && !b.enabled)
        ? `${KLP_UNIT} is not set up`
        : !b.current
          ? `${KLP_UNIT} or its boot script is not this kpfleet's (missing or changed)`
          : `${KLP_UNIT} is ${b.state || 'disabled'}`;
    draft.enableService.push({
      action: 'enable-service',
      unit: KLP_UNIT,
      reason: `${why}: installed patches would not load at boot`,
    });
  }
  const off = /(^|\s)(kpatch|kpfleet)\.enable=0(\s|$)/.exec(ctx.facts.cmdline)?.[2];
  if (off !== undefined) {
    draft.findings.push({
      kind: 'boot-disabled',
      severity: 'warning',
      message: `${off}.enable=0 is on the kernel command line: ${KLP_UNIT} loads nothing at boot (docs/klp-behaviour.md §K.2)`,
    });
  }
}
