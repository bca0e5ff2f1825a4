import { ExitCode } from '../../errors.ts';
import { resolveDesired } from '../../desired/resolve.ts';
import { hostsJson, renderHosts } from '../../report/hosts.ts';
import type { HostView } from '../../report/hosts.ts';
import { styleFor } from '../../report/style.ts';
import type { CliIo } from '../io.ts';
import { selectHostsForCli } from './project.ts';

export interface HostsOptions {
  /** `--shard I/N`: only that shard's hosts (`inventory/shard.ts`). */
  shard?: string;
  config?: string;
  trustSshConfig?: boolean;
  limit?: string;
  json?: boolean;
}

export function hostsCommand(opts: HostsOptions, io: CliIo): number {
  const { config, inventory, hosts } = selectHostsForCli(opts, io);
  const { hosts: desired } = resolveDesired(
    config,
    inventory,
    hosts.map((h) => h.host),
  );
  const byHost = new Map(desired.map((d) => [d.host, d]));
  const views: HostView[] = hosts.flatMap((connection) => {
    const d = byHost.get(connection.host);
    return d ? [{ connection, desired: d }] : [];
  });
  if (opts.json === true) {
    io.stdout.write(JSON.stringify(hostsJson(config, views), null, 2) + '\n');
  } else {
    io.stdout.write(renderHosts(config, views, styleFor(io.stdout, io.env)) + '\n');
  }
  return ExitCode.ok;
}
