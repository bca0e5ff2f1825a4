/**
 * The commands the end of an apply suggests (`report/apply-next.ts`), with the options the user
 * gave that select the same project, hosts and login (`-c`, `--limit`, `--login-user`,
 * `--trust-ssh-config`, `--forks`, `--audit-log`), each word quoted to paste back as given
 * (`showCommand`), and where the run's report and audit log are.
 */
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

/** The options that select what this run selected, as argv words. */
function sameSelection(o: RerunOptions): string[] {
  return [
    ...(o.config !== undefined ? ['-c', o.config] : []),
    ...(o.limit !== undefined ? ['--limit', o.limit] : []),
    ...(o.loginUser !== undefined ? ['--login-user', o.loginUser] : []),
    ...(o.trustSshConfig === true ? ['--trust-ssh-config'] : []),
    ...(o.forks !== undefined ? ['--forks', o.forks] : []),
  ];
}

export function nextSteps(
  o: RerunOptions,
  planFile: string | undefined,
  files: { report?: string; audit?: string },
): NextSteps {
  const sel = sameSelection(o);
  const audit = o.auditLog !== undefined ? ['--audit-log', o.auditLog] : [];
  const config = o.config !== undefined ? ['-c', o.config] : [];
  return {
    apply: showCommand(['kpfleet', 'apply', ...sel, ...audit]),
    ...(planFile !== undefined
      ? {
          replan: {
            plan: showCommand(['kpfleet', 'plan', ...sel, '--out', planFile]),
            apply: showCommand(['kpfleet', 'apply', ...sel, ...audit, planFile]),
          },
        }
      : {}),
    unlock: `${showCommand(['kpfleet', 'unlock', ...config])} --limit HOST`,
    ...(files.report !== undefined ? { report: files.report } : {}),
    ...(files.audit !== undefined ? { audit: files.audit } : {}),
  };
}
