/**
 * When kpfleet will not change a host at all: a live-patch transition is running (checked before
 * anything is planned), no declared patch fits the kernel under `uncovered_kernel: fail`, changes
 * are needed but the host's manager cannot make them (a kpatch-patch package under klp; kpatch not
 * installed), or loads are needed but the kernel cannot live-patch
 * (checked once the changes are known). Each sets the draft's `blocked` with the finding that
 * says why.
 */
import { plural } from '../../../util/text.ts';
import type { Finding } from '../../model.ts';
import type { HostContext } from '../context.ts';
import { block, changesInOrder, type Draft } from '../draft.ts';

/** One transition at a time (docs/kpatch-behaviour.md §5.2): nothing starts while one runs. */
export function transitionInProgress(ctx: HostContext, draft: Draft): void {
  const t = ctx.facts.transition;
  if (!t) return;
  const tasks = t.tasks.map((x) => `${String(x.pid)} ${x.comm}`).join(', ');
  const message =
    `${t.patch} is in a${t.enabling ? 'n enabling' : ' disabling'} transition` +
    (tasks ? ` held up by ${tasks}` : t.tasksComplete ? '' : ' (the tasks need root to see)') +
    '; no change starts while it runs (one transition at a time, docs/kpatch-behaviour.md §5.2). ' +
    'Wait for it, or reverse it (kpatch load again re-enables; kpatch unload disables).';
  block(draft, `a live-patch transition is in progress (${t.patch})`, [
    { kind: 'stalled', severity: 'error', module: t.patch, message },
  ]);
}

/** Patches are declared but none fits the running kernel: a warning, or blocked (policy fail). */
export function uncoveredKernel(ctx: HostContext, draft: Draft): void {
  if (ctx.present.length === 0 || ctx.fitting.length > 0) return;
  const K = ctx.kernel;
  const names = ctx.present.map((d) => `${d.p.name} (${d.p.kernels.join(', ')})`).join('; ');
  const fail = ctx.desired.uncoveredKernel === 'fail';
  const finding: Finding = {
    kind: 'uncovered',
    severity: fail ? 'error' : 'warning',
    message: `no declared patch fits kernel ${K}: ${names}${fail ? ' (uncovered_kernel: fail)' : ''}`,
  };
  if (fail) block(draft, `no declared patch fits kernel ${K}`, [finding]);
  else draft.findings.push(finding);
}

/** Changes are needed, the host's manager is kpatch, and kpatch is not there to make them. */
export function kpatchMissing(ctx: HostContext, draft: Draft): void {
  const n = changesInOrder(draft).length;
  if (n === 0 || ctx.manager.name !== 'kpatch' || ctx.facts.kpatch.installed) return;
  block(draft, 'kpatch is not installed', [
    {
      kind: 'kpatch-missing',
      severity: 'error',
      message: `${plural(n, 'change')} needed, but kpatch is not installed (or not in PATH for this user): install the kpatch package`,
    },
  ]);
}

/**
 * A kpatch-patch package on a host the klp manager manages: its scriptlets run the kpatch utility
 * (docs/kpatch-behaviour.md §4.3), which the klp manager does not use (docs/klp-behaviour.md §K.5).
 */
export function packagesNeedKpatch(ctx: HostContext, draft: Draft): void {
  if (ctx.manager.name !== 'klp') return;
  const pkgs = ctx.present.filter((d) => d.p.source.kind === 'rpm');
  if (pkgs.length === 0) return;
  block(draft, 'kpatch-patch packages need the kpatch manager', [
    {
      kind: 'manager-unsupported',
      severity: 'error',
      message: `${pkgs.map((d) => d.p.name).join(', ')} ${pkgs.length === 1 ? 'is a kpatch-patch package' : 'are kpatch-patch packages'}, whose scripts run the kpatch utility, but this host's manager is klp: install kpatch and set manager: kpatch for it, or declare the module as a file patch`,
    },
  ]);
}

/** Loads are needed and the kernel has no live-patch support. */
export function livepatchUnsupported(ctx: HostContext, draft: Draft): void {
  if (draft.loads.length === 0 || ctx.facts.livepatchSupported) return;
  block(draft, 'the kernel has no live-patch support', [
    {
      kind: 'livepatch-unsupported',
      severity: 'error',
      message: `kernel ${ctx.kernel} has no /sys/kernel/livepatch (CONFIG_LIVEPATCH): nothing can be loaded (docs/kpatch-behaviour.md §6 #5)`,
    },
  ]);
}
