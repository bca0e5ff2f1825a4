/**
 * Ansible Vault 1.1 encryption, for tests only (kpfleet itself only decrypts): the format
 * ansible-vault writes, so that a test can vault a value it chooses. test/unit/inventory/
 * vault.test.ts checks decryption against blobs made by the real ansible-vault.
 */
import { createCipheriv, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

export function vaultEncrypt(plaintext: string, password: string): string {
  const salt = randomBytes(32);
  const key = pbkdf2Sync(password, salt, 10000, 80, 'sha256');
  const data = Buffer.from(plaintext, 'utf8');
  const pad = 16 - (data.length % 16);
  const padded = Buffer.concat([data, Buffer.alloc(pad, pad)]);
  const cipher = createCipheriv('aes-256-ctr', key.subarray(0, 32), key.subarray(64));
  const ciphertext = Buffer.concat([cipher.update(padded), cipher.final()]);
  const mac = createHmac('sha256', key.subarray(32, 64)).update(ciphertext).digest();
  const inner = `${salt.toString('hex')}\n${mac.toString('hex')}\n${ciphertext.toString('hex')}`;
  const hex = Buffer.from(inner).toString('hex');
  const lines = hex.match(/.{1,80}/g) ?? [];
  return ['$ANSIBLE_VAULT;1.1;AES256', ...lines].join('\n') + '\n';
}

/** The value as a YAML `!vault |` block under a key indented by `indent` spaces. */
export function inlineVault(plaintext: string, password: string, indent: number): string {
  const pad = ' '.repeat(indent + 2);
  const body = vaultEncrypt(plaintext, password)
    .trimEnd()
    .split('\n')
    .map((l) => pad + l)
    .join('\n');
  return `!vault |\n${body}`;
}
