/** `kpfleet hosts`: each host's manager setting and where it was set, in text and JSON. */
import { describe, expect, it } from 'vitest';
import type { Config } from '../../../src/config-model.ts';
import type { HostConnection } from '../../../src/connection.ts';
import { hostsJson, renderHosts } from '../../../src/report/hosts.ts';
import { plainStyle } from '../../../src/report/style.ts';
import { desired } from '../plan/builders.ts';

const connection: HostConnection = {
  host: 'web1',
  address: 'web1',
  become: 'sudo',
  knownHosts: [],
  hostKeyChecking: 'strict',
  sshConfig: false,
  connectTimeoutMs: 1,
  commandTimeoutMs: 1,
  keepaliveIntervalMs: 1,
};
const config = { patches: new Map() } as unknown as Config;

describe('kpfleet hosts: the manager', () => {
  it('says the setting and where it came from', () => {
    const set = desired([], { manager: { choice: 'klp', source: 'group web' } });
    expect(renderHosts(config, [{ connection, desired: set }], plainStyle)).toContain(
      '\n  manager: klp (group web)\n',
    );
    expect(renderHosts(config, [{ connection, desired: desired([]) }], plainStyle)).toContain(
      '\n  manager: auto (default)\n',
    );
    expect(hostsJson(config, [{ connection, desired: set }])).toMatchObject({
      hosts: [{ name: 'web1', manager: { choice: 'klp', source: 'group web' } }],
    });
  });
});
