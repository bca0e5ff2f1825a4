/**
 * Opening SSH transports for a run: one KeyStore (keys parsed once, one passphrase prompt) and
 * one HostKeyPolicy shared by every host; settings resolved per host through `ssh -G`.
 */
import { existsSync } from 'node:fs';
import type { HostConnection } from '../../connection.ts';
import type { OpenTransport } from '../transport.ts';
import { HostKeyPolicy } from './host-key-policy.ts';
import { KeyStore } from './keys.ts';
import type { PassphraseProvider } from './keys.ts';
import { resolveSshSettings } from './settings.ts';
import { SshTransport } from './ssh-transport.ts';

export interface SshConnectorOptions {
  env: Record<string, string | undefined>;
  askPassphrase?: PassphraseProvider;
  onWarning?: (message: string) => void;
}

export function createSshConnector(opts: SshConnectorOptions): OpenTransport {
  const keys = new KeyStore(opts.askPassphrase);
  const policies = new Map<string, HostKeyPolicy>();
  const policyFor = (conn: HostConnection): HostKeyPolicy => {
    const key = `${conn.hostKeyChecking}|${conn.knownHosts.join('\0')}`;
    let p = policies.get(key);
    if (!p) {
      p = new HostKeyPolicy({
        files: conn.knownHosts,
        mode: conn.hostKeyChecking,
        ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
      });
      policies.set(key, p);
    }
    return p;
  };
  // ssh's default key files (~/.ssh/id_*) are looked for once per run, not once per host
  const seen = new Map<string, boolean>();
  const exists = (path: string): boolean => {
    let e = seen.get(path);
    if (e === undefined) seen.set(path, (e = existsSync(path)));
    return e;
  };
  return async (conn) => {
    const settings = await resolveSshSettings(conn, { env: opts.env, exists });
    return new SshTransport(settings, { keys, hostKeys: policyFor(conn) });
  };
}
