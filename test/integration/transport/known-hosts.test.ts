/**
 * known_hosts measured against OpenSSH itself: keys made by `ssh-keygen -t`, fingerprints from
 * `ssh-keygen -l`, the lines OpenSSH matches for a name from `ssh-keygen -l -F` (which parses the
 * keys, as ssh does, so malformed lines drop out), hashing from `ssh-keygen -H`, and, where sshd
 * can run (root), the verdicts from a real `ssh -o StrictHostKeyChecking=yes`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.ts';
import { freePort, waitForPort } from '../../local-ports.ts';
import {
  appendKnownHostsLine,
  loadKnownHostsFiles,
} from '../../../src/transport/ssh/known-hosts-file.ts';
import { checkHostKey, entriesForName } from '../../../src/transport/ssh/known-hosts-check.ts';
import { fingerprintSha256, keyTypeOf } from '../../../src/transport/ssh/known-hosts-keys.ts';
import { hashHostName } from '../../../src/transport/ssh/known-hosts-names.ts';
import type {
  HostKeyTarget,
  HostKeyVerdict,
  KnownHostsEntry,
} from '../../../src/transport/ssh/known-hosts-types.ts';
import { formatKnownHostsLine } from '../../../src/transport/ssh/known-hosts-write.ts';
import { parseKnownHosts } from '../../../src/transport/ssh/known-hosts.ts';

const haveKeygen = spawnSync('ssh-keygen', ['-?']).error === undefined;
const dir = mkdtempSync(join(tmpdir(), 'kpfleet-kh-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Key {
  file: string;
  type: string;
  base64: string;
  blob: Buffer;
}

function keygen(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('ssh-keygen', args, { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function makeKey(name: string, args: string[]): Key {
  const file = join(dir, name);
  const r = keygen(['-q', '-N', '', '-C', name, '-f', file, ...args]);
  if (r.status !== 0) throw new Error(`ssh-keygen ${args.join(' ')}: ${r.stderr}`);
  const [type = '', base64 = ''] = readFileSync(`${file}.pub`, 'utf8').split(' ');
  return { file, type, base64, blob: Buffer.from(base64, 'base64') };
}

interface Found {
  line: number;
  marker: string;
  fingerprint: string;
}

/** `ssh-keygen -l -F name -f file`: the lines OpenSSH finds for the name, with fingerprints. */
function openSshFind(file: string, name: string): Found[] {
  const r = keygen(['-l', '-F', name, '-f', file]);
  const out: Found[] = [];
  const lines = r.stdout.split('\n');
  lines.forEach((l, i) => {
    const m = /^# Host .* found: line (\d+) ?(\S*)$/.exec(l);
    if (!m) return;
    const fingerprint = /(SHA256:\S+)/.exec(lines[i + 1] ?? '')?.[1] ?? '';
    out.push({ line: Number(m[1]), marker: m[2] ?? '', fingerprint });
  });
  return out;
}

function ours(entries: readonly KnownHostsEntry[], name: string): Found[] {
  return entriesForName(entries, name.toLowerCase()).map((e) => ({
    line: e.line,
    marker: e.marker === 'revoked' ? 'REVOKED' : e.marker === 'cert-authority' ? 'CA' : '',
    fingerprint: fingerprintSha256(e.blob),
  }));
}

let ed: Key, ed2: Key, ec256: Key, ec384: Key, ec521: Key, rsa: Key;

