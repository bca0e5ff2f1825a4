import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { findConfigFile, loadProject } from '../../config/load.ts';
import { projectFileTest } from '../../config/project-files.ts';
import type { LoadOptions, Project } from '../../config/load.ts';
import { hasErrors } from '../../diagnostics.ts';
import type { Diagnostic } from '../../diagnostics.ts';
import { ConfigError, UsageError } from '../../errors.ts';
import { loginNameProblem } from '../../desired/connection-values.ts';
import { showValue } from '../../util/show.ts';
import { renderDiagnostics } from '../../report/diagnostics.ts';
import { oneLine } from '../../report/safe-text.ts';
import { styleFor } from '../../report/style.ts';
import { limitHostsDetailed } from '../../inventory/pattern.ts';
import { showCommand } from '../../transport/shell.ts';
import type { Inventory } from '../../inventory/types.ts';
import type { SelectedHosts } from '../../workflow/hosts.ts';
import { selectHosts } from '../../workflow/hosts.ts';
import { inShard, shardFromCli, shardText } from '../../inventory/shard.ts';
import { plural } from '../../util/text.ts';
import type { CliIo } from '../io.ts';
import { readVaultPassword } from '../vault-password.ts';

/** Loads the project named by `-c` (or found in the working directory), as every command does. */
export function loadForCli(
  opts: { config?: string; trustSshConfig?: boolean; vaultPasswordFile?: string },
  io: CliIo,
): Project {
  const home = io.env.HOME !== undefined && io.env.HOME !== '' ? io.env.HOME : homedir();
  // a vault password script inside the project is refused, not run
  const inProject = projectFileTest(dirname(findConfigFile(io.cwd, opts.config)), home);
  const options: LoadOptions = { cwd: io.cwd, home, vault: readVaultPassword(opts, io, inProject) };
  if (opts.config !== undefined) options.configPath = opts.config;
  if (opts.trustSshConfig === true) options.trustSshConfig = true;
  // lookup('env', …) in the inventory reads the environment kpfleet runs in
  options.env = io.env;
  return loadProject(options);
}

/**
 * The hosts `--limit` selects, as `ansible all --limit PATTERN` does (`@file` read relative to
 * the working directory); all hosts without it. Ansible's warnings go to stderr. A limit that
 * selects nothing is a usage error, as Ansible's "no hosts to target" is, and says it once (not
 * also Ansible's "ignoring" warning); in an inventory with no hosts Ansible succeeds with none,
 * and so does kpfleet, saying "no hosts matched".
 */
function selectForLimit(
  inv: Inventory,
  limit: string | undefined,
  cwd: string,
): { hosts: string[]; notes: string[] } {
  if (limit === undefined) return { hosts: [...inv.hosts.keys()], notes: [] };
  const result = limitHostsDetailed(inv, 'all', limit, {
    readFile: (p) => readFileSync(resolve(cwd, p), 'utf8'),
    implicitLocalhost: false,
  });
  if (result.hosts.length === 0 && inv.hosts.size === 0)
    return { hosts: [], notes: [`no hosts matched: ${oneLine(inv.file)} has no hosts`] };
  if (result.hosts.length === 0) {
    throw new UsageError(`${showCommand(['--limit', limit])} matches no host in ${inv.file}`, {
      hint: 'a limit is an Ansible host pattern: host or group names, web*, ~regex, a:b (or), a:&b (and), a:!b (not), @file',
    });
  }
  return { hosts: result.hosts, notes: result.warnings.map((w) => `warning: ${oneLine(w)}`) };
}

/**
 * The diagnostics as they stand for the hosts a command selects: an error that only stops hosts
 * the command does not select is a warning for it; and the hosts kpfleet must not contact.
 */
function forSelection(
  diagnostics: readonly Diagnostic[],
  selected: readonly string[],
): { diagnostics: Diagnostic[]; blocked: Set<string> } {
  const chosen = new Set(selected);
  const blocked = new Set<string>();
  const out = diagnostics.map((d) => {
    if (d.blocksHosts === undefined) return d;
    for (const h of d.blocksHosts) blocked.add(h);
    return d.severity === 'error' && !d.blocksHosts.some((h) => chosen.has(h))
      ? { ...d, severity: 'warning' as const, message: `${d.message} (not selected by --limit)` }
      : d;
  });
  return { diagnostics: out, blocked };
}

/** `--login-user` is checked as `ansible_user` is (it reaches ssh the same way). */
function checkLoginUser(name: string): void {
  const problem = loginNameProblem(name);
  if (problem !== undefined) {
    throw new UsageError(`--login-user ${showValue(name)} is not a login name: ${problem}`);
  }
}

/**
 * What every command that works on hosts does first: load and validate the project (invalid →
 * ConfigError, exit 3, nothing contacted), show its warnings (not in JSON mode), apply --limit,
 * and resolve each host's connection.
 */
export function selectHostsForCli(
  opts: {
    config?: string;
    limit?: string;
    json?: boolean;
    loginUser?: string;
    trustSshConfig?: boolean;
    vaultPasswordFile?: string;
    /** `--shard I/N` (else `KPFLEET_SHARD`): only the hosts of that shard, after --limit. */
    shard?: string;
  },
  io: CliIo,
): SelectedHosts {
  // a shard that is not one is a usage error before the project is read
  const shard = shardFromCli(opts.shard, io.env);
  const project = loadForCli(opts, io);
  const { config, inventory, resolvePath, connectionContext } = project;
  if (!inventory) throw new ConfigError(project.diagnostics);
  // only an error about a host that kpfleet.yml and --limit select stops the run
  let limited: { hosts: string[]; notes: string[] };
  try {
    limited = selectForLimit(inventory, opts.limit, io.cwd);
  } catch (err) {
    // an invalid project says so first (exit 3), as before --limit is looked at
    if (hasErrors(project.diagnostics)) throw new ConfigError(project.diagnostics);
    throw err;
  }
  const selected = limited.hosts;
  const { diagnostics, blocked } = forSelection(project.diagnostics, selected);
  if (hasErrors(diagnostics)) throw new ConfigError(diagnostics);
  for (const note of limited.notes) io.stderr.write(`${note}\n`);
  if (diagnostics.length && opts.json !== true) {
    io.stderr.write(renderDiagnostics(diagnostics, styleFor(io.stderr, io.env)) + '\n\n');
  }
  const login = opts.loginUser;
  if (login !== undefined) checkLoginUser(login);
  // --login-user: the run's own choice, not the project's (outside its fingerprint)
  const usable = selected.filter((h) => !blocked.has(h));
  const chosen = shard ? usable.filter((h) => inShard(h, shard)) : usable;
  // a shard is a part of the fleet: say so, so that a KPFLEET_SHARD left in an environment is seen
  if (shard) {
    io.stderr.write(
      `shard ${shardText(shard)}: ${plural(chosen.length, 'host')} of the ${String(usable.length)} selected\n`,
    );
  }
  const out = selectHosts({ config, inventory, resolvePath, connectionContext }, chosen, login);
  return shard ? { ...out, shard } : out;
}

/**
 * The hosts a command over the whole fleet selects (`plan merge`, `report merge`): as
 * selectHostsForCli, with no shard, whatever `KPFLEET_SHARD` this job's environment holds.
 */
export function selectWholeFleet(
  opts: Omit<Parameters<typeof selectHostsForCli>[0], 'shard'>,
  io: CliIo,
): SelectedHosts {
  const env = { ...io.env };
  delete env.KPFLEET_SHARD;
  return selectHostsForCli(opts, { ...io, env });
}
