/**
 * patches/ssh2+1.17.0.patch (patches/README.md): the host-key signature is
 * verified with a key imported from JWK, and the curve25519 exchange skips the DER round trips.
 * These tests hold the patched code to what it replaced: the same verdicts on good and bad
 * signatures for every host key type, and real handshakes with OpenSSH's sshd.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Client } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const ssh2Dir = dirname(require.resolve('ssh2/package.json'));
interface ParsedKey {
  verify(data: Buffer, signature: Buffer, algo?: string): boolean | Error;
  getPublicPEM(): string;
}
const keyParser = require(join(ssh2Dir, 'lib/protocol/keyParser.js')) as {
  parseDERKey: (blob: Buffer, type: string) => ParsedKey | Error;
};
const parseDERKey = keyParser.parseDERKey;

function sshString(b: Buffer | string): Buffer {
  const body = typeof b === 'string' ? Buffer.from(b) : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}
/** An SSH mpint from unsigned big-endian bytes: a zero byte in front when the top bit is set. */
function mpint(b: Buffer): Buffer {
  return sshString((b[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.alloc(1), b]) : b);
}
const b64u = (s: string | undefined): Buffer => Buffer.from(s ?? '', 'base64url');

interface WireKey {
  type: string;
  /** What ssh2 passes as the hash algorithm for this host key algorithm. */
  algo: string | undefined;
  /** The key's blob as the server sends it, without the leading type string. */
  body: Buffer;
  privateKey: KeyObject;
}

function wireKey(
  type: 'ssh-ed25519' | 'ecdsa-sha2-nistp256' | 'ecdsa-sha2-nistp384' | 'ecdsa-sha2-nistp521',
): WireKey;
function wireKey(type: 'rsa-sha2-512' | 'rsa-sha2-256', bits: number): WireKey;
function wireKey(type: string, bits = 2048): WireKey {
  if (type === 'ssh-ed25519') {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const body = sshString(b64u(publicKey.export({ format: 'jwk' }).x));
    return { type, algo: undefined, body, privateKey };
  }
  if (type.startsWith('ecdsa-')) {
    const size = type.slice(-3);
    const namedCurve = `P-${size}`;
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve });
    const jwk = publicKey.export({ format: 'jwk' });
    const point = Buffer.concat([Buffer.from([4]), b64u(jwk.x), b64u(jwk.y)]);
    const body = Buffer.concat([sshString(`nistp${size}`), sshString(point)]);
    const algo = { '256': 'sha256', '384': 'sha384', '521': 'sha512' }[size];
    return { type, algo, body, privateKey };
  }
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const jwk = publicKey.export({ format: 'jwk' });
  const body = Buffer.concat([mpint(b64u(jwk.e)), mpint(b64u(jwk.n))]);
  return { type, algo: type === 'rsa-sha2-256' ? 'sha256' : 'sha512', body, privateKey };
}

function parse(k: WireKey): ParsedKey {
  const baseType = k.type.startsWith('rsa-') ? 'ssh-rsa' : k.type;
  const parsed = parseDERKey(k.body, baseType);
  if (parsed instanceof Error) throw parsed;
  return parsed;
}

const data = Buffer.from('exchange hash stand-in: the bytes the server signs');
const signWith = (k: WireKey, d: Buffer): Buffer => sign(k.algo ?? null, d, k.privateKey); // ECDSA: DER, as ssh2 passes it after sigSSHToASN1

