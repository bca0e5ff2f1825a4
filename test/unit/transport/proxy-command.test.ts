/** ProxyCommand tokens (issue 14 §2), as ssh_config(5) TOKENS lists them for ProxyCommand. */
import { describe, expect, it } from 'vitest';
import { expandProxyCommand } from '../../../src/transport/ssh/proxy-command.ts';

const t = {
  hostname: 'db1.internal',
  originalHost: 'db1',
  hostKeyAlias: undefined,
  port: 2222,
  user: 'ops',
};

describe('expandProxyCommand', () => {
  it('expands %h %p %r %n %k and %%', () => {
    expect(expandProxyCommand('ssh -W %h:%p -l %r bastion # %n %k 100%%', t)).toBe(
      'ssh -W db1.internal:2222 -l ops bastion # db1 db1 100%',
    );
    expect(expandProxyCommand('%k', { ...t, hostKeyAlias: 'db-vip' })).toBe('db-vip');
  });

  it('leaves everything else as written, quotes and shell syntax included', () => {
    expect(expandProxyCommand(`sh -c 'nc "$0" %p' %h`, t)).toBe(
      `sh -c 'nc "$0" 2222' db1.internal`,
    );
  });

  it.each(['%d', '%u', '%C', '%x', 'trailing %'])(
    'refuses %s, as ssh does for ProxyCommand',
    (c) => {
      expect(() => expandProxyCommand(c, t)).toThrow(/unknown token %.? in ProxyCommand/);
    },
  );

  it.each([
    ['hostname', 'a;id'],
    ['hostname', '$(id)'],
    ['originalHost', 'db1 -oX'],
    ['user', '-oProxyCommand=x'],
    ['user', 'a`id`'],
    ['hostKeyAlias', "x'y"],
    ['user', 'a\nb'],
  ])('refuses a %s that would change the shell command: %j', (field, value) => {
    expect(() => expandProxyCommand('ssh -W %h:%p -l %r %n %k', { ...t, [field]: value })).toThrow(
      /would put .* into a shell command/,
    );
  });

  it('accepts the names hosts have: dotted, IPv6, user@, underscores', () => {
    expect(
      expandProxyCommand('%h %r %n', {
        ...t,
        hostname: 'fe80::1%eth0',
        user: 'svc_kp-1',
        originalHost: 'web-01.eu_west.example',
      }),
    ).toBe('fe80::1%eth0 svc_kp-1 web-01.eu_west.example');
  });
});
