/**
 * known_hosts parsing and checking from data. The key blobs, fingerprints and hashed names below
 * were produced by OpenSSH 9.2 (`ssh-keygen -t …`, `ssh-keygen -l`, `ssh-keygen -H`); the
 * integration test redoes the comparison live.
 */
import { describe, expect, it } from 'vitest';
import { compileWildcard } from '../../../src/util/glob.ts';
import {
  SSH2_DEFAULT_SERVER_HOST_KEY,
  checkHostKey,
  describeHostKeyVerdict,
  entriesForName,
  preferredHostKeyAlgorithms,
} from '../../../src/transport/ssh/known-hosts-check.ts';
import { fingerprintSha256, keyTypeOf } from '../../../src/transport/ssh/known-hosts-keys.ts';
import {
  hashHostName,
  lookupName,
  matchHostPatterns,
} from '../../../src/transport/ssh/known-hosts-names.ts';
import type { HostKeyVerdict } from '../../../src/transport/ssh/known-hosts-types.ts';
import { formatKnownHostsLine } from '../../../src/transport/ssh/known-hosts-write.ts';
import { knownHostsDiagnostics, parseKnownHosts } from '../../../src/transport/ssh/known-hosts.ts';

const ED = 'AAAAC3NzaC1lZDI1NTE5AAAAILdipro5YHHbaiS2lZRC4m1mj8qUEEHdH1UGou4b1rOI';
const ED_FP = 'SHA256:7b0hcCeGq0HHNHOttFtHl6Ky9Zia/g0Vx7VOFRChCYM';
const EC =
  'AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBATryTKi2dzqfzlKxd0VSNHRDwOX7uyU/69nag3ZP+/c399Q4ZYMkNIA1cnv8IALvd+IwyRnOKZtudLb7RNTH0Q=';
const EC_FP = 'SHA256:1nIYAC9oUCGWQdXBN04nLCDikyPigWAUNoMufncFrpk';
const RSA =
  'AAAAB3NzaC1yc2EAAAADAQABAAABAQDRdZCBuNeiCWfgDLOclszdn3l8Gj48FGa+m/Dv6gDvWbbBcIhbqqkhkURHhz2P3OPzcUpQmc9w57z015klsjSSIKudyvtZwGv4n60wzTyX2bq5r7e3oppwCMW5LERAPxlFrScJpI8iqbVsVVi8XhS90iEkZhBN2iGdkw+5VjihMGX2sbHZWaOHjrrRcVOPg7+XFQdkg+XQ+unAe54iAL3xPFFRN/nG4bYvLwb8GVzwv6oDoHeh3ppRtnMx3ud4Y0xRwp55KVYvJMO5r1d2EPyhwnx1n7n+DMmm0gUhWdZVzyWAz7WdB2DPgh4pPxzRHraI7HhnXFtUnOuo8lGvSYDJ';
const RSA_FP = 'SHA256:SE9O1xGmR1+r9FJPllqUCiALTWi/5107ZGL1bK1TOTI';
/** `ssh-keygen -H` output for `alpha` and `[alpha]:2222`. */
const HASHED_ALPHA = '|1|89qsR36XaOO5iQ9IaMvalLksRXg=|qBOymng/NWDDi6LcxcUBG0qvEM4=';
const HASHED_ALPHA_2222 = '|1|YWXqLXrGvnK9Sa0BRjS0I+4YpwM=|hbJ1Rch8K7kF39wP9QN8PkeWLyU=';

const ed = Buffer.from(ED, 'base64');
const ec = Buffer.from(EC, 'base64');
const rsa = Buffer.from(RSA, 'base64');

/** A syntactically valid ed25519 blob with a different key. */
function otherEd25519(fill: number): Buffer {
  const type = Buffer.from('ssh-ed25519');
  const blob = Buffer.alloc(4 + type.length + 4 + 32, fill);
  blob.writeUInt32BE(type.length, 0);
  type.copy(blob, 4);
  blob.writeUInt32BE(32, 4 + type.length);
  return blob;
}

function parse(lines: string[]) {
  return parseKnownHosts(lines.join('\n') + '\n', 'kh');
}

function lineOf(v: HostKeyVerdict): number | undefined {
  return v.kind === 'known' ? v.match.line : undefined;
}

