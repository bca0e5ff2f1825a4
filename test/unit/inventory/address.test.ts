import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  HostRangeError,
  expandHostRange,
  hostnamePattern,
  ipv6Pattern,
  ipv4Pattern,
  isHostname,
  mayBeIpv4,
  parseAddress,
} from '../../../src/inventory/address.ts';

describe('expandHostRange', () => {
  it('expands a zero-padded numeric range inclusively, keeping the width', () => {
    const hosts = expandHostRange('web[01:50].example.com');
    expect(hosts).toHaveLength(50);
    expect(hosts[0]).toBe('web01.example.com');
    expect(hosts[8]).toBe('web09.example.com');
    expect(hosts[49]).toBe('web50.example.com');
  });

  it('honours a stride and an omitted start', () => {
    expect(expandHostRange('b[1:9:2]')).toEqual(['b1', 'b3', 'b5', 'b7', 'b9']);
    expect(expandHostRange('n[:2]')).toEqual(['n0', 'n1', 'n2']);
  });

  it('expands letters, and several ranges left to right', () => {
    expect(expandHostRange('db-[a:c]')).toEqual(['db-a', 'db-b', 'db-c']);
    expect(expandHostRange('c[1:2]-r[a:b]')).toEqual(['c1-ra', 'c1-rb', 'c2-ra', 'c2-rb']);
  });

  it('gives nothing for a reversed numeric range, as Python range() does', () => {
    expect(expandHostRange('w[5:3]')).toEqual([]);
  });

  it.each([
    ['w[01:3]', 'host range must specify equal-length begin and end formats'],
    ['w[c:a]', 'host range must have begin <= end'],
    ['w[1:2:3:4]', 'host range must be begin:end or begin:end:step'],
    ['w[1:]', 'host range must specify end value'],
    ['w[1:3:0]', 'range() arg 3 must not be zero'],
  ])('rejects %s with Ansible’s message', (name, message) => {
    expect(() => expandHostRange(name)).toThrow(HostRangeError);
    expect(() => expandHostRange(name)).toThrow(message);
  });
});

describe('parseAddress', () => {
  it('splits host:port but keeps bare IPv6 addresses whole', () => {
    expect(parseAddress('web1:2222')).toEqual({ host: 'web1', port: 2222 });
    expect(parseAddress('2001:db8::1')).toEqual({ host: '2001:db8::1', port: undefined });
    expect(parseAddress('[2001:db8::1]:22')).toEqual({ host: '2001:db8::1', port: 22 });
    expect(parseAddress('10.0.0.[1:4]:2022')).toEqual({ host: '10.0.0.[1:4]', port: 2022 });
  });

  it('refuses what is not a host identifier, and ranges when asked to', () => {
    expect(parseAddress('web_')).toBeUndefined();
    expect(parseAddress('a b')).toBeUndefined();
    expect(parseAddress('web[1:3]', false)).toBeUndefined();
  });
});

describe('the host name check', () => {
  // names made of what the patterns treat specially, ASCII and not
  const ascii = Array.from('azAZ09_-.[]:x');
  const chars = [...ascii, ' ', '~', 'é', 'Ω', 'ſ', '\u212a', '\u0301', '٣', '\u203f', '\t'];
  const name = (alphabet: string[]): fc.Arbitrary<string> =>
    fc.array(fc.constantFrom(...alphabet), { maxLength: 14 }).map((a) => a.join(''));

  it('answers as the Unicode pattern for every name, through the ASCII one where it can', () => {
    fc.assert(
      fc.property(name(chars), (s) => {
        expect(isHostname(s)).toBe(hostnamePattern().test(s));
      }),
      { numRuns: 5000 },
    );
    for (const s of [
      'web01.example.com',
      'db-[a:c].x',
      'Web_1',
      'wébserver',
      'ſerver',
      'a\u0301',
    ]) {
      expect(isHostname(s)).toBe(hostnamePattern().test(s));
    }
    expect(isHostname('wébserver.example')).toBe(true);
    expect(isHostname('web_')).toBe(false);
    expect(isHostname('-web')).toBe(false);
  });

  it('finds no IPv6 address without a colon, no IPv4 one not starting with a digit or [', () => {
    fc.assert(
      fc.property(name(Array.from('0123456789abcdefABCDEF.[]:')), (s) => {
        if (ipv6Pattern.test(s)) expect(s).toContain(':');
        if (ipv4Pattern.test(s)) expect(mayBeIpv4(s)).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('expandHostRange limits', () => {
  it('refuses a range that would expand to an absurd number of hosts', () => {
    expect(() => expandHostRange('h[1:1000000000]')).toThrow('more than 100000 hosts');
    expect(() => expandHostRange('h[1:1000]-[1:1000]')).toThrow('more than 100000 hosts');
  });
});
