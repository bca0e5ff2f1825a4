/**
 * A kpfleet project for the tests that run the CLI against simulated hosts (the real-SSH fleet of
 * test/e2e/fleet and test/faults, the lab of test/integration): the kpfleet.yml a test needs,
 * from a few fields, and the built CLI run in that folder. A fleet writes `inventory.ini` and
 * `known_hosts` beside it (fleetUp); a lab's are named with `knownHosts`. A patch's `file` is
 * relative to the folder and its sha256 is computed here, as an operator would pin it.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { runBuilt } from './cli-built.ts';
import type { BuiltOptions } from './cli-built.ts';
import type { ModuleOptions, SimHost } from '../lab/sim-host.ts';

/** The rhel9 profile's kernel (lab/profiles: the fleet's default). */
export const EL9 = '5.14.0-362.8.1.el9_3.x86_64';

export const sha256 = (path: string): string =>
  createHash('sha256').update(readFileSync(path)).digest('hex');

export interface PatchEntry {
  /** The patch's name in the catalogue. */
  name: string;
  module: string;
  kernel?: string;
  /** A `.ko` in the project folder (its sha256 is pinned), or … */
  file?: string;
  /** … a kpatch-patch package. */
  rpm?: string;
  cves?: string[];
  replaces?: string[];
  released?: string;
  /** Its support window after `released` (e.g. 365d). */
  support?: string;
}

export interface ProjectSpec {
  /** The known_hosts file (default: the fleet's, `known_hosts` in the folder). */
  knownHosts?: string;
  /** connect_timeout (default 5s; null: kpfleet's default). */
  connectTimeout?: string | null;
  /** More lines under `connection:`. */
  connection?: string[];
  /** Lines under `rollout:`; none: no rollout section. */
  rollout?: string[];
  patches: PatchEntry[];
  groups: Record<
    string,
    {
      loaded?: string[];
      installed?: string[];
      absent?: string[];
      /** The group's `manager` (docs/config.md "Managers"). */
      manager?: 'kpatch' | 'klp' | 'auto';
    }
  >;
}

/** The patch most tests declare: CVE-2024-1086's fix for the rhel9 kernel, a `.ko` in patches/. */
export const CVE: PatchEntry = {
  name: 'cve-2024-1086',
  module: 'livepatch_cve_2024_1086',
  file: 'patches/livepatch-cve-2024-1086.ko',
  cves: ['CVE-2024-1086'],
};

/** Builds `patch`'s file in `dir` with the simulator (its module name, kernel and CVEs). */
export function makePatchFile(
  host: { sim: SimHost } | undefined,
  dir: string,
  patch: PatchEntry,
  extra: ModuleOptions = {},
): string {
  if (!host || patch.file === undefined) throw new Error(`${patch.name}: no host or no file`);
  mkdirSync(join(dir, dirname(patch.file)), { recursive: true });
  return host.sim.makeModule(join(dir, patch.file), {
    name: patch.module,
    kernel: patch.kernel ?? EL9,
    ...(patch.cves ? { cves: patch.cves } : {}),
    ...extra,
  });
}

const list = (xs: readonly string[]): string => `[${xs.join(', ')}]`;

/** The kpfleet.yml text of `spec` for a project in `dir`. */
export function projectYaml(dir: string, spec: ProjectSpec): string {
  const lines = [
    'inventory: inventory.ini',
    'connection:',
    `  known_hosts: ${spec.knownHosts ?? 'known_hosts'}`,
    '  ssh_config: false',
    ...(spec.connectTimeout === null ? [] : [`  connect_timeout: ${spec.connectTimeout ?? '5s'}`]),
    ...(spec.connection ?? []).map((l) => `  ${l}`),
  ];
  if (spec.rollout) lines.push('rollout:', ...spec.rollout.map((l) => `  ${l}`));
  lines.push('patches:');
  for (const p of spec.patches) {
    lines.push(`  ${p.name}:`, `    module: ${p.module}`, `    kernel: ${p.kernel ?? EL9}`);
    if (p.file !== undefined)
      lines.push(`    file: ${p.file}`, `    sha256: ${sha256(join(dir, p.file))}`);
    if (p.rpm !== undefined) lines.push(`    rpm: ${p.rpm}`);
    if (p.replaces) lines.push(`    replaces: ${list(p.replaces)}`);
    if (p.cves) lines.push(`    cves: ${list(p.cves)}`);
    if (p.released !== undefined) lines.push(`    released: ${p.released}`);
    if (p.support !== undefined) lines.push(`    support: ${p.support}`);
  }
  lines.push('groups:');
  for (const [group, want] of Object.entries(spec.groups)) {
    lines.push(`  ${group}:`);
    for (const kind of ['loaded', 'installed', 'absent'] as const) {
      const names = want[kind];
      if (names) lines.push(`    ${kind}: ${list(names)}`);
    }
    if (want.manager !== undefined) lines.push(`    manager: ${want.manager}`);
  }
  return [...lines, ''].join('\n');
}

/** Writes `spec` as `dir/file` (default kpfleet.yml). */
export function writeProject(dir: string, spec: ProjectSpec, file = 'kpfleet.yml'): void {
  writeFileSync(join(dir, file), projectYaml(dir, spec));
}

/** The built CLI, run in `dir` with a state folder of its own (`dir/state`). */
export function kpfleetIn(dir: string) {
  return (args: string[], onStdout?: BuiltOptions['onStdout']) =>
    runBuilt(args, { cwd: dir, env: { XDG_STATE_HOME: join(dir, 'state') }, onStdout });
}