describe('keys', () => {
  it('prints fingerprints exactly as ssh-keygen -l', () => {
    expect(fingerprintSha256(ed)).toBe(ED_FP);
    expect(fingerprintSha256(ec)).toBe(EC_FP);
    expect(fingerprintSha256(rsa)).toBe(RSA_FP);
  });

  it('reads the key type from the blob', () => {
    expect(keyTypeOf(ed)).toBe('ssh-ed25519');
    expect(keyTypeOf(ec)).toBe('ecdsa-sha2-nistp256');
    expect(keyTypeOf(rsa)).toBe('ssh-rsa');
    expect(keyTypeOf(Buffer.from([0, 0, 0, 9, 65]))).toBeUndefined();
    expect(keyTypeOf(Buffer.alloc(0))).toBeUndefined();
  });
});

describe('host patterns (match_pattern_list)', () => {
  it.each([
    ['alpha', 'alpha', 'match'],
    ['alpha', 'ALPHA', 'match'],
    ['alphabet', 'alpha', 'none'],
    ['web1', 'web?', 'match'],
    ['web12', 'web?', 'none'],
    ['a.example.com', '*.example.com', 'match'],
    ['example.com', '*.example.com', 'none'],
    ['bad.example.com', '*.example.com,!bad.example.com', 'negated'],
    ['bad.example.com', '!bad.example.com,*.example.com', 'negated'],
    ['good.example.com', '*.example.com,!bad.example.com', 'match'],
    ['x', '!y', 'none'],
    ['[alpha]:2222', '[alpha]:2222', 'match'],
    ['[alpha]:2222', 'alpha', 'none'],
    ['[alpha]:2222', '*', 'match'],
    ['[alpha]:2222', '[alpha]:*', 'match'],
    ['[alpha]:22', '[alpha]:2?', 'match'],
    ['a.b', 'a?b', 'match'],
    ['a+b', 'a+b', 'match'],
    ['aab', 'a+b', 'none'],
    ['ab', 'a[b]', 'none'],
    ['a[b]', 'a[b]', 'match'],
  ] as const)('%s against %s: %s', (name, patterns, want) => {
    expect(matchHostPatterns(name, patterns)).toBe(want);
  });

  it('a pattern of many stars (a known_hosts line) costs at most (name+1)×(pattern+1) steps', () => {
    // as a regular expression, ^.*a.*a…b$ backtracked for seconds on this 30-character name
    const pattern = `${'*a'.repeat(12)}*b`;
    const name = 'a'.repeat(40);
    const { matched, steps } = compileWildcard(pattern).matchCounted(name);
    expect(matched).toBe(false);
    expect(steps).toBeLessThanOrEqual((name.length + 1) * (pattern.length + 1));
    expect(matchHostPatterns(name, pattern)).toBe('none');
    expect(matchHostPatterns(`${name}b`, pattern)).toBe('match');
  });

  it('names hosts as ssh does: bare on port 22, [host]:port otherwise, the alias verbatim', () => {
    expect(lookupName({ host: 'Alpha', port: 22 })).toBe('alpha');
    expect(lookupName({ host: 'alpha', port: 2222 })).toBe('[alpha]:2222');
    expect(lookupName({ host: '::1', port: 2222 })).toBe('[::1]:2222');
    expect(lookupName({ host: 'alpha', port: 2222, hostKeyAlias: 'Box' })).toBe('box');
  });

  it('hashes names as ssh-keygen -H does', () => {
    const salt = (h: string) => Buffer.from(h.split('|')[2] ?? '', 'base64');
    expect(hashHostName('alpha', salt(HASHED_ALPHA))).toBe(HASHED_ALPHA);
    expect(hashHostName('[alpha]:2222', salt(HASHED_ALPHA_2222))).toBe(HASHED_ALPHA_2222);
    expect(hashHostName('alpha')).toMatch(/^\|1\|[A-Za-z0-9+/]{27}=\|[A-Za-z0-9+/]{27}=$/);
    expect(hashHostName('alpha')).not.toBe(hashHostName('alpha'));
  });
});

