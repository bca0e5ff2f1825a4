/**
 * How to reach a host over SSH: what kpfleet and the inventory say (`HostConnection`), completed
 * the way OpenSSH completes it from ~/.ssh/config (`ssh -G` is the reference): HostName, User,
 * Port, IdentityFile, ProxyJump (each hop resolved too) or ProxyCommand, HostKeyAlias,
 * HashKnownHosts.
 * Values from the inventory win over ~/.ssh/config, as `ssh -l/-p` win over the file.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { HostConnection } from '../../connection.ts';
import { SshConfigError } from '../../errors.ts';
import { expandProxyCommand, unsafeInShell } from './proxy-command.ts';
import { resolveSshConfigCached } from './ssh-config.ts';
import { parseJumpHost } from './ssh-config-values.ts';
import type { ResolvedSshConfig } from './ssh-config-values.ts';
import type { SshEndpoint, SshSettings } from './endpoint.ts';

export interface ResolveSettingsOptions {
  /** The environment to read SSH_AUTH_SOCK from. */
  env: Record<string, string | undefined>;
  /** Whether a default key file exists (default existsSync; a run asks once per path). */
  exists?: (path: string) => boolean;
}

/**
 * The ProxyCommand ssh would run for `r`, tokens expanded; undefined when there is none (or a
 * ProxyJump, which ssh -G then shows instead).
 * @throws SshConfigError for what kpfleet cannot run as ssh would: `ProxyCommand -` (ssh's own
 *   stdin and stdout), `ProxyUseFdpass yes`, an unknown `%` token.
 */
function proxyCommandOf(r: ResolvedSshConfig): string | undefined {
  const command = r.proxyCommand;
  if (command === undefined) return undefined;
  const refuse = (why: string): SshConfigError =>
    new SshConfigError(
      `ProxyCommand for ${r.host}: ${why}`,
      { stderr: '' },
      {
        hint: 'reach the host with ProxyJump, or with a ProxyCommand that speaks SSH on its stdin and stdout',
      },
    );
  if (command.trim() === '-')
    throw refuse("`ProxyCommand -` (ssh's own stdin) cannot carry kpfleet's connections");
  if ((r.raw.get('proxyusefdpass')?.[0] ?? 'no').toLowerCase() === 'yes')
    throw refuse('ProxyUseFdpass is not supported');
  try {
    return expandProxyCommand(command, {
      hostname: r.hostname,
      originalHost: r.host,
      hostKeyAlias: r.hostKeyAlias,
      port: r.port,
      user: r.user,
    });
  } catch (err) {
    throw refuse(err instanceof Error ? err.message : String(err));
  }
}

function endpointOf(r: ResolvedSshConfig, first: boolean): SshEndpoint {
  const e: SshEndpoint = {
    keyName: r.hostKeyAlias ?? r.hostname,
    address: r.hostname,
    port: r.port,
    user: r.user,
    hashKnownHosts: r.hashKnownHosts,
  };
  if (r.hostKeyAlias !== undefined) e.hostKeyAlias = r.hostKeyAlias;
  // Only the first hop is reached through its own ProxyCommand; later hops go through the one
  // before them (ssh -J overrides their own).
  const proxy = first ? proxyCommandOf(r) : undefined;
  if (proxy !== undefined) e.proxyCommand = proxy;
  return e;
}

/**
 * @throws SshConfigError (exit 3) for a name with shell syntax, before it reaches `ssh -G`.
 */
function refuseShellNames(host: string, names: readonly (readonly [string, string | undefined])[]) {
  for (const [what, name] of names) {
    if (name !== undefined && unsafeInShell(name))
      throw new SshConfigError(
        `the ${what} ${JSON.stringify(name)} of ${host} has characters a shell would read`,
        { stderr: '' },
        {
          host,
          hint: what.startsWith('ProxyJump')
            ? 'check ProxyJump in the ssh config'
            : 'check ansible_host and ansible_user in the inventory',
        },
      );
  }
}

export async function resolveSshSettings(
  conn: HostConnection,
  opts: ResolveSettingsOptions,
): Promise<SshSettings> {
  // The default (~/.ssh/config) is left to ssh, which then also reads /etc/ssh/ssh_config and
  // minds no missing user file; another path is read alone (`ssh -F`), as OpenSSH does.
  const configFile =
    conn.sshConfig === false
      ? false
      : conn.sshConfig === join(homedir(), '.ssh/config')
        ? undefined
        : conn.sshConfig;
  // ssh puts the host and user into Match exec and ProxyCommand shell commands (%h, %n, %r):
  // names from the inventory (the repository's) with shell syntax never reach ssh, whatever its
  // version (OpenSSH refuses them itself only from 9.6).
  if (conn.unusable !== undefined)
    throw new SshConfigError(
      `the inventory's connection variables of ${conn.host} cannot be used: ${conn.unusable}`,
      { stderr: '' },
      { host: conn.host, hint: 'run `kpfleet validate`: it shows where each was written' },
    );
  refuseShellNames(conn.host, [
    ['address', conn.address],
    ['user', conn.user],
  ]);
  const resolved = await resolveSshConfigCached(conn.address, {
    configFile,
    user: conn.user,
    port: conn.port,
    extraArgs: conn.sshArgs,
  });
  const jump: SshEndpoint[] = [];
  for (const spec of resolved.proxyJump ?? []) {
    const hop = parseJumpHost(spec);
    // a hop is asked about with `ssh -G` too: the same rule for its names (an ssh config in the
    // project can name them)
    refuseShellNames(conn.host, [
      ['ProxyJump host', hop.host],
      ['ProxyJump user', hop.user],
    ]);
    jump.push(
      endpointOf(
        await resolveSshConfigCached(hop.host, { configFile, user: hop.user, port: hop.port }),
        jump.length === 0,
      ),
    );
  }
  // An explicitly named key must exist (an error later says so); ssh's default candidates
  // (~/.ssh/id_rsa, id_ed25519, ...) are used only where they exist, as ssh does.
  const identityFiles = [
    ...(conn.privateKeyFile !== undefined ? [conn.privateKeyFile] : []),
    ...resolved.identityFiles.filter(
      (f) => f !== conn.privateKeyFile && (opts.exists ?? existsSync)(f),
    ),
  ];
  const agentSetting = resolved.identityAgent;
  const agent =
    agentSetting === 'none' || (resolved.identitiesOnly && conn.privateKeyFile !== undefined)
      ? undefined
      : agentSetting !== undefined && agentSetting !== 'SSH_AUTH_SOCK'
        ? agentSetting
        : opts.env.SSH_AUTH_SOCK;
  const settings: SshSettings = {
    ...endpointOf(resolved, jump.length === 0),
    host: conn.host,
    become: conn.become,
    identityFiles,
    jump,
    connectTimeoutMs: conn.connectTimeoutMs,
    commandTimeoutMs: conn.commandTimeoutMs,
    keepaliveIntervalMs: conn.keepaliveIntervalMs,
  };
  if (agent !== undefined && agent !== '') settings.agent = agent;
  return settings;
}
