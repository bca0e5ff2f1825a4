/**
 * What a connection value may be (issue 14 §6, docs/config.md "Inventory variables"): host
 * addresses, login names and Ansible booleans, the forms people write accepted, anything a
 * shell or ssh would read as more than a value refused.
 */
import { describe, expect, it } from 'vitest';
import {
  ansibleBoolean,
  hostAddressProblem,
  loginNameProblem,
} from '../../../src/desired/connection-values.ts';

describe('hostAddressProblem', () => {
  it.each([
    'web01',
    'web01.example.com',
    'web01.example.com.',
    'db_primary.internal',
    'xn--bcher-kva.example',
    '10.0.0.1',
    '::1',
    '2001:db8::7',
    'fe80::1%eth0',
    '::ffff:10.0.0.1',
    '1::',
  ])('accepts %s', (v) => {
    expect(hostAddressProblem(v)).toBeUndefined();
  });

  it.each([
    ['-oProxyCommand=id', "it starts with '-'"],
    ['$(id)', "it contains '$'"],
    ['web01;id', "it contains ';'"],
    ['web 01', 'it contains a space'],
    ['web01\n', 'it contains whitespace (U+000A)'],
    ['web\u000701', 'it contains a control character (U+0007)'],
    ['`id`', "it contains '`'"],
    ['[::1]', 'write an IPv6 address without brackets'],
    ['web01:2222', 'a port does not go here: set ansible_port'],
    ['2001:db8:::7', 'it is not a valid IPv6 address'],
    ['fe80::1%eth0;x', "it contains ';'"],
    ['300.1.1.1', 'it is not a valid IPv4 address'],
    [
      'web01..example',
      "each dot-separated part must be 1 to 63 letters, digits, '_' or '-', not starting with '-'",
    ],
    [
      'web01.-x',
      "each dot-separated part must be 1 to 63 letters, digits, '_' or '-', not starting with '-'",
    ],
    [
      'a'.repeat(64) + '.example',
      "each dot-separated part must be 1 to 63 letters, digits, '_' or '-', not starting with '-'",
    ],
    ['bücher.example', "it contains 'ü'"],
    ['', 'it is empty'],
  ])('refuses %j: %s', (v, why) => {
    expect(hostAddressProblem(v)).toBe(why);
  });
});

describe('loginNameProblem', () => {
  it.each([
    'deploy',
    'first.last',
    'svc_deploy',
    'svc-deploy',
    'user@EXAMPLE.COM',
    'Admin',
    '1000',
  ])('accepts %s', (v) => {
    expect(loginNameProblem(v)).toBeUndefined();
  });

  it.each([
    ['$(id)', "it contains '$'"],
    ['-oProxyCommand=id', "it starts with '-'"],
    ['root;id', "it contains ';'"],
    ['a b', 'it contains a space'],
    ['a\tb', 'it contains whitespace (U+0009)'],
    ["o'brien", "it contains '''"],
    ['DOMAIN\\user', "it contains '\\'"],
    ['machine$', "it contains '$'"],
    ['.hidden', "it starts with '.'"],
    ['@realm', "it starts with '@'"],
    ['a'.repeat(257), 'it is longer than 256 characters'],
  ])('refuses %j: %s', (v, why) => {
    expect(loginNameProblem(v)).toBe(why);
  });
});

describe('ansibleBoolean (strict, as Ansible reads become)', () => {
  it('reads the words Ansible reads', () => {
    expect(['yes', 'On', ' TRUE ', 'y', 't', '1', 1, true].map(ansibleBoolean)).toEqual(
      Array(8).fill(true),
    );
    expect(['no', 'Off', 'false', 'n', 'f', '0', 0, false].map(ansibleBoolean)).toEqual(
      Array(8).fill(false),
    );
  });

  it('refuses anything else, the empty string and other numbers included', () => {
    expect(['maybe', '', 'sudo', 2, -1, null, ['yes']].map(ansibleBoolean)).toEqual(
      Array(7).fill(undefined),
    );
  });
});
