/**
 * Where and how to reach a host over SSH: the target and each jump host (`SshEndpoint`), and
 * everything one SshTransport is built from (`SshSettings`, resolved by settings.ts).
 */
/** Where and how to reach one hop (the target, or a jump host). */
export interface SshEndpoint {
  /** The name host keys are checked under: HostKeyAlias, else the address. */
  keyName: string;
  /** `HostKeyAlias`: known_hosts names the host by it alone, without the port (as ssh does). */
  hostKeyAlias?: string;
  /** `HashKnownHosts`: accept-new records the name hashed. */
  hashKnownHosts?: boolean;
  /**
   * `ProxyCommand`, tokens expanded: run, and SSH spoken over its stdin/stdout instead of a TCP
   * connection to `address` (the first hop only: later hops go through the one before).
   */
  proxyCommand?: string;
  address: string;
  port: number;
  user: string;
}

export interface SshSettings extends SshEndpoint {
  /** Inventory name. */
  host: string;
  become: 'sudo' | 'none';
  /** Key files to try, in order (explicit key first, then ~/.ssh/config's IdentityFile). */
  identityFiles: string[];
  /** ssh-agent socket, unless IdentitiesOnly forbids using it. */
  agent?: string;
  /** ProxyJump chain, first hop first. */
  jump: SshEndpoint[];
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  keepaliveIntervalMs: number;
}
