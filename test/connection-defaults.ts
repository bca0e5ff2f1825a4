/**
 * kpfleet.yml's `connection:` defaults as a test resolving inventory hosts needs them: no ssh
 * config file, no known_hosts file, strict host keys, the default timeouts.
 */
import type { ConnectionDefaults } from '../src/connection.ts';

export const TEST_CONNECTION_DEFAULTS: ConnectionDefaults = {
  become: 'sudo',
  knownHosts: [],
  hostKeyChecking: 'strict',
  sshConfig: false,
  connectTimeoutMs: 10_000,
  commandTimeoutMs: 300_000,
  keepaliveIntervalMs: 10_000,
};
