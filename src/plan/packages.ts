/**
 * kpatch-patch package names (docs/kpatch-behaviour.md §4.3): `kpatch-patch-<X>-<version>-<release>`
 * with the module `/usr/lib/kpatch/<kver>/kpatch-<X>-<version>-<release number>.ko`. Pure.
 */
import { compareVersions } from '../util/version.ts';

export interface PackageName {
  name: string;
  version: string;
  /** As written: `3` or `3.el9_3`. */
  release: string;
  arch?: string;
}

const ARCHES = new Set(['x86_64', 'aarch64', 'ppc64le', 's390x', 'noarch', 'i686']);

/** name-version-release[.arch] → parts; undefined when it has no version and release. */
export function parsePackage(nvra: string): PackageName | undefined {
  let rest = nvra;
  let arch: string | undefined;
  const dot = rest.lastIndexOf('.');
  if (dot > 0 && ARCHES.has(rest.slice(dot + 1))) {
    arch = rest.slice(dot + 1);
    rest = rest.slice(0, dot);
  }
  const r = rest.lastIndexOf('-');
  const v = r > 0 ? rest.lastIndexOf('-', r - 1) : -1;
  if (v <= 0) return undefined;
  return {
    name: rest.slice(0, v),
    version: rest.slice(v + 1, r),
    release: rest.slice(r + 1),
    ...(arch !== undefined ? { arch } : {}),
  };
}

/** Whether an installed NVRA is the declared name-version-release (the dist tag may be left out). */
export function packageMatches(installed: string, declared: string): boolean {
  const i = parsePackage(installed);
  const d = parsePackage(declared);
  if (!i || !d) return installed === declared;
  return (
    i.name === d.name &&
    i.version === d.version &&
    (i.release === d.release || i.release.startsWith(d.release + '.')) &&
    (d.arch === undefined || d.arch === i.arch)
  );
}

export function sameName(a: string, b: string): boolean {
  const pa = parsePackage(a);
  const pb = parsePackage(b);
  return pa !== undefined && pb !== undefined && pa.name === pb.name;
}

/** The module name a kpatch-patch package carries (§4.3), or undefined for another package. */
export function packageModule(nvra: string): string | undefined {
  const p = parsePackage(nvra);
  if (!p?.name.startsWith('kpatch-patch-') || p.version === '0') return undefined;
  const x = p.name.slice('kpatch-patch-'.length);
  const releaseNumber = p.release.split('.')[0] ?? p.release;
  return `kpatch-${x}-${p.version}-${releaseNumber}`.replaceAll('-', '_');
}

/**
 * The module-name prefix of a kpatch-patch stream, as its %post matches loaded patches
 * (`^kpatch_<X with its first dash as _>_([0-9_]+) \[enabled\]$`, §4.3), or undefined.
 */
export function streamPrefix(nvr: string): string | undefined {
  const p = parsePackage(nvr);
  if (!p?.name.startsWith('kpatch-patch-')) return undefined;
  return `kpatch_${p.name.slice('kpatch-patch-'.length).replace('-', '_')}_`;
}

/**
 * Whether a package's %post would load its module (§4.3): not when a newer version of the same
 * stream is loaded ("You will have to reboot to load a downgraded kpatch-patch").
 */
export function postLoads(nvr: string, enabled: Iterable<string>): boolean {
  const prefix = streamPrefix(nvr);
  const mine = packageModule(nvr);
  if (prefix === undefined || mine === undefined) return true;
  const version = mine.slice(prefix.length);
  for (const m of enabled) {
    if (!m.startsWith(prefix)) continue;
    const v = m.slice(prefix.length);
    if (/^[0-9_]+$/.test(v) && compareVersions(v, version) > 0) return false;
  }
  return true;
}