describe('the patch is applied', () => {
  it('ssh2 on disk carries patches/ssh2+1.17.0.patch (postinstall: patch-package)', () => {
    const pkg = JSON.parse(readFileSync(join(ssh2Dir, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(pkg.version).toBe('1.17.0');
    for (const file of ['kex.js', 'keyParser.js']) {
      const text = readFileSync(join(ssh2Dir, 'lib/protocol', file), 'utf8');
      expect(text, file).toContain('kpfleet patch');
    }
  });
});

describe('host-key signatures: the same verdicts as the PEM path they replace', () => {
  const cases: [string, () => WireKey][] = [
    ['ssh-ed25519', () => wireKey('ssh-ed25519')],
    ['ecdsa-sha2-nistp256', () => wireKey('ecdsa-sha2-nistp256')],
    ['ecdsa-sha2-nistp384', () => wireKey('ecdsa-sha2-nistp384')],
    ['ecdsa-sha2-nistp521', () => wireKey('ecdsa-sha2-nistp521')],
    ['rsa-sha2-512', () => wireKey('rsa-sha2-512', 2048)],
    ['rsa-sha2-256', () => wireKey('rsa-sha2-256', 3072)],
  ];
  it.each(cases)('%s: a good signature passes; others do not', (_type, make) => {
    const k = make();
    const other = make();
    const key = parse(k);
    const sig = signWith(k, data);
    expect(key.verify(data, sig, k.algo)).toBe(true);
    // the signature of other bytes, a flipped bit, and another key's signature of these bytes
    expect(key.verify(data, signWith(k, Buffer.from('other bytes')), k.algo)).toBe(false);
    const flipped = Buffer.from(sig);
    flipped[flipped.length - 1] = (flipped.at(-1) ?? 0) ^ 1;
    expect(key.verify(data, flipped, k.algo)).not.toBe(true);
    expect(key.verify(data, signWith(other, data), k.algo)).not.toBe(true);
    // the PEM that ssh2 still builds, and others read, is still this key
    expect(createPublicKey(key.getPublicPEM()).export({ format: 'jwk' })).toEqual(
      createPublicKey(k.privateKey).export({ format: 'jwk' }),
    );
  });

  it('an RSA modulus whose top bit is set (mpint with a leading zero) verifies', () => {
    const k = wireKey('rsa-sha2-512', 2048);
    // an RSA modulus of exactly 2048 bits always has the top bit set: the blob has the zero byte
    expect(k.body.readUInt32BE(k.body.readUInt32BE(0) + 4)).toBe(257);
    expect(parse(k).verify(data, signWith(k, data), k.algo)).toBe(true);
  });

  it('an ECDSA point that is not uncompressed keeps the PEM path', () => {
    const k = wireKey('ecdsa-sha2-nistp256');
    const point = k.body.subarray(4 + 8 + 4);
    const compressed = Buffer.concat([
      Buffer.from([2 + ((point.at(-1) ?? 0) & 1)]),
      point.subarray(1, 33),
    ]);
    const body = Buffer.concat([sshString('nistp256'), sshString(compressed)]);
    const key = parseDERKey(body, 'ecdsa-sha2-nistp256');
    // no JWK for a compressed point: the PEM path, where OpenSSL decompresses it
    expect(key).not.toBeInstanceOf(Error);
    expect((key as ParsedKey).verify(data, signWith(k, data), k.algo)).toBe(true);
    expect((key as ParsedKey).verify(data, signWith(k, Buffer.from('x')), k.algo)).toBe(false);
    // a point that is no point at all is refused, on either path
    const bad = Buffer.concat([sshString('nistp256'), sshString(Buffer.from([4, 1, 2, 3]))]);
    const badKey = parseDERKey(bad, 'ecdsa-sha2-nistp256');
    if (!(badKey instanceof Error))
      expect(badKey.verify(data, signWith(k, data), k.algo)).not.toBe(true);
  });

  it('an ed25519 key of the wrong length is refused when parsed', () => {
    const short = sshString(Buffer.alloc(31, 7));
    expect(parseDERKey(short, 'ssh-ed25519')).toBeInstanceOf(Error);
  });
});

// ---------------------------------------------------------------------------------------------
// Real handshakes with OpenSSH: the curve25519 exchange and each host key type. A wrong shared
// secret or a wrong verdict on the host's signature fails the handshake before authentication;
// getting as far as "authentication failed" shows both held.

const sshd = '/usr/sbin/sshd';
const canRunSshd =
  spawnSync('ssh-keygen', ['-?']).error === undefined &&
  existsSync(sshd) &&
  process.getuid?.() === 0 &&
  existsSync('/run/sshd');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => {
        if (addr === null || typeof addr === 'string') reject(new Error('no port'));
        else resolve(addr.port);
      });
    });
  });
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.end();
        resolve(true);
      });
      s.once('error', () => {
        resolve(false);
      });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sshd did not listen on ${String(port)}`);
}

interface Handshake {
  level: string | undefined;
  message: string;
  hostKey: Buffer | undefined;
}

function handshake(port: number, kex: string, serverHostKey: string): Promise<Handshake> {
  return new Promise((resolve) => {
    const c = new Client();
    let hostKey: Buffer | undefined;
    c.once('error', (err: Error & { level?: string }) => {
      c.end();
      resolve({ level: err.level, message: err.message, hostKey });
    });
    c.once('ready', () => {
      c.end();
      resolve({ level: 'ready', message: '', hostKey });
    });
    c.connect({
      host: '127.0.0.1',
      port,
      username: 'kpfleet-nobody',
      readyTimeout: 20_000,
      algorithms: { kex: [kex], serverHostKey: [serverHostKey] } as never,
      hostVerifier: (key: Buffer) => {
        hostKey = key;
        return true;
      },
    });
  });
}

describe.skipIf(!canRunSshd)('handshakes with OpenSSH sshd', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kpfleet-ssh2-patch-'));
  const keys: Record<string, string> = {};
  let server: ChildProcess | undefined;
  let port = 0;

  beforeAll(async () => {
    const make = (name: string, args: string[]): void => {
      const file = join(dir, name);
      const r = spawnSync('ssh-keygen', ['-q', '-N', '', '-C', name, '-f', file, ...args], {
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new Error(`ssh-keygen ${args.join(' ')}: ${r.stderr}`);
      keys[name] = file;
    };
    make('ed25519', ['-t', 'ed25519']);
    make('ecdsa384', ['-t', 'ecdsa', '-b', '384']);
    make('rsa', ['-t', 'rsa', '-b', '3072']);
    port = await freePort();
    const config = join(dir, 'sshd_config');
    writeFileSync(
      config,
      [
        `Port ${String(port)}`,
        'ListenAddress 127.0.0.1',
        ...Object.values(keys).map((f) => `HostKey ${f}`),
        `PidFile ${join(dir, 'sshd.pid')}`,
        'UsePAM no',
        'AuthorizedKeysFile none',
        'HostKeyAlgorithms ssh-ed25519,ecdsa-sha2-nistp384,rsa-sha2-512,rsa-sha2-256',
        'KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org',
      ].join('\n') + '\n',
    );
    server = spawn(sshd, ['-D', '-e', '-f', config], { stdio: 'ignore' });
    await waitForPort(port);
  }, 60_000);

  afterAll(() => {
    server?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  const cases: [string, string, string][] = [
    ['curve25519-sha256', 'ssh-ed25519', 'ed25519'],
    ['curve25519-sha256@libssh.org', 'ssh-ed25519', 'ed25519'],
    ['curve25519-sha256', 'ecdsa-sha2-nistp384', 'ecdsa384'],
    ['curve25519-sha256', 'rsa-sha2-512', 'rsa'],
    ['curve25519-sha256', 'rsa-sha2-256', 'rsa'],
  ];
  it.each(cases)('%s with a %s host key', async (kex, algo, name) => {
    // several handshakes each: one exchange can pass by chance only if nothing is checked
    for (let i = 0; i < 3; i++) {
      const r = await handshake(port, kex, algo);
      expect(r.level, r.message).toBe('client-authentication');
      const pub = readFileSync(`${keys[name] ?? ''}.pub`, 'utf8').split(' ')[1] ?? '';
      expect(r.hostKey?.toString('base64')).toBe(pub);
    }
  });
});
