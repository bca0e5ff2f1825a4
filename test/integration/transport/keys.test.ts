/** Key files as OpenSSH users have them (issue 4 §2): ed25519, ecdsa, rsa, with and without passphrase. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';
import { KeyLoadError, KeyStore } from '../../../src/transport/ssh/keys.ts';

const { utils } = ssh2;

const dir = mkdtempSync(join(tmpdir(), 'kpfleet-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function keygen(name: string, args: string[]): string {
  const path = join(dir, name);
  const r = spawnSync('ssh-keygen', ['-q', ...args, '-f', path], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return path;
}

describe('KeyStore', () => {
  it.each([
    ['ed25519', ['-t', 'ed25519', '-N', '']],
    ['ecdsa', ['-t', 'ecdsa', '-b', '384', '-N', '']],
    ['rsa', ['-t', 'rsa', '-b', '2048', '-N', '']],
    ['rsa, PEM format', ['-t', 'rsa', '-b', '2048', '-m', 'PEM', '-N', '']],
    ['ed25519 with a passphrase', ['-t', 'ed25519', '-N', 'pw']],
    ['ecdsa with a passphrase', ['-t', 'ecdsa', '-N', 'pw']],
    ['rsa with a passphrase', ['-t', 'rsa', '-b', '2048', '-N', 'pw']],
  ])('loads %s keys that can sign', async (label, args) => {
    const path = keygen(label.replace(/\W+/g, '_'), args);
    let asked = 0;
    const keys = new KeyStore(() => {
      asked++;
      return Promise.resolve('pw');
    });
    const key = await keys.load(path);
    expect(key.isPrivateKey()).toBe(true);
    const data = Buffer.from('kpfleet');
    const sig = key.sign(data);
    expect(key.verify(data, sig)).toBe(true);
    // the signer made once per key (keys.ts) signs as ssh2's own does: byte for byte where the
    // scheme is deterministic (ed25519, RSA PKCS#1 v1.5), and always verifiable
    const plain = utils.parseKey(readFileSync(path), 'pw');
    const own = (Array.isArray(plain) ? plain[0] : plain) as ParsedKey;
    for (const algo of key.type === 'ssh-rsa' ? [undefined, 'sha256', 'sha512'] : [undefined]) {
      const ours = key.sign(data, algo);
      expect(ours).toBeInstanceOf(Buffer);
      expect(own.verify(data, ours, algo)).toBe(true);
      if (!key.type.startsWith('ecdsa')) expect(ours).toEqual(own.sign(data, algo));
    }
    expect(asked).toBe(label.includes('passphrase') ? 1 : 0);
    await keys.load(path); // cached: not asked again
    expect(asked).toBe(label.includes('passphrase') ? 1 : 0);
  });

  it('says why a key cannot be used', async () => {
    const keys = new KeyStore();
    await expect(keys.load(join(dir, 'missing'))).rejects.toThrow(/no such key file/);
    const pub = keygen('pubonly', ['-t', 'ed25519', '-N', '']);
    await expect(keys.load(pub + '.pub')).rejects.toThrow(KeyLoadError);
    const locked = keygen('locked', ['-t', 'ed25519', '-N', 'secret']);
    await expect(keys.load(locked)).rejects.toThrow(
      /protected by a passphrase and none could be asked for/,
    );
    writeFileSync(join(dir, 'garbage'), 'not a key');
    await expect(keys.load(join(dir, 'garbage'))).rejects.toThrow(/not a private key/);
  });

  // ansible_ssh_private_key_file comes from the repository's inventory (issue 14 review)
  it('a FIFO as the key file is refused at once, never waited on', async () => {
    const fifo = join(dir, 'fifo_key');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    await expect(new KeyStore().load(fifo)).rejects.toThrow(
      `${fifo}: it is a FIFO, not a regular file`,
    );
  });

  it('a device as the key file is refused before it is read (/dev/zero never ends)', async () => {
    await expect(new KeyStore().load('/dev/zero')).rejects.toThrow(
      '/dev/zero: it is a character device, not a regular file',
    );
  });

  it('a key file larger than 64 KiB is refused unread (a private key is a few KiB)', async () => {
    const big = join(dir, 'big_key');
    writeFileSync(big, Buffer.alloc(64 * 1024 + 1, 0x41));
    await expect(new KeyStore().load(big)).rejects.toThrow(
      `${big}: the file is larger than 64 KiB, which no private key is`,
    );
    // 64 KiB itself is read (and is no key)
    writeFileSync(big, Buffer.alloc(64 * 1024, 0x41));
    await expect(new KeyStore().load(big)).rejects.toThrow(/not a private key/);
  });
});
