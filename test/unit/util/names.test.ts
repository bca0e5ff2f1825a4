/**
 * The names kpfleet records in known_hosts (util/names.ts): host names, IP addresses and
 * `[name]:port` only, never a name a shell, an authorized_keys file or a known_hosts pattern
 * reads specially (issue 14, hostile review: a HostKeyAlias appended to ~/.bashrc).
 */
import { describe, expect, it } from 'vitest';
import { isHostNameForm, knownHostsNameProblem } from '../../../src/util/names.ts';

describe('isHostNameForm', () => {
  it.each([
    'web01',
    'web-01.example.com',
    'web01.example.com.',
    '_ssh.internal',
    'fleet_vip',
    '10.0.0.1',
    '::1',
    'fd00::1',
    'fe80::1%eth0',
    '2001:db8:0:0:0:0:0:1',
    '::ffff:10.0.0.1',
    '[web01]:2222',
    '[fd00::1]:22',
    'a'.repeat(63),
  ])('%s is a host name', (name) => {
    expect(isHostNameForm(name)).toBe(true);
  });

  it.each([
    '',
    "x;s=$'\\x20';touch${s}/tmp/pwned;#",
    'web01;id',
    'web 01',
    'web01,web02',
    '*',
    'web*',
    '!web01',
    '@revoked',
    '|1|abc',
    '-oProxyCommand=x',
    'web-',
    '.web',
    'web..01',
    'a'.repeat(64),
    `${'a.'.repeat(127)}a`,
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    '::ffff:10.0.0.256',
    '[web01]',
    '[web01]:0',
    '[web01]:65536',
    '[web;01]:22',
    'wéb01',
    'web01\n',
    'web\u202e01',
  ])('%j is not', (name) => {
    expect(isHostNameForm(name)).toBe(false);
  });
});

describe('knownHostsNameProblem', () => {
  it('refuses what is not a host name, and the authorized_keys flags', () => {
    expect(knownHostsNameProblem('web01')).toBeUndefined();
    expect(knownHostsNameProblem('x;touch /tmp/p')).toBe(
      'it is not a host name, an IP address or [name]:port',
    );
    for (const flag of ['restrict', 'RESTRICT', 'no-pty', 'pty', 'cert-authority', 'no-user-rc'])
      expect(knownHostsNameProblem(flag)).toBe('sshd reads it as an authorized_keys option');
    expect(knownHostsNameProblem('restricted')).toBeUndefined();
  });
});