describe('parseKnownHosts', () => {
  it('reads markers, names, key types and comments, and skips comments and blanks', () => {
    const { entries, problems } = parse([
      '# comment',
      '',
      '   ',
      `alpha,beta ssh-ed25519 ${ED} my  comment`,
      `@revoked * ecdsa-sha2-nistp256 ${EC}`,
      `  @cert-authority\t*.ca.test ssh-rsa ${RSA}`,
      `${HASHED_ALPHA} ssh-ed25519 ${ED}`,
      `alpha rsa-sha2-512 ${RSA}\r`,
    ]);
    expect(problems).toEqual([]);
    expect(entries.map((e) => [e.line, e.marker, e.names.kind, e.keyType, e.comment])).toEqual([
      [4, undefined, 'patterns', 'ssh-ed25519', 'my  comment'],
      [5, 'revoked', 'patterns', 'ecdsa-sha2-nistp256', undefined],
      [6, 'cert-authority', 'patterns', 'ssh-rsa', undefined],
      [7, undefined, 'hashed', 'ssh-ed25519', undefined],
      [8, undefined, 'patterns', 'rsa-sha2-512', undefined],
    ]);
    expect(entries[4]?.blobType).toBe('ssh-rsa');
    expect(entries[0]?.blob.equals(ed)).toBe(true);
  });

  it('skips and reports malformed lines with file, line and reason, as OpenSSH ignores them', () => {
    const { entries, problems } = parse([
      'garbage line',
      `@bogus alpha ssh-ed25519 ${ED}`,
      `@revoked @revoked alpha ssh-ed25519 ${ED}`,
      'alpha ssh-ed25519 AAAA!!bad',
      `alpha ssh-rsa ${ED}`,
      `alpha RSA ${RSA}`,
      `alpha ssh-ed25519 ${ED.slice(0, -1)}`,
      `alpha ecdsa-sha2-nistp256 ${EC.replace(/=$/, '')}`,
      `alpha ecdsa-sha2-nistp384 ${EC}`,
      `alpha ssh-ed25519 ${ED}AAAA`,
      'alpha ssh-ed25519',
      'alpha 2048 35 12345',
      `|1|bad|hash ssh-ed25519 ${ED}`,
      `|2|${HASHED_ALPHA.slice(3)} ssh-ed25519 ${ED}`,
      `alpha ssh-foo ${Buffer.from('\0\0\0\x07ssh-foo').toString('base64')}`,
      `alpha ssh-ed25519 ${ED}`,
    ]);
    expect(entries.map((e) => e.line)).toEqual([16]);
    expect(problems.map((p) => p.line)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    ]);
    expect(problems[0]).toEqual({
      file: 'kh',
      line: 1,
      reason: 'no key after the key type "line"',
      text: 'garbage line',
    });
    expect(problems[1]?.reason).toMatch(/unknown marker "@bogus"/);
    expect(problems[2]?.reason).toBe('more than one marker');
    expect(problems[4]?.reason).toBe('key type "ssh-rsa" but the key is ssh-ed25519');
    expect(problems[8]?.reason).toBe(
      'key type "ecdsa-sha2-nistp384" but the key is ecdsa-sha2-nistp256',
    );
    expect(problems[11]?.reason).toMatch(/RSA1/);
    expect(problems[14]?.reason).toMatch(/unsupported key type "ssh-foo"/);
    expect(knownHostsDiagnostics(problems.slice(0, 1))).toEqual([
      {
        severity: 'warning',
        code: 'known-hosts/invalid-line',
        message: 'no key after the key type "line"; the line is ignored',
        file: 'kh',
        pos: { line: 1, col: 1 },
        lineText: 'garbage line',
      },
    ]);
  });

  it('never throws, whatever the input', () => {
    for (const text of ['\0\0\0', '@', '@revoked', '|', '|1|', '| x y', '\n\n@ a b c', 'a b ===='])
      expect(() => parseKnownHosts(text, 'f')).not.toThrow();
  });
});

