import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadProject } from '../../config/load.ts';
import type { LoadOptions, Project } from '../../config/load.ts';
import { hasErrors } from '../../diagnostics.ts';
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
import type { CliIo } from '../io.ts';
import { readVaultPassword } from '../vault-password.ts';

/** Loads the project named by `-c` (or found in the working directory), as every command does. */
export function loadForCli(
  opts: { config?: string; trustSshConfig?: boolean; vaultPasswordFile?: string },
  io: CliIo,
): Project {
  const options: LoadOptions = { cwd: io.cwd, vault: readVaultPassword(opts, io) };
  if (opts.config !== undefined) options.configPath = opts.config;
  if (opts.trustSshConfig === true) options.trustSshConfig = true;
  if (io.env.HOME !== undefined && io.env.HOME !== '') options.home = io.env.HOME;
  return loadProject(options);
}

/**
 * The hosts `--limit` selects, as `ansible all --limit PATTERN` does (`@file` read relative to
 * the working directory); all hosts without it. Ansible's warnings go to stderr; a limit that
 * selects nothing is a usage error, since running on no host is never what was meant.
 */
function selectForLimit(inv: Inventory, limit: string | undefined, io: CliIo): string[] {
  if (limit === undefined) return [...inv.hosts.keys()];
  const result = limitHostsDetailed(inv, 'all', limit, {
    readFile: (p) => readFileSync(resolve(io.cwd, p), 'utf8'),
    implicitLocalhost: false,
  });
  for (const w of result.warnings) io.stderr.write(`warning: ${oneLine(w)}\n`);
  if (result.hosts.length === 0) {
    throw new UsageError(`${showCommand(['--limit', limit])} matches no host in ${inv.file}`, {
      hint: 'a limit is an Ansible host pattern: host or group names, web*, ~regex, a:b (or), a:&b (and), a:!b (not), @file',
    });
  }
  return result.hosts;
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
  },
  io: CliIo,
): SelectedHosts {
  const { config, inventory, diagnostics, resolvePath } = loadForCli(opts, io);
  if (hasErrors(diagnostics) || !inventory) throw new ConfigError(diagnostics);
  if (diagnostics.length && opts.json !== true) {
    io.stderr.write(renderDiagnostics(diagnostics, styleFor(io.stderr, io.env)) + '\n\n');
  }
  const login = opts.loginUser;
  if (login !== undefined) checkLoginUser(login);
  // --login-user: the run's own choice, not the project's (outside its fingerprint)
  return selectHosts(
    { config, inventory, resolvePath },
    selectForLimit(inventory, opts.limit, io),
    login,
  );
}
