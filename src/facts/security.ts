/**
 * Whether a host's kernel refuses unsigned modules, from its facts (docs/kpatch-behaviour.md
 * §5.5, §6 #24-25). Pure.
 */
import type { HostFacts } from './model.ts';

/**
 * `true` when the kernel refuses an unsigned module: `sig_enforce` is on, or lockdown is
 * `integrity` or `confidentiality` (either alone is enough). `false` only when both are known and
 * neither refuses. `undefined` otherwise: kpfleet could not tell (a file it could not read).
 * Secure Boot does not enter: what it turns on shows in lockdown and sig_enforce.
 */
export function refusesUnsigned(f: Pick<HostFacts, 'security'>): boolean | undefined {
  const { lockdown, sigEnforce } = f.security;
  if (sigEnforce === true || lockdown === 'integrity' || lockdown === 'confidentiality')
    return true;
  if (sigEnforce === false && lockdown === 'none') return false;
  return undefined;
}