describe('checkHostKey', () => {
  const { entries } = parse([
    `alpha,beta.example.com ssh-ed25519 ${ED}`, // 1
    `alpha ecdsa-sha2-nistp256 ${EC}`, // 2
    `[alpha]:2222 ssh-rsa ${RSA}`, // 3
    `*.example.com,!bad.example.com ssh-rsa ${RSA}`, // 4
    `@cert-authority *.ca.test ssh-ed25519 ${ED}`, // 5
    `${HASHED_ALPHA_2222} ssh-ed25519 ${ED}`, // 6
    `gamma ssh-ed25519 ${ED}`, // 7
    `@cert-authority gamma ssh-rsa ${RSA}`, // 8
    `box ecdsa-sha2-nistp256 ${EC}`, // 9
  ]);

  it('knows a key on a matching line, whichever of several keys and types it is', () => {
    const v1 = checkHostKey(entries, { host: 'alpha', port: 22 }, ed);
    expect(v1).toMatchObject({ kind: 'known', name: 'alpha', keyType: 'ssh-ed25519' });
    expect(lineOf(v1)).toBe(1);
    expect(lineOf(checkHostKey(entries, { host: 'ALPHA', port: 22 }, ec))).toBe(2);
    expect(lineOf(checkHostKey(entries, { host: 'www.example.com', port: 22 }, rsa))).toBe(4);
  });

  it('reports changed with every expected key when no line for the host holds the key', () => {
    const v = checkHostKey(entries, { host: 'alpha', port: 22 }, rsa);
    expect(v.kind).toBe('changed');
    if (v.kind !== 'changed') return;
    expect(v.fingerprint).toBe(RSA_FP);
    expect(v.expected.map((e) => [e.keyType, e.fingerprint, e.file, e.line])).toEqual([
      ['ssh-ed25519', ED_FP, 'kh', 1],
      ['ecdsa-sha2-nistp256', EC_FP, 'kh', 2],
    ]);
    expect(describeHostKeyVerdict(v)).toContain(`ecdsa-sha2-nistp256 ${EC_FP} (kh:2)`);
    expect(checkHostKey(entries, { host: 'alpha', port: 22 }, otherEd25519(7)).kind).toBe(
      'changed',
    );
  });

  it('matches [host]:port lines only on that port, and hashed names with their port', () => {
    expect(lineOf(checkHostKey(entries, { host: 'alpha', port: 2222 }, rsa))).toBe(3);
    expect(lineOf(checkHostKey(entries, { host: 'alpha', port: 2222 }, ed))).toBe(6);
    // port 2222 has lines, so the ecdsa key of bare alpha does not count there
    expect(checkHostKey(entries, { host: 'alpha', port: 2222 }, ec).kind).toBe('changed');
    expect(checkHostKey(entries, { host: 'alpha', port: 2223 }, rsa).kind).toBe('unknown');
  });

  it('falls back to the bare name when nothing is recorded for [host]:port, as ssh does', () => {
    const v = checkHostKey(entries, { host: 'alpha', port: 2200 }, ec);
    expect(v).toMatchObject({ kind: 'known', withoutPort: true, match: { line: 2 } });
    expect(checkHostKey(entries, { host: 'alpha', port: 2200 }, rsa).kind).toBe('unknown');
    // not with a HostKeyAlias
    expect(
      checkHostKey(entries, { host: 'alpha', port: 2200, hostKeyAlias: 'nobody' }, ec).kind,
    ).toBe('unknown');
  });

  it('honours negation: a negated match rejects the line', () => {
    expect(checkHostKey(entries, { host: 'bad.example.com', port: 22 }, rsa).kind).toBe('unknown');
  });

  it('refuses a revoked key for every host, even one where it is otherwise known', () => {
    const withRevoked = [
      ...entries,
      ...parse([`@revoked nothere ecdsa-sha2-nistp256 ${EC}`]).entries,
    ];
    const v = checkHostKey(withRevoked, { host: 'alpha', port: 22 }, ec);
    expect(v).toMatchObject({ kind: 'revoked', entry: { line: 1, fingerprint: EC_FP } });
    expect(checkHostKey(withRevoked, { host: 'unrelated', port: 22 }, ec).kind).toBe('revoked');
    expect(checkHostKey(withRevoked, { host: 'alpha', port: 22 }, ed).kind).toBe('known');
  });

  it('gives cert-authority when only @cert-authority lines name the host', () => {
    const v = checkHostKey(entries, { host: 'h.ca.test', port: 22 }, rsa);
    expect(v.kind).toBe('cert-authority');
    if (v.kind !== 'cert-authority') return;
    expect(v.entries.map((e) => e.line)).toEqual([5]);
    expect(describeHostKeyVerdict(v)).toMatch(/cannot verify host certificates/);
    // with a plain line too, the CA line is ignored: the plain key decides
    expect(checkHostKey(entries, { host: 'gamma', port: 22 }, rsa).kind).toBe('changed');
    expect(lineOf(checkHostKey(entries, { host: 'gamma', port: 22 }, ed))).toBe(7);
  });

  it('gives unknown when no line names the host', () => {
    const v = checkHostKey(entries, { host: 'delta', port: 22 }, ed);
    expect(v).toEqual({
      kind: 'unknown',
      name: 'delta',
      keyType: 'ssh-ed25519',
      fingerprint: ED_FP,
    });
  });

  it('looks up the HostKeyAlias instead of the host name and port', () => {
    expect(
      lineOf(checkHostKey(entries, { host: 'alpha', port: 2222, hostKeyAlias: 'BOX' }, ec)),
    ).toBe(9);
    expect(checkHostKey(entries, { host: 'box', port: 22, hostKeyAlias: 'alpha' }, rsa).kind).toBe(
      'changed',
    );
  });
});

