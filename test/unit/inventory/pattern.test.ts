import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/errors.ts';
import { parseInventory } from '../../../src/inventory/parse.ts';
import {
  limitHosts,
  orderPatterns,
  selectHosts,
  selectHostsDetailed,
  splitHostPattern,
} from '../../../src/inventory/pattern.ts';

const { inventory: inv } = parseInventory(
  'i.ini',
  [
    'solo',
    '[web]',
    'web[1:4]',
    '[db]',
    'db1',
    'web1',
    '[web1]',
    'api1',
    '[v6]',
    '2001:db8::1',
  ].join('\n'),
);

describe('splitHostPattern', () => {
  it('splits on commas, else on colons that are not part of an address or a range', () => {
    expect(splitHostPattern('a, b[1], c[2:3] ,d,')).toEqual(['a', 'b[1]', 'c[2:3]', 'd']);
    expect(splitHostPattern('web:&db:!web3')).toEqual(['web', '&db', '!web3']);
    expect(splitHostPattern('2001:db8::1')).toEqual(['2001:db8::1']);
    expect(splitHostPattern('web[0:2]:db')).toEqual(['web[0:2]', 'db']);
    expect(splitHostPattern('web db')).toEqual(['web', 'db']);
  });

  it('orders plain, then &, then ! terms; only &/! terms start from all', () => {
    expect(orderPatterns(['!c', '&b', 'a'])).toEqual(['a', '&b', '!c']);
    expect(orderPatterns(['!c'])).toEqual(['all', '!c']);
  });
});

describe('selectHosts', () => {
  it('unions in term order and applies & then ! regardless of position', () => {
    expect(selectHosts(inv, 'db:web')).toEqual(['db1', 'web1', 'web2', 'web3', 'web4']);
    expect(selectHosts(inv, '!web3:&web:web')).toEqual(['web1', 'web2', 'web4']);
  });

  it('prefers the host for a plain term but the group for &/! terms (Ansible quirk)', () => {
    expect(selectHosts(inv, 'web1')).toEqual(['web1']);
    expect(selectHosts(inv, 'web:!web1')).toEqual(['web1', 'web2', 'web3', 'web4']);
  });

  it('slices groups inclusively, and treats [:n] as a glob, as Ansible 2.14 does', () => {
    expect(selectHosts(inv, 'web[0:2]')).toEqual(['web1', 'web2', 'web3']);
    expect(selectHosts(inv, 'web[-1]')).toEqual(['web4']);
    expect(selectHosts(inv, 'web[1:]')).toEqual(['web2', 'web3', 'web4']);
    expect(selectHosts(inv, 'web[2:0]')).toEqual(['web3']);
    expect(selectHosts(inv, 'web[:3]')).toEqual(['web3']);
  });

  it('matches fnmatch globs and anchored ~regexes against groups and hosts', () => {
    expect(selectHosts(inv, 'web?')).toEqual(['api1', 'web1', 'web2', 'web3', 'web4']);
    expect(selectHosts(inv, '~(db|api)')).toEqual(['db1', 'web1', 'api1']);
    expect(selectHosts(inv, '~b1')).toEqual([]);
  });

  it('warns about unknown terms instead of failing', () => {
    expect(selectHostsDetailed(inv, 'nope,db')).toEqual({
      hosts: ['db1', 'web1'],
      warnings: ['Could not match supplied host pattern, ignoring: nope'],
      implicit: [],
    });
  });

  it('selects an implicit localhost unless told not to', () => {
    expect(selectHostsDetailed(inv, 'localhost')).toMatchObject({
      hosts: ['localhost'],
      implicit: ['localhost'],
    });
    expect(selectHostsDetailed(inv, 'localhost', { implicitLocalhost: false }).hosts).toEqual([]);
  });

  it('throws UsageError for a bad regex and an index past the end', () => {
    expect(() => selectHosts(inv, '~(')).toThrow(UsageError);
    expect(() => selectHosts(inv, 'web[7]')).toThrow(
      "No hosts matched the subscripted pattern 'web[7]'",
    );
  });

  it('reads @file terms as one pattern per line', () => {
    const files: Record<string, string> = { 'retry.txt': 'web3\n\ndb1\n  solo  \n' };
    const read = (p: string): string => {
      const t = files[p];
      if (t === undefined) throw new Error('ENOENT');
      return t;
    };
    expect(selectHosts(inv, '@retry.txt', read)).toEqual(['web3', 'db1', 'solo']);
    expect(limitHosts(inv, 'all', '@retry.txt', read)).toEqual(['solo', 'web3', 'db1']);
    expect(() => selectHosts(inv, '@missing.txt', read)).toThrow(UsageError);
    expect(() => selectHosts(inv, '@retry.txt')).toThrow(UsageError);
  });
});
