/**
 * The crash guard (issue 15 point 4): a load that took this host down is not run there again.
 * Once the changes are known, a host whose plan would load a suspect (by kpatch load or a
 * package's %post) is blocked; a suspect that is loaded now (kpatch.service loaded it at boot)
 * is a warning.
 */
import { clearHint, suspectBrief, suspectSentence } from '../../suspect.ts';
import { isEnabled, type HostContext } from '../context.ts';
import { block, type Draft } from '../draft.ts';

export function crashGuard(ctx: HostContext, draft: Draft): void {
  const suspects = ctx.facts.suspects ?? [];
  if (suspects.length === 0) return;
  const host = ctx.desired.host;
  const loading = new Set([
    ...draft.loads.map((l) => l.module),
    ...draft.packageInstalls.flatMap((c) => (c.module !== '' ? [c.module] : [])),
  ]);
  const hit = suspects.filter((x) => loading.has(x.module));
  for (const x of suspects.filter((y) => !loading.has(y.module) && isEnabled(ctx, y.module))) {
    draft.findings.push({
      kind: 'suspect',
      severity: 'warning',
      patch: x.patch,
      module: x.module,
      message: `${suspectSentence(x)}; it is loaded now (kpatch.service loads what is installed at boot). ${clearHint(host, x.patch)}`,
    });
  }
  if (hit.length === 0) return;
  block(
    draft,
    `suspected of crashing this host: ${hit.map(suspectBrief).join('; ')}; once someone has looked: kpfleet clear-suspect --limit ${host}`,
    hit.map((x) => ({
      kind: 'suspect' as const,
      severity: 'error' as const,
      patch: x.patch,
      module: x.module,
      message: `${suspectSentence(x)}; kpfleet will not load it here again. ${clearHint(host, x.patch)}`,
    })),
  );
}
