import { hasErrors } from '../../diagnostics.ts';
import { ConfigError, ExitCode } from '../../errors.ts';
import { loadForCli, selectForLimit } from './project.ts';
import { resolveConnection } from '../../desired/connection.ts';
import { resolveDesired } from '../../desired/resolve.ts';
import { hostVars } from '../../inventory/vars.ts';
import { hostsJson, renderHosts } from '../../report/hosts.ts';
import type { HostView } from '../../report/hosts.ts';
import { renderDiagnostics } from '../../report/diagnostics.ts';
import { styleFor } from '../../report/style.ts';
import type { CliIo } from '../io.ts';

export interface HostsOptions {
  config?: string;
  limit?: string;
  json?: boolean;
}

export function hostsCommand(opts: HostsOptions, io: CliIo): number {
  const project = loadForCli(opts, io);
  const { config, inventory, diagnostics, resolvePath } = project;
  if (hasErrors(diagnostics) || !inventory) throw new ConfigError(diagnostics);
  if (diagnostics.length && opts.json !== true) {
    io.stderr.write(renderDiagnostics(diagnostics, styleFor(io.stderr, io.env)) + '\n\n');
  }
  const names = selectForLimit(inventory, opts.limit, io);
  const { hosts: desired } = resolveDesired(config, inventory, names);
  const views: HostView[] = desired.map((d) => ({
    desired: d,
    connection: resolveConnection(
      d.host,
      config.connection,
      hostVars(inventory, d.host),
      resolvePath,
    ),
  }));
  if (opts.json === true) {
    io.stdout.write(JSON.stringify(hostsJson(config, views), null, 2) + '\n');
  } else {
    io.stdout.write(renderHosts(config, views, styleFor(io.stdout, io.env)) + '\n');
  }
  return ExitCode.ok;
}
