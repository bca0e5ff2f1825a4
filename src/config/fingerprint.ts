/**
 * A fingerprint of the configuration a plan is made from: kpfleet.yml's catalogue, groups,
 * rollout and connection defaults, and, for every inventory host, what it must run and how it is
 * reached. `plan --out` records it; `apply PLANFILE` refuses a plan whose configuration is not
 * the current one and says what changed (docs/security.md, "Saved plans").
 *
 * Only what decides what a plan does, or on which machine, is in it, written as the user wrote
 * it: paths that depend on where the project is checked out (the absolute patch path, key files,
 * known_hosts) and timeouts are not, so a plan made on a laptop can be applied from CI.
 * The whole is a sha256; each part also has a short digest of its own, only to name what changed.
 */
import { createHash } from 'node:crypto';
import type { HostConnection } from '../connection.ts';
import type { HostDesired } from '../desired/resolve.ts';
import type { Config } from '../config-model.ts';
import { sha256Hex } from '../util/hash.ts';

export interface ConfigFingerprint {
  /** `sha256:<hex>` over every part, in order. */
  sha256: string;
  /** Part name (`patch NAME`, `group NAME`, `host NAME`, `rollout`, `connection`) → 16 hex digits. */
  parts: Record<string, string>;
}

const digest = (value: unknown): string => sha256Hex(JSON.stringify(value));

/** The parts, each as the canonical value it is made from (pure). */
function fingerprintBasis(
  config: Config,
  hosts: readonly { desired: HostDesired; connection: HostConnection }[],
): [string, unknown][] {
  const out: [string, unknown][] = [];
  const c = config.connection;
  out.push(['connection', { user: c.user ?? null, port: c.port ?? null, become: c.become }]);
  const r = config.rollout;
  out.push([
    'rollout',
    {
      waves: r.waves,
      maxFailures: r.maxFailures,
      healthCheck: r.healthCheck ?? null,
      rebootDueAfterMs: r.rebootDueAfterMs ?? null,
    },
  ]);
  for (const p of config.patches.values()) {
    const source =
      p.source.kind === 'file'
        ? { file: p.source.written, sha256: p.source.sha256 }
        : { rpm: p.source.package };
    out.push([
      `patch ${p.name}`,
      {
        module: p.module,
        kernels: p.kernels,
        source,
        replaces: p.replaces,
        cves: p.cves,
        released: p.released ?? null,
        // only where set: the fingerprints of catalogues written before `support` stay as they were
        ...(p.supportMs !== undefined ? { supportMs: p.supportMs } : {}),
      },
    ]);
  }
  for (const g of config.groups.values()) out.push([`group ${g.name}`, g]);
  for (const { desired: d, connection: h } of hosts) {
    out.push([
      `host ${d.host}`,
      {
        groups: d.groups,
        patches: d.patches.map((x) => [x.patch, x.state]),
        unmanaged: d.unmanaged,
        uncoveredKernel: d.uncoveredKernel,
        address: h.address,
        port: h.port ?? null,
        user: h.user ?? null,
        become: h.become,
        // only where set: an auto host's part stays as it was before the setting existed
        ...(d.manager.choice !== 'auto' ? { manager: d.manager.choice } : {}),
      },
    ]);
  }
  return out;
}

export function configFingerprint(
  config: Config,
  hosts: readonly { desired: HostDesired; connection: HostConnection }[],
): ConfigFingerprint {
  const parts: Record<string, string> = {};
  const whole = createHash('sha256');
  for (const [name, value] of fingerprintBasis(config, hosts)) {
    const d = digest(value);
    parts[name] = d.slice(0, 16);
    whole.update(`${name}\0${d}\n`);
  }
  return { sha256: `sha256:${whole.digest('hex')}`, parts };
}

/**
 * What differs between the configuration a plan was made from and the current one, one phrase
 * per part ("patch cve-1 changed", "host web03 added"), at most `max` of them and a count of
 * the rest. Empty when the fingerprints are equal.
 */
export function describeConfigChange(
  planned: ConfigFingerprint,
  current: ConfigFingerprint,
  max = 8,
): string[] {
  if (planned.sha256 === current.sha256) return [];
  const out: string[] = [];
  for (const [name, d] of Object.entries(current.parts)) {
    const before = Object.hasOwn(planned.parts, name) ? planned.parts[name] : undefined;
    if (before === undefined) out.push(`${name} added`);
    else if (before !== d) out.push(`${name} changed`);
  }
  for (const name of Object.keys(planned.parts)) {
    if (!Object.hasOwn(current.parts, name)) out.push(`${name} removed`);
  }
  // equal parts but another whole: the order of patches or groups changed
  if (out.length === 0) out.push('the order of patches, groups or hosts changed');
  return out.length > max ? [...out.slice(0, max), `and ${String(out.length - max)} more`] : out;
}
