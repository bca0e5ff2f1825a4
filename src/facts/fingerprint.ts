/**
 * A fingerprint of the facts a host's changes were computed from: `apply PLANFILE` reads the facts
 * again and refuses a host whose fingerprint changed (issue 6). Only what the planner reads is
 * in it, in a canonical order; volatile facts (taint, command line, `kpatch list` text) are not.
 */
import type { HostFacts } from './model.ts';
import { sha256Hex } from '../util/hash.ts';

const byKey = <T>(xs: readonly T[], key: (x: T) => string): T[] =>
  [...xs].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));

function factsBasis(f: HostFacts): unknown {
  return {
    kernel: f.kernel,
    kernels: [...f.kernels].sort(),
    kpatch: f.kpatch,
    livepatch: f.livepatchSupported,
    // stack_order only where the kernel has it, so other hosts keep the fingerprint they had
    patches: byKey(f.patches, (p) => p.name).map((p) =>
      p.stackOrder === undefined
        ? [p.name, p.enabled, p.transition]
        : [p.name, p.enabled, p.transition, p.stackOrder],
    ),
    modules: byKey(f.modules, (m) => m.name).map((m) => [m.name, m.refcnt]),
    installed: byKey(f.installed, (i) => i.path).map((i) => [i.path, i.sha256]),
    rpmInstalled: byKey(f.rpmInstalled, (i) => i.path).map((i) => [i.path, i.sha256]),
    packages: [...f.packages].sort(),
    // the state is in the enable-service change's reason, which apply compares (plan/verify.ts)
    service: [f.service.present, f.service.enabled, f.service.state],
    // the klp manager's store and unit (docs/klp-behaviour.md): where the host could use it (no
    // kpatch) or has any of it, so a kpatch host without any keeps the fingerprint it had
    ...(f.klp !== undefined &&
    (!f.kpatch.installed || f.klp.store.length > 0 || f.klp.boot.enabled || f.klp.boot.current)
      ? {
          klp: [
            byKey(f.klp.store, (i) => i.path).map((i) => [i.path, i.sha256]),
            f.klp.boot.systemctl,
            f.klp.boot.enabled,
            f.klp.boot.state,
            f.klp.boot.current,
          ],
        }
      : {}),
    // whether the kernel refuses unsigned modules (facts/security.ts; Secure Boot is not read:
    // it shows in these two); only what is known, so a host that tells neither keeps its fingerprint
    ...(f.security.lockdown !== undefined || f.security.sigEnforce !== undefined
      ? { security: [f.security.lockdown ?? null, f.security.sigEnforce ?? null] }
      : {}),
    // the crash guard's suspects block loads (plan.ts); only when there are some, so a host
    // without any keeps the fingerprint it had before they were read
    ...(f.suspects !== undefined && f.suspects.length > 0
      ? {
          suspects: byKey(f.suspects, (s) => s.module).map((s) => [
            s.module,
            s.patch,
            s.bootId,
            s.run ?? null,
            s.time ?? null,
          ]),
        }
      : {}),
  };
}

/** `sha256:<hex>` of the canonical JSON of `factsBasis`. */
export function factsFingerprint(f: HostFacts): string {
  return 'sha256:' + sha256Hex(JSON.stringify(factsBasis(f)));
}