describe.skipIf(!haveKeygen)('known_hosts against OpenSSH', () => {
  beforeAll(() => {
    ed = makeKey('ed', ['-t', 'ed25519']);
    ed2 = makeKey('ed2', ['-t', 'ed25519']);
    ec256 = makeKey('ec256', ['-t', 'ecdsa', '-b', '256']);
    ec384 = makeKey('ec384', ['-t', 'ecdsa', '-b', '384']);
    ec521 = makeKey('ec521', ['-t', 'ecdsa', '-b', '521']);
    rsa = makeKey('rsa', ['-t', 'rsa', '-b', '2048']);
  });

  it('computes fingerprints and key types exactly as ssh-keygen -l', () => {
    for (const k of [ed, ed2, ec256, ec384, ec521, rsa]) {
      const r = keygen(['-l', '-E', 'sha256', '-f', `${k.file}.pub`]);
      expect(r.status).toBe(0);
      expect(r.stdout.split(' ')[1]).toBe(fingerprintSha256(k.blob));
      expect(keyTypeOf(k.blob)).toBe(k.type);
    }
  });

  describe('which lines match a name (ssh-keygen -l -F)', () => {
    let file: string;
    let entries: KnownHostsEntry[];
    let problemLines: number[];
    beforeAll(() => {
      file = join(dir, 'corpus');
      const l = (k: Key) => `${k.type} ${k.base64}`;
      writeFileSync(
        file,
        [
          '# a comment', // 1
          '', // 2
          `alpha,Beta.example.com ${l(ed)} first`, // 3
          `alpha ${l(ec256)}`, // 4
          `[alpha]:2222 ${l(rsa)}`, // 5
          `*.example.com,!bad.example.com ${l(ec384)}`, // 6
          `@revoked * ${l(ed2)}`, // 7
          `@cert-authority *.ca.test ${l(ed)}`, // 8
          'garbage line', // 9
          `@bogus alpha ${l(ed)}`, // 10
          `web? ${l(ec521)}`, // 11
          `alpha ssh-rsa ${ed.base64}`, // 12: type mismatch
          `alpha ${ed.type} ${ed.base64.slice(0, -2)}`, // 13: truncated base64
          `alpha rsa-sha2-512 ${rsa.base64}`, // 14: signature name for an RSA key
          `alpha ecdsa-sha2-nistp384 ${ec256.base64}`, // 15: curve mismatch
          `  alpha\t${l(ed2)}\t# trailing`, // 16
          `[::1]:2222,10.0.0.5 ${l(ed)}`, // 17
          `[web*]:22?? ${l(rsa)}`, // 18
          `alpha ${l(ed)}\r`, // 19 CRLF
          `alpha ${ed.type}`, // 20 no key
          `alpha,,gamma ${l(ec256)}`, // 21
        ].join('\n') + '\n',
      );
      const parsed = loadKnownHostsFiles([file]);
      entries = parsed.entries;
      problemLines = parsed.problems.map((p) => p.line);
    });

    it('reports the lines OpenSSH ignores as malformed', () => {
      expect(problemLines).toEqual([9, 10, 12, 13, 15, 20]);
    });

    it.each([
      'alpha',
      'Alpha',
      'beta.example.com',
      'bad.example.com',
      'good.example.com',
      'example.com',
      '[alpha]:2222',
      '[alpha]:2223',
      'web1',
      'web12',
      '[web1]:2200',
      '[web1]:22',
      'x.ca.test',
      '[::1]:2222',
      '::1',
      '10.0.0.5',
      'gamma',
      'nothing',
    ])('%s', (name) => {
      const theirs = openSshFind(file, name);
      expect(ours(entries, name)).toEqual(theirs);
      if (name === 'alpha') expect(theirs.length).toBeGreaterThanOrEqual(6);
    });
  });

  describe('hashed names', () => {
    it('matches what ssh-keygen -H hashed, name by name, ports included', () => {
      const file = join(dir, 'to-hash');
      writeFileSync(
        file,
        [
          `alpha,beta ${ed.type} ${ed.base64}`,
          `[alpha]:2222 ${rsa.type} ${rsa.base64}`,
          `@revoked gamma ${ed2.type} ${ed2.base64}`,
          `*.wild ${ec256.type} ${ec256.base64}`,
          `10.1.2.3 ${ec384.type} ${ec384.base64}`,
        ].join('\n') + '\n',
      );
      const r = keygen(['-H', '-f', file]);
      expect(r.status).toBe(0);
      const text = readFileSync(file, 'utf8');
      // one line per name; marker and wildcard lines stay as they were
      expect(text.split('\n').filter((l) => l.startsWith('|1|'))).toHaveLength(4);
      expect(text).toContain(`@revoked gamma ${ed2.type}`);
      const { entries, problems } = parseKnownHosts(text, file);
      expect(problems).toEqual([]);
      for (const name of [
        'alpha',
        'beta',
        '[alpha]:2222',
        '[alpha]:2223',
        'gamma',
        'x.wild',
        '10.1.2.3',
        'delta',
      ]) {
        expect(ours(entries, name), name).toEqual(openSshFind(file, name));
      }
      expect(ours(entries, '[alpha]:2222')).toHaveLength(1);
    });

    it('reproduces the hash ssh-keygen -H wrote from its salt', () => {
      const file = join(dir, 'one-hash');
      writeFileSync(file, `[Host.Example]:2200 ${ed.type} ${ed.base64}\n`);
      expect(keygen(['-H', '-f', file]).status).toBe(0);
      const field = readFileSync(file, 'utf8').split(' ')[0] ?? '';
      const salt = Buffer.from(field.split('|')[2] ?? '', 'base64');
      expect(hashHostName('[host.example]:2200', salt)).toBe(field);
    });

    it('writes plain and hashed lines that ssh-keygen -F finds, with the key it expects', () => {
      // (a missing folder is not created, but ~/.ssh: known-hosts-target.test.ts)
      mkdirSync(join(dir, 'new'), { mode: 0o700 });
      const file = join(dir, 'new', 'known_hosts');
      const targets: { t: HostKeyTarget; key: Key; hashed: boolean; lookup: string }[] = [
        { t: { host: 'alpha', port: 22 }, key: ed, hashed: true, lookup: 'alpha' },
        { t: { host: 'alpha', port: 2200 }, key: rsa, hashed: true, lookup: '[alpha]:2200' },
        { t: { host: 'Mixed.Case', port: 22 }, key: ec256, hashed: false, lookup: 'mixed.case' },
        { t: { host: 'beta', port: 2201 }, key: ec521, hashed: false, lookup: '[beta]:2201' },
        {
          t: { host: 'gamma', port: 2202, hostKeyAlias: 'gbox' },
          key: ec384,
          hashed: true,
          lookup: 'gbox',
        },
      ];
      for (const { t, key, hashed } of targets)
        appendKnownHostsLine(file, formatKnownHostsLine({ ...t, blob: key.blob, hashed }));
      expect(statSync(file).mode & 0o777).toBe(0o600);
      targets.forEach(({ key, lookup }, i) => {
        expect(openSshFind(file, lookup), lookup).toEqual([
          { line: i + 1, marker: '', fingerprint: fingerprintSha256(key.blob) },
        ]);
      });
      expect(openSshFind(file, '[alpha]:2201')).toEqual([]);
      expect(openSshFind(file, 'gamma')).toEqual([]);
      const { entries } = loadKnownHostsFiles([file]);
      for (const { t, key } of targets)
        expect(checkHostKey(entries, t, key.blob).kind).toBe('known');
    });
  });

  describe('files', () => {
    it('loads several files in order, keeping file:line; missing files are fine', () => {
      const a = join(dir, 'a');
      const b = join(dir, 'b');
      writeFileSync(a, `# x\nalpha ${ed.type} ${ed.base64}\nbroken\n`);
      writeFileSync(b, `alpha ${rsa.type} ${rsa.base64}\n`);
      const { entries, problems } = loadKnownHostsFiles([a, join(dir, 'missing'), b]);
      expect(entries.map((e) => `${e.file}:${e.line}`)).toEqual([`${a}:2`, `${b}:1`]);
      expect(problems.map((p) => `${p.file}:${p.line}`)).toEqual([`${a}:3`]);
      const v = checkHostKey(entries, { host: 'alpha', port: 22 }, ec256.blob);
      expect(v.kind === 'changed' && v.expected.map((e) => `${e.file}:${e.line}`)).toEqual([
        `${a}:2`,
        `${b}:1`,
      ]);
    });

    it('throws a ConfigError naming an unreadable file', () => {
      let err: unknown;
      try {
        loadKnownHostsFiles([dir]); // a directory: EISDIR
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).diagnostics[0]).toMatchObject({
        code: 'known-hosts/unreadable',
        file: dir,
      });
    });

    it('appends after a last line that lacks its newline', () => {
      const file = join(dir, 'no-newline');
      writeFileSync(file, `alpha ${ed.type} ${ed.base64}`);
      appendKnownHostsLine(file, `beta ${rsa.type} ${rsa.base64}`);
      expect(readFileSync(file, 'utf8')).toBe(
        `alpha ${ed.type} ${ed.base64}\nbeta ${rsa.type} ${rsa.base64}\n`,
      );
      expect(() => {
        appendKnownHostsLine(file, 'a\nb');
      }).toThrow(TypeError);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Verdicts against a real ssh client talking to a real sshd (needs root for sshd's privsep).

const sshd = '/usr/sbin/sshd';
const canRunSshd =
  haveKeygen && existsSync(sshd) && process.getuid?.() === 0 && existsSync('/run/sshd');

type SshOutcome = 'accepted' | 'changed' | 'unknown' | 'revoked';

describe.skipIf(!canRunSshd)('verdicts against ssh -o StrictHostKeyChecking=yes', () => {
  let server: ChildProcess | undefined;
  let port = 0;
  let hostKey: Key;
  let other: Key;
  let otherType: Key;

  beforeAll(async () => {
    hostKey = makeKey('srv', ['-t', 'ecdsa', '-b', '256']);
    other = makeKey('other-ec', ['-t', 'ecdsa', '-b', '256']);
    otherType = makeKey('other-ed', ['-t', 'ed25519']);
    port = await freePort();
    const config = join(dir, 'sshd_config');
    writeFileSync(
      config,
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${hostKey.file}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        'UsePAM no',
        'AuthorizedKeysFile none',
      ].join('\n') + '\n',
    );
    server = spawn(sshd, ['-D', '-e', '-f', config], { stdio: 'ignore' });
    await waitForPort(port);
  });

  afterAll(() => {
    server?.kill();
  });

  /** What ssh does with `lines` as its only known_hosts. */
  function ssh(lines: string[], extra: string[] = []): SshOutcome {
    const file = join(dir, 'ssh_known_hosts');
    writeFileSync(file, lines.join('\n') + '\n');
    const r = spawnSync(
      'ssh',
      [
        '-F',
        '/dev/null',
        '-o',
        'BatchMode=yes',
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        `UserKnownHostsFile=${file}`,
        '-o',
        'GlobalKnownHostsFile=/dev/null',
        '-o',
        'PreferredAuthentications=none',
        '-o',
        'ConnectTimeout=10',
        ...extra,
        '-p',
        String(port),
        '127.0.0.1',
        'true',
      ],
      { encoding: 'utf8', timeout: 20_000 },
    );
    const err = r.stderr;
    if (/REVOKED HOST KEY DETECTED/.test(err)) return 'revoked';
    if (/REMOTE HOST IDENTIFICATION HAS CHANGED/.test(err)) return 'changed';
    if (/host key is known for .* and you have requested strict checking/.test(err))
      return 'unknown';
    if (/Permission denied/.test(err)) return 'accepted';
    throw new Error(`unexpected ssh output: ${err}`);
  }

  function kpfleet(lines: string[], alias?: string): HostKeyVerdict['kind'] {
    const { entries } = parseKnownHosts(lines.join('\n') + '\n', 'kh');
    const target: HostKeyTarget =
      alias === undefined
        ? { host: '127.0.0.1', port }
        : { host: '127.0.0.1', port, hostKeyAlias: alias };
    return checkHostKey(entries, target, hostKey.blob).kind;
  }

  const line = (name: string, k: () => Key, marker = '') =>
    `${marker}${name} ${k().type} ${k().base64}`.trimStart();

  const cases: {
    name: string;
    lines: () => string[];
    alias?: string;
    ssh: SshOutcome;
    ours: HostKeyVerdict['kind'];
  }[] = [
    {
      name: 'known',
      lines: () => [line(`[127.0.0.1]:${port}`, () => hostKey)],
      ssh: 'accepted',
      ours: 'known',
    },
    {
      name: 'known, hashed',
      lines: () => [`${hashHostName(`[127.0.0.1]:${port}`)} ${hostKey.type} ${hostKey.base64}`],
      ssh: 'accepted',
      ours: 'known',
    },
    {
      name: 'changed, same type',
      lines: () => [line(`[127.0.0.1]:${port}`, () => other)],
      ssh: 'changed',
      ours: 'changed',
    },
    {
      name: 'changed, other type',
      lines: () => [line(`[127.0.0.1]:${port}`, () => otherType)],
      ssh: 'changed',
      ours: 'changed',
    },
    {
      name: 'unknown',
      lines: () => [line('elsewhere', () => hostKey)],
      ssh: 'unknown',
      ours: 'unknown',
    },
    {
      name: 'port line for another port',
      lines: () => [line(`[127.0.0.1]:${port + 1}`, () => hostKey)],
      ssh: 'unknown',
      ours: 'unknown',
    },
    {
      name: 'bare host name (fallback without port)',
      lines: () => [line('127.0.0.1', () => hostKey)],
      ssh: 'accepted',
      ours: 'known',
    },
    {
      name: 'negated',
      lines: () => [line(`[127.0.0.*]:*,![127.0.0.1]:${port}`, () => hostKey)],
      ssh: 'unknown',
      ours: 'unknown',
    },
    {
      name: 'wildcard',
      lines: () => [line(`[127.0.0.?]:${port}`, () => hostKey)],
      ssh: 'accepted',
      ours: 'known',
    },
    {
      name: 'revoked for this host',
      lines: () => [
        line('*', () => hostKey, '@revoked '),
        line(`[127.0.0.1]:${port}`, () => hostKey),
      ],
      ssh: 'revoked',
      ours: 'revoked',
    },
    // ssh treats a CA-only host as new; kpfleet names it, since it cannot check certificates
    {
      name: 'cert-authority only',
      lines: () => [line(`[127.0.0.1]:${port}`, () => otherType, '@cert-authority ')],
      ssh: 'unknown',
      ours: 'cert-authority',
    },
    {
      name: 'HostKeyAlias',
      lines: () => [line('box', () => hostKey)],
      alias: 'box',
      ssh: 'accepted',
      ours: 'known',
    },
    {
      name: 'HostKeyAlias ignores the port',
      lines: () => [line(`[box]:${port}`, () => hostKey)],
      alias: 'box',
      ssh: 'unknown',
      ours: 'unknown',
    },
    {
      name: 'HostKeyAlias, changed',
      lines: () => [line('box', () => other)],
      alias: 'box',
      ssh: 'changed',
      ours: 'changed',
    },
  ];

  it.each(cases)('$name', ({ lines, alias, ssh: want, ours: wantOurs }) => {
    const text = lines();
    expect(ssh(text, alias === undefined ? [] : ['-o', `HostKeyAlias=${alias}`])).toBe(want);
    expect(kpfleet(text, alias)).toBe(wantOurs);
  });

  it('is stricter than ssh on purpose: a key @revoked for another host is refused', () => {
    const text = [
      line('other', () => hostKey, '@revoked '),
      line(`[127.0.0.1]:${port}`, () => hostKey),
    ];
    expect(ssh(text)).toBe('accepted');
    expect(kpfleet(text)).toBe('revoked');
  });
});