describe('formatKnownHostsLine', () => {
  it('writes the lowercased name, [host]:port off port 22, then type and key', () => {
    expect(formatKnownHostsLine({ host: 'Alpha', port: 22, blob: ed, hashed: false })).toBe(
      `alpha ssh-ed25519 ${ED}`,
    );
    expect(formatKnownHostsLine({ host: 'alpha', port: 2222, blob: rsa, hashed: false })).toBe(
      `[alpha]:2222 ssh-rsa ${RSA}`,
    );
    expect(
      formatKnownHostsLine({
        host: 'alpha',
        port: 2222,
        hostKeyAlias: 'box',
        blob: ec,
        hashed: false,
      }),
    ).toBe(`box ecdsa-sha2-nistp256 ${EC}`);
  });

  it('hashes the name like ssh-keygen -H, and the result parses and matches', () => {
    const salt = Buffer.from(HASHED_ALPHA_2222.split('|')[2] ?? '', 'base64');
    const line = formatKnownHostsLine({ host: 'alpha', port: 2222, blob: ed, hashed: true, salt });
    expect(line).toBe(`${HASHED_ALPHA_2222} ssh-ed25519 ${ED}`);
    const random = formatKnownHostsLine({ host: 'zeta', port: 22, blob: ec, hashed: true });
    const { entries, problems } = parseKnownHosts(random, 'new');
    expect(problems).toEqual([]);
    expect(checkHostKey(entries, { host: 'zeta', port: 22 }, ec).kind).toBe('known');
    expect(checkHostKey(entries, { host: 'zeta', port: 23 }, ec)).toMatchObject({
      kind: 'known',
      withoutPort: true,
    });
    expect(checkHostKey(entries, { host: 'zeta2', port: 22 }, ec).kind).toBe('unknown');
  });

  it('refuses what cannot be a line', () => {
    expect(() =>
      formatKnownHostsLine({ host: 'a b', port: 22, blob: ed, hashed: false }),
    ).toThrow();
    // a name that is not a host name: shell syntax, a pattern, an authorized_keys option
    for (const hostKeyAlias of [
      "x;s=$'\\x20';touch${s}/tmp/pwned;#",
      '*',
      'web*',
      'restrict',
      '@revoked',
    ])
      for (const hashed of [false, true])
        expect(() =>
          formatKnownHostsLine({ host: 'a', port: 22, hostKeyAlias, blob: ed, hashed }),
        ).toThrow(/^cannot record host name .* in known_hosts: /);
    expect(() =>
      formatKnownHostsLine({ host: 'a;id', port: 2222, blob: ed, hashed: false }),
    ).toThrow('cannot record host name "[a;id]:2222" in known_hosts: it is not a host name');
    expect(() =>
      formatKnownHostsLine({ host: 'a', port: 22, blob: Buffer.alloc(2), hashed: false }),
    ).toThrow();
  });
});

