/** `kpfleet hosts`: each host, how it is reached, and the live patches it must have. */
import type { Config } from '../config-model.ts';
import type { HostConnection } from '../connection.ts';
import type { HostDesired } from '../desired/resolve.ts';
import { hideSecret } from '../util/secrets.ts';
import { safeText } from './safe-text.ts';
import type { Style } from './style.ts';

export interface HostView {
  connection: HostConnection;
  desired: HostDesired;
}

/** The JSON form: stable, and free of secrets (inventory variables are not echoed, vaulted ones hidden). */
export function hostsJson(config: Config, hosts: readonly HostView[]): unknown {
  return {
    version: 1,
    hosts: hosts.map(({ connection: c, desired: d }) => ({
      name: c.host,
      connection: {
        address: hideSecret(c.address),
        port: hideSecret(c.port ?? null),
        user: hideSecret(c.user ?? null),
        become: c.become,
        private_key_file: hideSecret(c.privateKeyFile ?? null),
        known_hosts: c.knownHosts,
        host_key_checking: c.hostKeyChecking,
        ssh_config: c.sshConfig,
        connect_timeout_ms: c.connectTimeoutMs,
        command_timeout_ms: c.commandTimeoutMs,
      },
      groups: d.groups,
      unmanaged: d.unmanaged,
      uncovered_kernel: d.uncoveredKernel,
      manager: { choice: d.manager.choice, source: d.manager.source },
      patches: d.patches.map((p) => {
        const patch = config.patches.get(p.patch);
        return {
          name: p.patch,
          state: p.state,
          from_groups: p.groups,
          module: patch?.module ?? null,
          kernels: patch?.kernels ?? [],
          source:
            patch?.source.kind === 'rpm'
              ? { rpm: patch.source.package }
              : { file: patch?.source.kind === 'file' ? patch.source.written : null },
        };
      }),
    })),
  };
}

/** The widest of `names` (a loop: no spread of an unbounded list). */
function widest(names: readonly string[]): number {
  let width = 0;
  for (const n of names) width = Math.max(width, n.length);
  return width;
}

/** Names from the inventory and the project file, safe to print (`safeText`). */
const t = safeText;

export function renderHosts(config: Config, hosts: readonly HostView[], style: Style): string {
  const out: string[] = [];
  for (const { connection: c, desired: d } of hosts) {
    const target = `${c.user ? t(c.user) + '@' : ''}${t(c.address)}${c.port ? ':' + String(hideSecret(c.port)) : ''}`;
    out.push(
      `${style.bold(t(c.host))}  ${style.dim(`${target}  become=${c.become}  host_key_checking=${c.hostKeyChecking}`)}`,
    );
    out.push(
      `  groups: ${d.groups.length ? d.groups.map(t).join(', ') : style.dim('(none with a desired state)')}`,
    );
    // the setting: which manager `auto` becomes is known once the host's facts are read
    out.push(`  manager: ${d.manager.choice} ${style.dim(`(${t(d.manager.source)})`)}`);
    if (d.patches.length === 0) out.push(`  ${style.dim('no patches declared')}`);
    const names = d.patches.map((p) => t(p.patch));
    const width = widest(names);
    for (const [i, p] of d.patches.entries()) {
      const patch = config.patches.get(p.patch);
      const state =
        p.state === 'absent' ? style.yellow(p.state.padEnd(9)) : style.green(p.state.padEnd(9));
      const source = patch?.source.kind === 'rpm' ? ` rpm ${t(patch.source.package)}` : '';
      const module = patch !== undefined ? t(patch.module) : '?';
      const kernels = patch !== undefined ? patch.kernels.map(t).join(', ') : '?';
      out.push(
        `  ${state} ${(names[i] ?? '').padEnd(width)}  module ${module}  kernel ${kernels}${source}`,
      );
    }
    out.push(`  unmanaged: ${d.unmanaged}  uncovered kernel: ${d.uncoveredKernel}`);
    out.push('');
  }
  out.push(`${hosts.length} host${hosts.length === 1 ? '' : 's'}`);
  return out.join('\n');
}
