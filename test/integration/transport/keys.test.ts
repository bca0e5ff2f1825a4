/** Key files as OpenSSH users have them (issue 4 §2): ed25519, ecdsa, rsa, with and without passphrase. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KeyLoadError, KeyStore } from '../../../src/transport/ssh/keys.ts';

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
});
