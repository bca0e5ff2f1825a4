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
});
