/**
 * Module signatures (issue 21): a patch module the host's kernel will refuse is not sent there.
 * Once the changes are known, for each declared file a plan installs or loads (its appended
 * signature, read on the controller: config/module-signature.ts), as the kernel's
 * `module_sig_check` decides (docs/kpatch-behaviour.md §5.5, §10 "The appended signature"):
 * - a signature that cannot be parsed is refused on every host (EBADMSG): blocked;
 * - no signature, or one in a form no kernel checks (not PKCS#7: ENOPKG), is refused where the
 *   kernel enforces signatures or is locked down (`refusesUnsigned`): blocked there; a warning
 *   where kpfleet could not tell;
 * - a PKCS#7 signature is refused where enforced unless its key is in the kernel's keyrings,
 *   which kpfleet cannot read without root: nothing is said.
 * An install for another kernel is judged by the running kernel's policy: the boot into it would
 * load the module under the same firmware and command line. Package sources are signed by their
 * vendor and not read here.
 */
import type { ModuleSignature, Patch } from '../../../config-model.ts';
import { refusesUnsigned } from '../../../facts/security.ts';
import type { Finding } from '../../model.ts';
import type { HostContext } from '../context.ts';
import { block, type Draft } from '../draft.ts';

/** How a kernel treats a signature: `malformed` everywhere, `unsigned` where enforced. */
function verdict(sig: ModuleSignature | undefined): 'malformed' | 'unsigned' | 'signed' | 'unread' {
  if (sig === undefined) return 'unread';
  if (!sig.signed) return 'unsigned';
  if (sig.malformed !== undefined) return 'malformed';
  if (sig.idType !== undefined && sig.idType !== 'PKCS#7') return 'unsigned';
  return 'signed';
}

function why(sig: ModuleSignature | undefined): string {
  if (sig === undefined || !sig.signed) return 'is not signed';
  if (sig.malformed !== undefined)
    return `has a signature the kernel cannot parse (${sig.malformed})`;
  return `is signed as ${sig.idType ?? '?'}, not PKCS#7, which no kernel checks`;
}

/** What the host's kernel enforces, as a message says it. */
function policy(ctx: HostContext): string {
  const { lockdown, sigEnforce } = ctx.facts.security;
  const parts = [
    sigEnforce === true ? 'sig_enforce=Y' : '',
    lockdown === 'integrity' || lockdown === 'confidentiality' ? `lockdown=${lockdown}` : '',
  ].filter((x) => x !== '');
  return parts.join(', ');
}

export function signatures(ctx: HostContext, draft: Draft): void {
  const host = ctx.desired.host;
  const refuses = refusesUnsigned(ctx.facts);
  const seen = new Set<string>();
  const patchesSent: Patch[] = [];
  for (const name of [...draft.installs.map((c) => c.patch), ...draft.loads.map((c) => c.patch)]) {
    const p = ctx.patches.get(name);
    if (p === undefined || seen.has(name)) continue;
    seen.add(name);
    patchesSent.push(p);
  }
  const blocking: Finding[] = [];
  for (const p of patchesSent) {
    if (p.source.kind !== 'file') continue;
    const sig = p.source.signature;
    const v = verdict(sig);
    const file = p.source.written;
    if (v === 'malformed') {
      blocking.push({
        kind: 'unsigned',
        severity: 'error',
        module: p.module,
        message: `${p.name} (${file}) ${why(sig)}: every kernel refuses such a module (EBADMSG), enforcing signatures or not. Sign it again`,
      });
    } else if (v === 'unsigned' && refuses === true) {
      blocking.push({
        kind: 'unsigned',
        severity: 'error',
        module: p.module,
        message: `${p.name} (${file}) ${why(sig)}, and ${host} refuses unsigned modules (${policy(ctx)}): insmod would fail with "Key was rejected by service". Sign it with a key the host trusts (its builtin keys or an enrolled MOK)`,
      });
    } else if (v === 'unsigned' && refuses === undefined) {
      draft.findings.push({
        kind: 'signature-unknown',
        severity: 'warning',
        module: p.module,
        message: `${p.name} (${file}) ${why(sig)}, and kpfleet could not read whether ${host} refuses unsigned modules (lockdown, sig_enforce): a kernel that does will refuse it`,
      });
    }
  }
  if (blocking.length === 0) return;
  const names = blocking.map((f) => f.module ?? '').join(', ');
  block(draft, `the kernel would refuse ${names}: its signature`, blocking);
}
