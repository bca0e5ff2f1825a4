/**
 * `kpfleet status --format openvex`: the coverage as an OpenVEX 0.2.0 document, so a scanner that
 * reads VEX stops reporting a live-patched kernel as vulnerable (docs/status.md, "OpenVEX").
 *
 * One statement per declared CVE and host state: `not_affected` with the justification
 * `inline_mitigations_already_exist` where a live patch that fixes it is loaded and verified in
 * sysfs; `affected`, with what to do, where it is declared but not live; `under_investigation`
 * where the host could not be read. The product is the host's running kernel: its `@id` names the
 * host (`urn:kpfleet:host:<name>`), its purl the kernel package, so a scanner matching either
 * finds it; but a `not_affected` statement names no purl where another host on that kernel does
 * not have the CVE mitigated (a scanner matching by purl would take it for that host too). The
 * document's `@id` is a digest of its statements (their timestamp, when the facts were read,
 * included): the same report gives the same document id. Pure.
 */
import { sha256Hex } from '../util/hash.ts';
import type { HostCoverage, HostCve, StatusReport } from '../status/model.ts';
import { safeData } from './safe-text.ts';

export const OPENVEX_CONTEXT = 'https://openvex.dev/ns/v0.2.0';

/** The distributions whose kernel is an RPM, and the purl namespace of each (purl-spec). */
const RPM_VENDORS: Record<string, string> = {
  rhel: 'redhat',
  centos: 'centos',
  rocky: 'rocky-linux',
  almalinux: 'almalinux',
  ol: 'oracle',
  fedora: 'fedora',
  amzn: 'amazon',
  sles: 'suse',
  'opensuse-leap': 'opensuse',
};
const DEB_VENDORS = new Set(['debian', 'ubuntu']);
/** Debian's names for the architectures `uname -m` prints. */
const DEB_ARCH: Record<string, string> = { x86_64: 'amd64', aarch64: 'arm64', ppc64le: 'ppc64el' };

/** A table's own entry: a host's `constructor` or `toString` is no key of it. */
const own = (table: Record<string, string>, key: string): string | undefined =>
  Object.hasOwn(table, key) ? table[key] : undefined;

/** A lone surrogate's WTF-8 bytes, percent-encoded: what no well-formed text encodes to. */
const loneSurrogate = (c: string): string => {
  const u = c.charCodeAt(0);
  return [0xe0 | (u >> 12), 0x80 | ((u >> 6) & 0x3f), 0x80 | (u & 0x3f)]
    .map((b) => `%${b.toString(16).toUpperCase()}`)
    .join('');
};

/**
 * Percent-encoding for an IRI. An inventory host name may hold a lone surrogate (YAML "\uD800"),
 * which encodeURIComponent refuses: it is encoded as its WTF-8 bytes, so two names stay two IRIs.
 */
const enc = (s: string): string =>
  s
    .split(/([\ud800-\udfff])/u)
    .map((part, i) => (i % 2 === 1 ? loneSurrogate(part) : encodeURIComponent(part)))
    .join('');

/**
 * The purl of the running kernel's package: `pkg:rpm/redhat/kernel@5.14.0-362.8.1.el9_3?arch=x86_64`
 * for an RPM distribution (the arch suffix of `uname -r` moved to the qualifier),
 * `pkg:deb/debian/linux-image-6.1.0-18-amd64?arch=amd64` for Debian and Ubuntu (the release is in
 * the package name; the architecture as Debian names it), else `pkg:generic/linux@<release>`.
 */
export function kernelPurl(h: Pick<HostCoverage, 'kernel' | 'os' | 'arch'>): string | undefined {
  const release = h.kernel;
  if (release === undefined) return undefined;
  const arch = h.arch !== undefined ? `?arch=${enc(h.arch)}` : '';
  const rpm = h.os !== undefined ? own(RPM_VENDORS, h.os) : undefined;
  if (rpm !== undefined) {
    const suffix = h.arch !== undefined && release.endsWith(`.${h.arch}`) ? `.${h.arch}` : '';
    return `pkg:rpm/${rpm}/kernel@${enc(release.slice(0, release.length - suffix.length))}${arch}`;
  }
  if (h.os !== undefined && DEB_VENDORS.has(h.os)) {
    const debArch = h.arch !== undefined ? `?arch=${enc(own(DEB_ARCH, h.arch) ?? h.arch)}` : '';
    return `pkg:deb/${h.os}/${enc(`linux-image-${release}`)}${debArch}`;
  }
  return `pkg:generic/linux@${enc(release)}${arch}`;
}

