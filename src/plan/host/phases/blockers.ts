/**
 * When kpfleet will not change a host at all: a live-patch transition is running (checked before
 * anything is planned), no declared patch fits the kernel under `uncovered_kernel: fail`, changes
 * are needed but the host's manager cannot make them (klp, not implemented yet; kpatch not
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

/**
 * Changes are needed and the host's manager cannot make them: klp, which kpfleet does not
 * implement yet (issue 21), or kpatch where the kpatch utility is not installed.
 */
export function managerMissing(ctx: HostContext, draft: Draft): void {
  const n = changesInOrder(draft).length;
  if (n === 0) return;
  const { manager, reason } = ctx.manager;
  const needed = `${plural(n, 'change')} needed`;
  switch (manager) {
    case 'klp': {
      const fix =
        ctx.desired.manager.choice === 'klp'
          ? `set manager: kpatch (or auto) where klp is set (${reason})${ctx.facts.kpatch.installed ? '' : ', and install the kpatch package'}`
          : 'install the kpatch package on the host: manager auto then chooses kpatch';
      block(draft, 'the klp manager is not implemented yet', [
        {
          kind: 'manager-unsupported',
          severity: 'error',
          message: `${needed}, but this host's manager is klp (${reason}), which kpfleet does not implement yet: ${fix}`,
        },
      ]);
      return;
    }
    case 'kpatch':
      if (ctx.facts.kpatch.installed) return;
      block(draft, 'kpatch is not installed', [
        {
          kind: 'kpatch-missing',
          severity: 'error',
          message: `${needed}, but kpatch is not installed (or not in PATH for this user): install the kpatch package`,
        },
      ]);
      return;
  }
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
