/**
 * `kpfleet apply` run in-process against a lab (lab/lab.ts), for the lab tests: the
 * project's files written into the lab's folder, and a run whose report is read back.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../../../src/cli/main.ts';
import type { CliIo } from '../../../src/cli/io.ts';
import { Lab } from '../../../lab/lab.ts';
import type { LabHost } from '../../../lab/lab.ts';

export const EL9 = '5.14.0-362.8.1.el9_3.x86_64';

/**
 * A lab of one host with a vendor's module (not kpfleet's) built at var/tmp/vendor-fix.ko, not
 * yet installed: `description` sets its size.
 */
export async function labWithVendorModule(
  description: string,
): Promise<{ lab: Lab; host: LabHost }> {
  const lab = await Lab.start({ hosts: 1, simProfile: { TIME_SCALE: '0.02' } });
  const host = lab.hosts[0];
  if (!host) throw new Error('no lab host');
  mkdirSync(join(host.sim.root, 'var/tmp'), { recursive: true });
  host.sim.makeModule(join(host.sim.root, 'var/tmp/vendor-fix.ko'), {
    name: 'vendor_fix',
    kernel: EL9,
    replace: false,
    description,
  });
  return { lab, host };
}

/** Installs and loads the vendor's module by hand (as it was before kpfleet); its installed bytes. */
export async function installVendorModule(host: LabHost): Promise<Buffer> {
  for (const cmd of [
    ['kpatch', 'install', '--', 'var/tmp/vendor-fix.ko'],
    ['kpatch', 'load', 'vendor_fix'],
  ]) {
    const r = await host.sim.run(cmd);
    if (r.code !== 0) throw new Error(`${cmd.join(' ')}: ${r.stderr}`);
  }
  return readFileSync(join(host.sim.root, `var/lib/kpatch/${EL9}/vendor-fix.ko`));
}

/** What the tests read of `--report`. */
export interface ReportedHost {
  host: string;
  outcome: string;
  message: string;
  steps: { label: string; ok: boolean; rollback?: boolean; error?: string }[];
}

/** The lab's inventory, and a kpfleet.yml that reaches it, with `rest` (lines) after. */
export function writeLabProject(lab: Lab, rest: readonly string[]): void {
  writeFileSync(join(lab.dir, 'inventory.ini'), readFileSync(lab.inventoryPath));
  const head = ['inventory: inventory.ini', 'connection:', `  known_hosts: ${lab.knownHostsPath}`];
  writeFileSync(
    join(lab.dir, 'kpfleet.yml'),
    [...head, '  ssh_config: false', ...rest, ''].join('\n'),
  );
}

/**
 * A module `module` for EL9 made on `host` at the lab's `file`, and a project that declares it
 * (`cve`, with `cves`) loaded on every lab host (group rhel9).
 */
export function writeOnePatchProject(
  lab: Lab,
  host: LabHost,
  o: { module: string; file: string; cves?: string; replace?: boolean },
): void {
  const ko = join(lab.dir, o.file);
  host.sim.makeModule(ko, {
    name: o.module,
    kernel: EL9,
    ...(o.replace !== undefined ? { replace: o.replace } : {}),
  });
  const sha = createHash('sha256').update(readFileSync(ko)).digest('hex');
  writeLabProject(lab, [
    'patches:',
    '  cve:',
    `    module: ${o.module}`,
    `    kernel: ${EL9}`,
    `    file: ${o.file}`,
    `    sha256: ${sha}`,
    ...(o.cves !== undefined ? [`    cves: [${o.cves}]`] : []),
    'groups:',
    '  rhel9:',
    '    loaded: [cve]',
  ]);
}

/**
 * The project of the rollback tests: the vendor's module is removed (`unmanaged: remove`), and
 * the health check fails while the host has /var/tmp/unhealthy (`setUnhealthy`).
 */
export function writeRollbackProject(lab: Lab): void {
  writeLabProject(lab, [
    'rollout:',
    "  health_check: 'test ! -e /var/tmp/unhealthy'",
    'groups:',
    '  rhel9:',
    '    unmanaged: remove',
  ]);
}

/** Makes the rollback project's health check fail on `host` (or pass again). */
export function setUnhealthy(host: LabHost, on: boolean): void {
  const file = join(host.sim.root, 'var/tmp/unhealthy');
  if (on) writeFileSync(file, '');
  else rmSync(file, { force: true });
}

/** `kpfleet apply --yes --report report.json` in the lab's folder: its exit code, output, first host. */
export async function applyInLab(lab: Lab) {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: { NO_COLOR: '1', HOME: lab.dir, XDG_STATE_HOME: join(lab.dir, 'state') },
    cwd: lab.dir,
  };
  const code = await runCli(['apply', '--yes', '--report', 'report.json'], io);
  const report = JSON.parse(readFileSync(join(lab.dir, 'report.json'), 'utf8')) as {
    hosts: ReportedHost[];
  };
  const result = report.hosts[0];
  if (!result) throw new Error('no host in the report');
  return { code, stdout, stderr, result };
}
