/**
 * Module signatures (issue 21): a patch module the host's kernel will refuse is not sent there.
 * Once the changes are known, each declared file a plan loads on the running kernel (its
 * appended signature, read on the controller: config/module-signature.ts) is judged as the
 * kernel's `module_sig_check` judges it (docs/kpatch-behaviour.md §5.5, §10 "The appended
 * signature"):
 * - a signature that cannot be parsed is refused on every kernel that checks signatures at all
 *   (EBADMSG, enforcing or not): blocked where the host's facts show module signing; a warning
 *   where they show nothing of it;
 * - no signature, or one in a form no kernel checks (not PKCS#7: ENOPKG), is refused where the
 *   kernel enforces signatures (`sig_enforce`: "Key was rejected by service") or is locked down
 *   ("Operation not permitted"): blocked there (`refusesUnsigned`); a warning where kpfleet could
 *   not tell;
 * - a PKCS#7 signature is refused where enforced unless its key is in the kernel's keyrings,
 *   which kpfleet cannot read without root, or when it does not verify: not judged here (the
 *   load step reports the kernel's refusal).
 * Judged as warnings, not blocks: a load that only re-enables a module in sysfs (no insmod), a
 * load repeated after a cumulative patch (an insmod only if that patch retired it), and an
 * install for another kernel (loaded at the boot into it, whose policy the running kernel's
 * facts do not tell). Package sources are their vendor's to sign and are not read here.
 */
import type { ModuleSignature, Patch } from '../../../config-model.ts';
import { refusesUnsigned } from '../../../facts/security.ts';
import { plural } from '../../../util/text.ts';
import type { Finding } from '../../model.ts';
import { isEnabled, type HostContext } from '../context.ts';
import { block, type Draft } from '../draft.ts';

type Verdict = 'malformed' | 'unsigned' | 'signed' | 'unread';

/**
 * How a kernel treats a signature: `malformed` wherever it checks, `unsigned` where enforced.
 * `unread`: the catalogue holds no reading (the loader reads every patch file's, so only a
 * catalogue made by hand, as tests make them): nothing is judged.
 */
function verdict(sig: ModuleSignature | undefined): Verdict {
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

/** What refuses it on this host, and what insmod would say. */
function refusal(ctx: HostContext): { policy: string; says: string } {
  const { lockdown, sigEnforce } = ctx.facts.security;
  if (sigEnforce === true) return { policy: 'sig_enforce=Y', says: 'Key was rejected by service' };
  return { policy: `lockdown=${lockdown ?? '?'}`, says: 'Operation not permitted' };
}

/** What the plan does with a patch's module on the running kernel, the strongest first. */
type Use = 'insmod' | 'maybe-insmod' | 'other-kernel';
const RANK: Record<Use, number> = { insmod: 0, 'maybe-insmod': 1, 'other-kernel': 2 };

function uses(ctx: HostContext, draft: Draft): Map<Patch, Use> {
  const out = new Map<Patch, Use>();
  const add = (name: string, use: Use): void => {
    const p = ctx.patches.get(name);
    if (p === undefined) return;
    const known = out.get(p);
    if (known === undefined || RANK[use] < RANK[known]) out.set(p, use);
  };
  for (const l of draft.loads) {
    // a re-enable writes sysfs (no insmod); a repeated load is an insmod only if it was retired
    if (l.reenable) continue;
    add(l.patch, isEnabled(ctx, l.module) ? 'maybe-insmod' : 'insmod');
  }
  for (const i of draft.installs) if (i.kernel !== ctx.kernel) add(i.patch, 'other-kernel');
  return out;
}

export function signatures(ctx: HostContext, draft: Draft): void {
  const host = ctx.desired.host;
  const refuses = refusesUnsigned(ctx.facts);
  const { lockdown, sigEnforce } = ctx.facts.security;
  /** The host's facts show module signing at all (a kernel without it checks nothing). */
  const signing = refuses !== undefined || sigEnforce !== undefined || lockdown !== undefined;
  const blocking: { f: Finding; v: Verdict; name: string }[] = [];
  for (const [p, use] of uses(ctx, draft)) {
    if (p.source.kind !== 'file') continue;
    const sig = p.source.signature;
    const v = verdict(sig);
    if (v === 'signed' || v === 'unread') continue;
    const what = `${p.name} (${p.source.written}) ${why(sig)}`;
    const refused = v === 'malformed' ? signing : refuses === true;
    const unknown = v === 'malformed' ? !signing : refuses === undefined;
    if (!refused && !unknown) continue;
    const finding = (severity: Finding['severity'], message: string): Finding => ({
      kind: refused ? 'unsigned' : 'signature-unknown',
      severity,
      module: p.module,
      message,
    });
    const cause =
      v === 'malformed'
        ? 'a kernel that checks module signatures refuses such a module whether it enforces them or not (EBADMSG)'
        : `${host} refuses unsigned modules (${refusal(ctx).policy})`;
    if (unknown) {
      draft.findings.push(
        finding(
          'warning',
          v === 'malformed'
            ? `${what}: a kernel that checks module signatures refuses it (EBADMSG), and kpfleet could not read whether ${host}'s does`
            : `${what}, and kpfleet could not read whether ${host} refuses unsigned modules (lockdown, sig_enforce): a kernel that does will refuse it`,
        ),
      );
    } else if (use === 'insmod') {
      const says = v === 'malformed' ? 'Bad message' : refusal(ctx).says;
      blocking.push({
        f: finding(
          'error',
          `${what}, and ${cause}: insmod would fail with "${says}". ${v === 'malformed' ? 'Sign it again' : 'Sign it with a key the host trusts (its builtin keys or an enrolled MOK)'}`,
        ),
        v,
        name: p.name,
      });
    } else {
      draft.findings.push(
        finding(
          'warning',
          use === 'maybe-insmod'
            ? `${what}, and ${cause}: it is loaded again after a cumulative patch, and if that patch retired it the kernel will refuse it`
            : `${what}, and ${cause} now: if the kernel it is installed for does too, it will not load at boot`,
        ),
      );
    }
  }
  if (blocking.length === 0) return;
  const names = blocking
    .map((b) => `${b.name} (${b.v === 'malformed' ? 'signature unreadable' : 'unsigned'})`)
    .join(', ');
  block(
    draft,
    `the kernel would refuse ${plural(blocking.length, 'module')} for ${blocking.length === 1 ? 'its signature' : 'their signatures'}: ${names}`,
    blocking.map((b) => b.f),
  );
}
