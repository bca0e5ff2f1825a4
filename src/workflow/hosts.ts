/**
 * The hosts a run works on, as data: the project loaded, the inventory hosts selected, and how to
 * reach each; and the fingerprint of the project a plan records. What every command that works on
 * hosts starts from. No printing, no exit codes: cli/ decides what to show and what it means.
 */
import type { Config } from '../config-model.ts';
import type { ConfigFingerprint } from '../config/fingerprint.ts';
import { configFingerprint } from '../config/fingerprint.ts';
import type { HostConnection } from '../connection.ts';
import { resolveConnection } from '../desired/connection.ts';
import type { ConnectionContext } from '../desired/connection.ts';
import { resolveDesired } from '../desired/resolve.ts';
import type { Inventory } from '../inventory/types.ts';
import { hostVars } from '../inventory/vars.ts';
import { groupGraph } from '../inventory/graph.ts';
import type { GroupGraph } from '../inventory/graph.ts';
import type { Shard } from '../inventory/shard.ts';

export interface SelectedHosts {
  config: Config;
  inventory: Inventory;
  /** The hosts --limit selects, in inventory order, with how to reach each. */
  hosts: HostConnection[];
  /** Resolves a path as kpfleet.yml's paths are (see config/load.ts, Project). */
  resolvePath: (written: string) => string;
  /** The environment and working directory an inventory's connection variables are read with. */
  connectionContext: ConnectionContext;
  /** `--shard I/N`: `hosts` are that shard's (`inventory/shard.ts`). */
  shard?: Shard;
  /**
   * The connections `selectHosts` resolved, as the project gives them (before `--login-user`):
   * `projectFingerprint` does not resolve them again.
   */
  resolved?: ReadonlyMap<string, HostConnection>;
}

/** How to reach one inventory host: kpfleet.yml's connection, then the inventory's variables. */
function connectionOf(
  config: Config,
  inventory: Inventory,
  ctx: ConnectionContext,
  host: string,
  graph: GroupGraph,
): HostConnection {
  return resolveConnection(host, config.connection, hostVars(inventory, host, {}, graph), ctx);
}

/**
 * The named hosts of a valid project with how to reach each; `loginUser` (`--login-user`), the
 * run's own choice and not the project's, replaces every host's user.
 */
export function selectHosts(
  project: Omit<SelectedHosts, 'hosts' | 'shard'>,
  names: readonly string[],
  loginUser?: string,
): SelectedHosts {
  const { config, inventory, resolvePath, connectionContext } = project;
  const resolved = new Map<string, HostConnection>();
  const graph = groupGraph(inventory);
  const hosts = names.map((h) => {
    const conn = connectionOf(config, inventory, connectionContext, h, graph);
    resolved.set(h, conn);
    return loginUser !== undefined ? { ...conn, user: loginUser } : conn;
  });
  return { config, inventory, hosts, resolvePath, connectionContext, resolved };
}

/** The fingerprint of the project as loaded: every inventory host, not only those selected. */
export function projectFingerprint(selected: SelectedHosts): ConfigFingerprint {
  const { config, inventory, connectionContext, resolved } = selected;
  const desired = resolveDesired(config, inventory).hosts;
  const graph = groupGraph(inventory);
  return configFingerprint(
    config,
    desired.map((d) => ({
      desired: d,
      connection:
        resolved?.get(d.host) ?? connectionOf(config, inventory, connectionContext, d.host, graph),
    })),
  );
}
