/** The inventory's connection checks: which value is checked, and which hosts a finding stops. */
import { describe, expect, it } from 'vitest';
import { checkConnectionVars } from '../../../src/config/inventory-connection.ts';
import { parseInventory } from '../../../src/inventory/parse.ts';

const inv = (text: string) => parseInventory('inventory.ini', text).inventory;
const check = (text: string, touched: (h: string) => boolean = () => true, env = {}) =>
  checkConnectionVars(inv(text), { touched, env, trustCommands: false });

describe('checkConnectionVars', () => {
  it('checks the value that wins, at its position', () => {
    const d = check(
      '[web]\nweb1 ansible_host=ok ansible_ssh_host="a b"\n[web:vars]\nansible_user="x y"\nansible_ssh_user=fine\n',
    );
    expect(d.map((x) => `${String(x.pos?.line)}:${String(x.pos?.col)} ${x.message}`)).toEqual([
      "2:22 ansible_ssh_host 'a b' is not a host name or IP address: it contains a space (host web1)",
    ]);
  });

  it('an error about hosts kpfleet does not touch is a warning, and says which hosts it stops', () => {
    const d = check(
      'localhost ansible_connection=local\n[web]\nweb1 ansible_connection=docker\n',
      (h) => h === 'web1',
    );
    expect(d.map((x) => [x.severity, x.blocksHosts])).toEqual([
      ['warning', ['localhost']],
      ['error', ['web1']],
    ]);
    expect(d[0]?.message).toContain('no group of kpfleet.yml selects them');
  });

  it('a warning of its own (an ssh option set aside) stops no host', () => {
    const d = check("[web]\nweb1 ansible_ssh_args='-C'\n");
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({ severity: 'warning' });
    expect(d[0]?.blocksHosts).toBeUndefined();
  });

  it('an address that renders to nothing leaves the inventory name, which is then checked', () => {
    const d = check(`[web]\nbad_name! ansible_host="{{ lookup('env', 'KP_NONE') }}"\n`);
    expect(d.map((x) => x.message).join('\n')).toContain(
      "the address of host 'bad_name!' (its name: it has no ansible_host)",
    );
  });

  it('never prints a value rendered from the environment', () => {
    const d = check(`[web]\nweb1 ansible_user="{{ lookup('env', 'KP_U') }}"\n`, () => true, {
      KP_U: 'top secret',
    });
    expect(d[0]?.message).toBe(
      "ansible_user '{{ lookup('env', 'KP_U') }}' (rendered from the environment) is not a valid login name: it contains a space (host web1)",
    );
  });

  it('refuses an IdentityAgent from a project inventory unless trusted, as a ProxyCommand', () => {
    const text = "[web]\nweb1 ansible_ssh_extra_args='-o IdentityAgent=/run/other/agent.sock'\n";
    const d = check(text);
    expect(d.map((x) => [x.severity, x.pos, x.message])).toEqual([
      [
        'error',
        { line: 2, col: 6 },
        'ansible_ssh_extra_args: `IdentityAgent` chooses the local socket kpfleet asks to sign with your keys, and the inventory is a file of the project (host web1)',
      ],
    ]);
    expect(d[0]?.hint).toContain('--trust-ssh-config');
    const trusted = checkConnectionVars(inv(text), {
      touched: () => true,
      env: {},
      trustCommands: true,
    });
    expect(trusted).toEqual([]);
    expect(check("[web]\nweb1 ansible_ssh_args='-o IdentityAgent=none'\n")).toEqual([]);
  });
});