/**
 * The host as a product; its kernel's purl too unless `withPurl` is false. A scanner matching by
 * purl reads every host on that kernel as one product (and takes the last statement it finds).
 */
function product(h: HostCoverage, withPurl = true): Record<string, unknown> {
  const purl = withPurl ? kernelPurl(h) : undefined;
  return {
    '@id': `urn:kpfleet:host:${enc(h.host)}`,
    ...(purl !== undefined
      ? { identifiers: { purl }, subcomponents: [{ '@id': purl, identifiers: { purl } }] }
      : {}),
  };
}

/**
 * `CVE purl` of each CVE of the report not mitigated on some host running that kernel: exposed,
 * unknown, or not declared there at all (a host in no group runs the kernel unpatched too).
 */
function notMitigatedOnKernel(report: StatusReport): Set<string> {
  const out = new Set<string>();
  for (const h of report.hosts) {
    const purl = kernelPurl(h);
    if (purl === undefined) continue;
    const mitigated = new Set(h.cves.filter((c) => c.state === 'mitigated').map((c) => c.cve));
    for (const c of report.cves) if (!mitigated.has(c.cve)) out.add(`${c.cve} ${purl}`);
  }
  return out;
}

function statement(
  h: HostCoverage,
  c: HostCve,
  timestamp: string,
  notMitigated: ReadonlySet<string>,
): Record<string, unknown> {
  const base = {
    vulnerability: { name: c.cve },
    timestamp,
    products: [product(h)],
  };
  if (c.state === 'mitigated') {
    const until = c.coveredUntil !== undefined ? `; supported until ${c.coveredUntil}` : '';
    // another host on this kernel has it exposed: name this host only, never the kernel's purl
    const shared = notMitigated.has(`${c.cve} ${kernelPurl(h) ?? ''}`);
    return {
      ...base,
      products: [product(h, !shared)],
      status: 'not_affected',
      justification: 'inline_mitigations_already_exist',
      status_notes: `live patch ${c.by.join(', ')} loaded and enabled in /sys/kernel/livepatch on ${h.host}, kernel ${h.kernel ?? '?'}${until}${shared ? ' (the kernel package is not named: the CVE is not mitigated on every host running this kernel)' : ''}`,
    };
  }
  if (c.state === 'unknown') {
    return {
      ...base,
      status: 'under_investigation',
      status_notes: `${h.host} could not be read (${c.reason ?? 'unknown'}): its live patches are unknown`,
    };
  }
  const action =
    c.reason === 'uncovered'
      ? `no declared live patch fits kernel ${h.kernel ?? '?'}: reboot into a kernel that fixes ${c.cve}, or add a patch built for this kernel to kpfleet.yml`
      : c.reason === 'blocked'
        ? `kpfleet will not change ${h.host} (${h.reason}); see kpfleet plan, then kpfleet apply to load ${c.patches.join(', ')}`
        : `run kpfleet apply to load ${c.patches.join(', ')}`;
  return {
    ...base,
    status: 'affected',
    status_notes: `declared (${c.patches.join(', ')}) but not live: ${c.reason ?? 'not-converged'}`,
    action_statement: action,
  };
}

/** The report as an OpenVEX document (JSON text). */
export function renderStatusOpenVex(report: StatusReport, author = 'kpfleet'): string {
  const timestamp = report.createdAt;
  const notMitigated = notMitigatedOnKernel(report);
  const statements = report.hosts.flatMap((h) =>
    h.cves.map((c) => statement(h, c, timestamp, notMitigated)),
  );
  const digest = sha256Hex(JSON.stringify(statements));
  const doc = {
    '@context': OPENVEX_CONTEXT,
    '@id': `urn:kpfleet:vex:sha256:${digest}`,
    author,
    role: 'Fleet operator (live kernel patches)',
    timestamp,
    version: 1,
    tooling: `kpfleet ${report.kpfleetVersion}`,
    statements,
  };
  return JSON.stringify(safeData(doc), null, 2) + '\n';
}
