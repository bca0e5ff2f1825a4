/**
 * `kpfleet apply` run in-process against a lab (lab/lab.ts), for the lab tests: the
 * project's files written into the lab's folder, and a run whose report is read back.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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
