/**
 * The commands the end of an apply suggests (`report/apply-next.ts`), with the options the user
 * gave that select the same project, hosts and login (`-c`, `--limit`, the shard in use (from
 * `--shard` or the environment), `--login-user`, `--trust-ssh-config`, `--forks`, `--audit-log`),
 * each word quoted to paste back as given (`showCommand`), and where the run's report and audit
 * log are. After `apply --wave K PLANFILE` a new plan starts its waves again at 1: hosts that
 * converged have nothing left, so the new plan's waves are not the old one's.
 */
import type { Shard } from '../inventory/shard.ts';
import type { NextSteps } from '../report/apply-next.ts';
import { showCommand } from '../transport/shell.ts';

export interface RerunOptions {
  config?: string;
  limit?: string;
  loginUser?: string;
  trustSshConfig?: boolean;
  forks?: string;
  auditLog?: string;
}

/** What this run narrowed a saved plan to, beyond the options: the shard in use, the wave. */
export interface RerunScope {
  shard?: Shard | undefined;
  wave?: number | undefined;
}

/** The options that select what this run selected, as argv words. */
function sameSelection(o: RerunOptions, shard: Shard | undefined): string[] {
  return [
    ...(o.config !== undefined ? ['-c', o.config] : []),
    ...(o.limit !== undefined ? ['--limit', o.limit] : []),
    ...(shard !== undefined ? ['--shard', `${String(shard.index)}/${String(shard.count)}`] : []),
    ...(o.loginUser !== undefined ? ['--login-user', o.loginUser] : []),
    ...(o.trustSshConfig === true ? ['--trust-ssh-config'] : []),
    ...(o.forks !== undefined ? ['--forks', o.forks] : []),
  ];
}

export function nextSteps(
  o: RerunOptions,
  planFile: string | undefined,
  files: { report?: string; audit?: string },
  scope: RerunScope = {},
): NextSteps {
  const sel = sameSelection(o, scope.shard);
  const audit = o.auditLog !== undefined ? ['--audit-log', o.auditLog] : [];
  const config = o.config !== undefined ? ['-c', o.config] : [];
  // A wave's plan is the whole fleet's (merged from the shards, or one process's): planned again
  // whole, then applied from its first wave by this same shard.
  const planSel = scope.wave !== undefined ? sameSelection(o, undefined) : sel;
  const wave = scope.wave !== undefined ? ['--wave', '1'] : [];
  return {
    apply: showCommand(['kpfleet', 'apply', ...sel, ...audit]),
    ...(planFile !== undefined
      ? {
          replan: {
            plan: showCommand(['kpfleet', 'plan', ...planSel, '--out', planFile]),
            apply: showCommand(['kpfleet', 'apply', ...sel, ...wave, ...audit, planFile]),
          },
        }
      : {}),
    unlock: `${showCommand(['kpfleet', 'unlock', ...config])} --limit HOST`,
    ...(files.report !== undefined ? { report: files.report } : {}),
    ...(files.audit !== undefined ? { audit: files.audit } : {}),
  };
}
