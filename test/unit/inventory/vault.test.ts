/** Ansible Vault decryption, on blobs made by `ansible-vault encrypt_string` (ansible-core 2.14). */
import { describe, expect, it } from 'vitest';
import { decryptVault, VaultError } from '../../../src/inventory/vault.ts';

// A test password, not a secret.
const PASSWORD = Buffer.from('kpfleet-test-password');

// ansible-vault encrypt_string --vault-password-file pw 'hunter2-secret-value'
const V11 = `$ANSIBLE_VAULT;1.1;AES256
64336638323336346234306666393731383663383039346561616432633866623664663134373766
3331366361663362383237643932396534303564383934610a323638363030623639386464356432
34643262366237646463363135386236663965616130663262396231323861646666356163636266
6431643262656230620a633334353662663439343763326537303866373732323835613533313865
62393534646562376238333966386538656463326434336161333762653362646336
`;

// ansible-vault encrypt_string --vault-id prod@pw 'ünïcode ✓' (format 1.2, with a vault id)
const V12 = `$ANSIBLE_VAULT;1.2;AES256;prod
30653863326366333336623765653334323838393235393134626632323636323135626639303862
3162363637306335663134316337316366306239306635320a323732303430336361323734316262
63363064373634616565356532643531333761313132653164306332666531396165313636316539
3465646563633663360a363837373166653161373632326665383332653930636134383739613262
3431
`;

function failure(f: () => unknown): VaultError {
  try {
    f();
  } catch (e) {
    if (e instanceof VaultError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

describe('decryptVault', () => {
  it('decrypts a 1.1 blob from ansible-vault encrypt_string', () => {
    expect(decryptVault(V11, PASSWORD).toString()).toBe('hunter2-secret-value');
  });

  it('decrypts a 1.2 blob with a vault id, as UTF-8', () => {
    expect(decryptVault(V12, PASSWORD).toString('utf8')).toBe('ünïcode ✓');
  });

  it('reads the blob indented, as it stands under `!vault |`', () => {
    const indented = V11.split('\n')
      .map((l) => `          ${l}`)
      .join('\n');
    expect(decryptVault(indented, PASSWORD).toString()).toBe('hunter2-secret-value');
  });

  it('rejects a wrong password by its HMAC, without naming the password', () => {
    const e = failure(() => decryptVault(V11, Buffer.from('not-the-password')));
    expect(e.kind).toBe('password');
    expect(e.message).not.toContain('not-the-password');
  });

  it('rejects a tampered ciphertext before decrypting it', () => {
    // The body is hex of "salt\nhmac\nciphertext": flip one bit of the last ciphertext byte.
    const lines = V11.trim().split('\n');
    const body = Buffer.from(lines.slice(1).join(''), 'hex');
    body[body.length - 1] = (body[body.length - 1] ?? 0) ^ 0x01;
    const tampered = `${lines[0] ?? ''}\n${body.toString('hex')}\n`;
    expect(failure(() => decryptVault(tampered, PASSWORD)).kind).toBe('password');
  });

  it('rejects a damaged envelope as a format error', () => {
    expect(failure(() => decryptVault('$ANSIBLE_VAULT;1.1;AES256\nzz\n', PASSWORD)).kind).toBe(
      'format',
    );
    expect(failure(() => decryptVault('$ANSIBLE_VAULT;2.0;AES256\n00\n', PASSWORD)).kind).toBe(
      'format',
    );
    expect(failure(() => decryptVault(V11.replace('AES256', 'AES128'), PASSWORD)).kind).toBe(
      'format',
    );
  });
});
