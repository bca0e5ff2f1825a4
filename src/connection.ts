/**
 * How kpfleet reaches a host, as data: the connection settings kpfleet.yml gives every host
 * (`ConnectionDefaults`) and those one host ends up with once the inventory's variables are laid
 * over them (`HostConnection`, made by desired/connection.ts). Shared by config (which reads
 * them), desired (which resolves them) and the transport (which connects with them), so none of
 * those imports another for it. Types only.
 */

/** How a step gets root: `sudo -n`, or none when the login user is root. */
export type Become = 'sudo' | 'none';

/** What an unknown or new host key does (docs/config.md, "Host keys"). */
export type HostKeyChecking = 'strict' | 'accept-new' | 'off';

export interface ConnectionDefaults {
  user?: string;
  port?: number;
  become: Become;
  privateKeyFile?: string;
  /** Absolute paths. */
  knownHosts: string[];
  hostKeyChecking: HostKeyChecking;
  /** Absolute path, or false to ignore ~/.ssh/config. */
  sshConfig: string | false;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  keepaliveIntervalMs: number;
}

/** kpfleet.yml's connection defaults, with the host's own values laid over them. */
export interface HostConnection extends ConnectionDefaults {
  /** Inventory name (what --limit and reports use). */
  host: string;
  /** What to connect to: ansible_host, else the inventory name. */
  address: string;
  /**
   * ssh options from `ansible_ssh_args` (`before` kpfleet's user and port, as on Ansible's ssh
   * command line) and `ansible_ssh_common_args`/`ansible_ssh_extra_args` (`after`), passed to
   * `ssh -G` as written: OpenSSH decides which value wins.
   */
  sshArgs?: { before: string[]; after: string[] };
  /**
   * Why the inventory's connection variables of this host cannot be used (a template kpfleet does
   * not render, a refused ssh option): the transport refuses to connect. Validate reports the
   * same for every host kpfleet would touch.
   */
  unusable?: string;
}