describe('preferredHostKeyAlgorithms', () => {
  const { entries } = parse([
    `ec-only ecdsa-sha2-nistp256 ${EC}`,
    `rsa-only ssh-rsa ${RSA}`,
    `both ssh-rsa ${RSA}`,
    `both ecdsa-sha2-nistp256 ${EC}`,
    `@revoked ec-only ssh-ed25519 ${ED}`,
    `@cert-authority ca-only ssh-ed25519 ${ED}`,
    `[ported]:2222 ssh-rsa ${RSA}`,
  ]);

  it('puts the known types first, keeping ssh2 order within each part', () => {
    expect(preferredHostKeyAlgorithms(entries, 'ec-only', 22)).toEqual([
      'ecdsa-sha2-nistp256',
      'ssh-ed25519',
      'ecdsa-sha2-nistp384',
      'ecdsa-sha2-nistp521',
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa',
    ]);
    expect(preferredHostKeyAlgorithms(entries, 'rsa-only', 22).slice(0, 3)).toEqual([
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa',
    ]);
    expect(preferredHostKeyAlgorithms(entries, 'both', 22).slice(0, 4)).toEqual([
      'ecdsa-sha2-nistp256',
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa',
    ]);
  });

  it('leaves the order alone for unknown hosts, CA-only and revoked keys', () => {
    expect(preferredHostKeyAlgorithms(entries, 'nobody', 22)).toEqual(SSH2_DEFAULT_SERVER_HOST_KEY);
    expect(preferredHostKeyAlgorithms(entries, 'ca-only', 22)).toEqual(
      SSH2_DEFAULT_SERVER_HOST_KEY,
    );
    expect(preferredHostKeyAlgorithms(entries, 'ported', 22)).toEqual(SSH2_DEFAULT_SERVER_HOST_KEY);
  });

  it('uses the port, the alias and a given list', () => {
    expect(preferredHostKeyAlgorithms(entries, 'ported', 2222)[0]).toBe('rsa-sha2-512');
    expect(
      preferredHostKeyAlgorithms(entries, 'x', 22, {
        hostKeyAlias: 'ec-only',
        algorithms: ['ssh-ed25519', 'ecdsa-sha2-nistp256'],
      }),
    ).toEqual(['ecdsa-sha2-nistp256', 'ssh-ed25519']);
  });
});

it('entriesForName returns lines of every kind for a name', () => {
  const { entries } = parse([
    `@revoked * ssh-ed25519 ${ED}`,
    `a ssh-ed25519 ${ED}`,
    `@cert-authority a ssh-rsa ${RSA}`,
    `b ssh-rsa ${RSA}`,
  ]);
  expect(entriesForName(entries, 'a').map((e) => e.line)).toEqual([1, 2, 3]);
});

describe('entriesForName (indexed)', () => {
  it('finds what matching every line would, in file order, for literal, wildcard, negated and hashed lines', () => {
    const { entries } = parse([
      `alpha,Beta ssh-ed25519 ${ED}`,
      `*.example.com,!bad.example.com ssh-ed25519 ${ED}`,
      `${HASHED_ALPHA} ecdsa-sha2-nistp256 ${EC}`,
      `[alpha]:2222 ssh-rsa ${RSA}`,
      `gamma ssh-ed25519 ${ED}`,
      `al?ha ssh-rsa ${RSA}`,
      `beta,beta ssh-rsa ${RSA}`,
      `@revoked alpha ssh-rsa ${RSA}`,
      `${HASHED_ALPHA_2222} ssh-ed25519 ${ED}`,
    ]);
    const names = ['alpha', 'beta', 'gamma', 'x.example.com', 'bad.example.com', '[alpha]:2222'];
    for (const name of names) {
      const expected = entries.filter((e) =>
        e.names.kind === 'hashed'
          ? hashHostName(name, e.names.salt) === e.names.text
          : matchHostPatterns(name, e.names.text) === 'match',
      );
      expect(
        entriesForName(entries, name).map((e) => e.line),
        name,
      ).toEqual(expected.map((e) => e.line));
    }
    expect(entriesForName(entries, 'alpha').map((e) => e.line)).toEqual([1, 3, 6, 8]);
    expect(entriesForName(entries, 'beta').map((e) => e.line)).toEqual([1, 7]);
    expect(entriesForName(entries, '[alpha]:2222').map((e) => e.line)).toEqual([4, 9]);
  });
});
