/**
 * The grouping rules of src/transport/ssh/ssh-config-groups.ts from data (files in memory): when
 * a config may be grouped at all, which hosts are asked about alone, and the check of the files
 * `ssh -v -G` says it read. The real `ssh -G` is the judge in
 * test/integration/transport/ssh-config-groups.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  hostGroup,
  jumpsThrough,
  keptAsWritten,
  readSshConfigShape,
  readTheSameFiles,
} from '../../../src/transport/ssh/ssh-config-groups.ts';
import type { ResolvedSshConfig } from '../../../src/transport/ssh/ssh-config-values.ts';
import { memFs } from '../../ssh-config-mem-fs.ts';

const shape = (config: string, more: Record<string, string> = {}) =>
  readSshConfigShape(
    [{ path: '/c/ssh_config', user: true }],
    '/home/op',
    memFs({ '/c/ssh_config': config, ...more }),
  );

const groups = (config: string, hosts: string[], more: Record<string, string> = {}) => {
  const s = shape(config, more);
  return hosts.map((h) => hostGroup(s, h) ?? 'alone');
};

describe('readSshConfigShape: configs that are never grouped', () => {
  it.each([
    ['Match host web*\n  User m', 'can differ per host'],
    ['Match originalhost x', 'can differ per host'],
    ['Match user root', 'can differ per host'],
    ['Match exec true', 'can differ per host'],
    ['Match localnetwork 10.0.0.0/8', 'can differ per host'],
    ['Match all exec true', 'can differ per host'],
    ['Match', 'can differ per host'],
    ['Host web* # a comment', 'split this line differently'],
    ['Host "web 1"', 'split this line differently'],
    ['Host web1,web2', 'comma'],
    ['Include ~other/x.conf', 'cannot follow'],
    ['Include /c/%h.conf', 'Include with % or $'],
  ])('%j', (config, why) => {
    const s = shape(config);
    expect(s).toMatchObject({ groupable: false });
    expect(s.groupable ? '' : s.why).toContain(why);
    expect(hostGroup(s, 'web1')).toBeUndefined();
  });

  it('Include nested deeper than ssh reads', () => {
    const chain = Object.fromEntries(
      Array.from({ length: 17 }, (_, i) => [`/c/${String(i + 1)}`, `Include /c/${String(i + 2)}`]),
    );
    const s = shape('Include /c/1', chain);
    expect(s.groupable ? '' : s.why).toContain('deeper than ssh reads');
  });

  it('other lines need only agree on their keyword', () => {
    const s = shape('Host *\n  SetEnv A=b\n  User root # the admin\n  SendEnv "LC_*"');
    expect(s.groupable).toBe(true);
    expect(shape('Us"er" root')).toMatchObject({ groupable: false });
  });

  it('Match all, final, canonical and localuser (negated too) keep grouping', () => {
    const s = shape('Match final all\nMatch !localuser x canonical\nMatch canonical\n  User u');
    expect(s.groupable).toBe(true);
    expect(hostGroup(s, 'web1')).toBe(hostGroup(s, 'db1'));
  });

  it('an Include followed where it stands, its Host lines counted', () => {
    const s = shape('Include /c/d/*.conf\nHost *\n  User u', {
      '/c/d/1.conf': 'Host web*\n  Port 2',
      '/c/d/2.conf': 'Host db1\n',
    });
    expect(s.groupable && [...s.files]).toEqual(['/c/ssh_config', '/c/d/1.conf', '/c/d/2.conf']);
    expect(
      groups('Include /c/d/*.conf', ['web1', 'web2', 'db1', 'db2'], {
        '/c/d/1.conf': 'Host web*\n  Port 2',
        '/c/d/2.conf': 'Host db1\n',
      }),
    ).toEqual(['10', '10', '01', '00']);
  });
});

describe('hostGroup', () => {
  it('the same Host lines, the same group; negations exclude', () => {
    expect(
      groups('Host web* !web2\n  User a\nHost *\n  Port 3', ['web1', 'web2', 'web10', 'db1']),
    ).toEqual(['11', '01', '11', '01']);
  });

  it('a host that may reach HostName, CanonicalizeHostname or a % token is alone; the others are not', () => {
    expect(groups('Host web*\n  HostName %h.x\nHost *\n  User u', ['web1', 'db1', 'db2'])).toEqual([
      'alone',
      '01',
      '01',
    ]);
    expect(groups('Host b\n  HostName 10.0.0.1', ['b', 'c'])).toEqual(['alone', '0']);
    expect(groups('Host b\n  CanonicalizeHostname yes', ['b', 'c'])).toEqual(['alone', '0']);
    expect(groups('Host b\n  CanonicalizeHostname no', ['b', 'c'])).toEqual(['1', '0']);
    expect(groups('Host b\n  ControlPath /t/%C', ['b', 'c'])).toEqual(['alone', '0']);
    expect(groups('Host b\n  RemoteCommand echo ${B}', ['b', 'c'])).toEqual(['alone', '0']);
  });

  it('a host that may reach CanonicalizePermittedCNAMEs (but `none`) is alone: ssh asks the DNS', () => {
    const cnames = 'Host b\n  CanonicalizePermittedCNAMEs *.a.example:*.b.example';
    expect(groups(cnames, ['b', 'c'])).toEqual(['alone', '0']);
    expect(groups('CanonicalizePermittedCNAMEs *:*\nHost b', ['b', 'c'])).toEqual([
      'alone',
      'alone',
    ]);
    expect(groups('Host b\n  CanonicalizePermittedCNAMEs none', ['b', 'c'])).toEqual(['1', '0']);
    // ssh reads `none` case sensitively, and alone
    expect(groups('Host b\n  CanonicalizePermittedCNAMEs None', ['b', 'c'])).toEqual([
      'alone',
      '0',
    ]);
  });

  it('a line before any Host line, or after a Match, may be reached by every host', () => {
    expect(groups('IdentityFile ~/.ssh/%h\nHost b', ['b', 'c'])).toEqual(['alone', 'alone']);
    expect(groups('Host b\nMatch all\n  HostName x', ['b', 'c'])).toEqual(['alone', 'alone']);
    // the top of an included file too, whatever Host line includes it
    expect(
      groups('Host b\n  Include /c/i.conf', ['b', 'c'], { '/c/i.conf': 'HostName x\n' }),
    ).toEqual(['alone', 'alone']);
  });

  it('a name that is not plain lower case is alone', () => {
    const s = shape('Host *\n  User u');
    expect(
      ['Web1', 'web1', 'fd00::1', '10.0.0.1', 'a_b-c', 'a%b', 'a b'].map((h) => hostGroup(s, h)),
    ).toEqual([undefined, '1', undefined, '1', '1', undefined, undefined]);
  });

  // ssh rewrites these to their standard form (inet_aton, inet_ntop) before it prints `hostname`
  // and matches `Host` lines again after `Match final`
  const rewritten = [
    '127.1',
    '1234',
    '010.0.0.1',
    '127.0.0.01',
    '00.1.2.3',
    '0x7f.1',
    '0X7F.0.0.1',
    '0x.1.2.3',
    '1.2.3.4.5',
    '2001:0db8::0001',
    '2001:db8::1',
    '::1',
    'fd00::5',
  ];
  const asWritten = [
    '127.0.0.1',
    '0.0.0.0',
    '10.0.0.5',
    '255.255.255.255',
    'web1.10',
    '1e5',
    '0xg',
  ];

  it('a numeric address not in its standard form, and any IPv6 address, is alone', () => {
    const s = shape('Host 127.0.0.1 2001:db8::1\n  User a\nMatch final');
    expect(rewritten.filter((h) => hostGroup(s, h.toLowerCase()) !== undefined)).toEqual([]);
    expect(rewritten.filter((h) => keptAsWritten(h))).toEqual([]);
    expect(asWritten.map((h) => hostGroup(s, h))).toEqual(['1', '0', '0', '0', '0', '0', '0']);
    expect(asWritten.every((h) => keptAsWritten(h))).toBe(true);
  });
});

describe('jumpsThrough', () => {
  const via = (...hops: string[]) => ({ proxyJump: hops }) as unknown as ResolvedSshConfig;

  it('a host that is any hop of its group’s ProxyJump, whatever the user and port', () => {
    expect(jumpsThrough(via('bastion'), 'bastion')).toBe(true);
    expect(jumpsThrough(via('jump@Bastion:2200'), 'bastion')).toBe(true);
    expect(jumpsThrough(via('ssh://j@bastion:22/', 'inner'), 'bastion')).toBe(true);
    expect(jumpsThrough(via('outer', 'bastion'), 'bastion')).toBe(true);
    expect(jumpsThrough(via('bastion'), 'web1')).toBe(false);
    expect(jumpsThrough(via('bastion.example'), 'bastion')).toBe(false);
    expect(jumpsThrough({ proxyJump: undefined } as unknown as ResolvedSshConfig, 'b')).toBe(false);
  });
});

describe('readTheSameFiles', () => {
  const s = shape('Include /c/d/*.conf', { '/c/d/1.conf': 'User u' });
  it('every file ssh names was read here; none named though files were read is no proof', () => {
    const said = (paths: string[]) =>
      ['OpenSSH_9.2p1', ...paths.map((p) => `debug1: Reading configuration data ${p}\r`)].join(
        '\n',
      );
    expect(readTheSameFiles(s, said(['/c/ssh_config', '/c/d/1.conf']), '/')).toBe(true);
    expect(readTheSameFiles(s, said(['ssh_config']), '/c')).toBe(true);
    expect(readTheSameFiles(s, said(['/c/ssh_config', '/etc/ssh/ssh_config']), '/')).toBe(false);
    expect(readTheSameFiles(s, said([]), '/')).toBe(false);
    expect(readTheSameFiles(shape('Match exec x'), said([]), '/')).toBe(false);
  });
});
