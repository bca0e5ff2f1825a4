/**
 * What kpfleet connects to, per inventory host, against what the real Ansible gave its ssh
 * (recorded by scripts/gen-ansible-connections.py into expected-connections.json, for the compat
 * cases with a connect.json). kpfleet's side: resolveConnection (the inventory variables, the
 * names that win, templates, ssh arguments), resolved by `ssh -G -F none` as the transport does;
 * Ansible's side: its ssh command line through the same `ssh -G`. Ansible is not needed here.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TEST_CONNECTION_DEFAULTS } from '../../connection-defaults.ts';
import { checkConnectionVars } from '../../../src/config/inventory-connection.ts';
import { resolveConnection } from '../../../src/desired/connection.ts';
import { loadInventory } from '../../../src/inventory/load.ts';
import { hostVars } from '../../../src/inventory/vars.ts';
import { resolveSshConfig } from '../../../src/transport/ssh/ssh-config.ts';

const root = join(import.meta.dirname, '../../fixtures/ansible');
const cases = readdirSync(root, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(root, d.name, 'expected-connections.json')))
  .map((d) => d.name)
  .sort();

interface Resolved {
  hostname: string;
  port: number;
  user: string | null;
  identityfile: string[] | null;
  proxyjump: string | null;
  proxycommand: string | null;
}
type Expected =
  | { connection: 'ssh'; destination: string; args: string[]; resolved: Resolved }
  | { connection: string };
const defaults = TEST_CONNECTION_DEFAULTS;

it('has the connection cases the brief asks for', () => {
  expect(cases).toEqual(
    expect.arrayContaining([
      'connect-kolla',
      'connect-legacy-names',
      'connect-relative-key',
      'connect-ssh-args',
      'connect-templates',
    ]),
  );
});

describe.each(cases)('%s', (name) => {
  const dir = join(root, name);
  const file = readdirSync(dir).find((f) => f === 'inventory' || f.startsWith('inventory.'));
  if (file === undefined) throw new Error(`${name}: no inventory file`);
  const { inventory } = loadInventory(join(dir, file), `${name}/${file}`);
  const spec = JSON.parse(readFileSync(join(dir, 'connect.json'), 'utf8')) as {
    env: Record<string, string>;
  };
  const expected = JSON.parse(
    readFileSync(join(dir, 'expected-connections.json'), 'utf8'),
  ) as Record<string, Expected>;
  // Ansible ran in the case directory: a relative key path is relative to it
  const ctx = { env: spec.env, resolveKeyPath: (p: string) => resolve(dir, p) };

  it.each(Object.keys(expected))('host %s', async (host) => {
    const want = expected[host];
    if (want === undefined) throw new Error(host);
    const found = checkConnectionVars(inventory, {
      touched: () => true,
      env: spec.env,
      trustCommands: true,
    }).filter((d) => d.severity === 'error' && d.blocksHosts?.includes(host));
    if (!('destination' in want)) {
      // Ansible did not use ssh: kpfleet refuses the host when it would touch it
      expect(found.map((d) => d.message).join('\n')).toContain(
        `ansible_connection '${want.connection}' is not supported`,
      );
      return;
    }
    expect(found).toEqual([]);
    const conn = resolveConnection(host, defaults, hostVars(inventory, host), ctx);
    expect(conn.unusable).toBeUndefined();
    expect(conn.address).toBe(want.destination);
    const r = await resolveSshConfig(conn.address, {
      configFile: false,
      user: conn.user,
      port: conn.port,
      extraArgs: conn.sshArgs,
    });
    expect(r.hostname).toBe(want.resolved.hostname);
    expect(r.port).toBe(want.resolved.port);
    if (want.resolved.user !== null) expect(r.user).toBe(want.resolved.user);
    else expect(conn.user).toBeUndefined();
    expect(r.proxyJump?.join(',') ?? null).toBe(want.resolved.proxyjump);
    expect(r.proxyCommand ?? null).toBe(want.resolved.proxycommand);
    // the key kpfleet tries first (settings.ts: its own, then ssh's IdentityFile entries)
    const first =
      conn.privateKeyFile ?? (want.resolved.identityfile ? r.identityFiles[0] : undefined);
    const ansibleFirst = want.resolved.identityfile?.[0];
    expect(first).toBe(ansibleFirst === undefined ? undefined : resolve(dir, ansibleFirst));
  });
});
