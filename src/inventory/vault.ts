/**
 * Ansible Vault (format 1.1 and 1.2, cipher AES256) decrypted with Node's crypto alone: the
 * envelope read, the HMAC checked in constant time, then the AES-256-CTR body decrypted. What the
 * format is, in short (docs/config.md says it at more length):
 *
 *   $ANSIBLE_VAULT;1.1;AES256            (1.2 adds ";<vault id>")
 *   <hex, wrapped at 80 columns>         hex of: hex(salt) \n hex(hmac) \n hex(ciphertext)
 *
 * PBKDF2-HMAC-SHA256 of the password with the salt, 10000 rounds, gives 80 bytes: the AES key
 * (32), the HMAC-SHA256 key (32) and the counter block (16). The HMAC covers the ciphertext; the
 * plaintext is PKCS#7-padded to 16 bytes. Pure: the caller reads files and passwords.
 */
import { createDecipheriv, createHmac, pbkdf2Sync, timingSafeEqual } from 'node:crypto';

export const VAULT_HEADER = '$ANSIBLE_VAULT;';

/** Why a vault could not be opened: a damaged envelope, or a password that does not fit. */
export class VaultError extends Error {
  readonly kind: 'format' | 'password';
  constructor(kind: 'format' | 'password', message: string) {
    super(message);
    this.kind = kind;
  }
}

/** Ansible's `is_encrypted`: the text starts with the vault header. */
export function isVaulted(text: string): boolean {
  return text.startsWith(VAULT_HEADER);
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

function unhex(text: string, what: string): Buffer {
  if (!HEX.test(text)) throw new VaultError('format', `the vault's ${what} is not hexadecimal`);
  return Buffer.from(text, 'hex');
}

/** The envelope's parts: version, cipher, vault id (1.2) and the binary body. */
function parseEnvelope(text: string): { cipher: string; id?: string; body: Buffer } {
  const lines = text.split(/\r?\n/);
  const header = (lines[0] ?? '').trim().split(';');
  const version = header[1]?.trim() ?? '';
  const cipher = header[2]?.trim() ?? '';
  if (header.length < 3 || !['1.1', '1.2'].includes(version)) {
    throw new VaultError('format', `unsupported vault format '${version}' (1.1 and 1.2 are read)`);
  }
  const body = lines
    .slice(1)
    .map((l) => l.trim())
    .join('');
  const id = header[3]?.trim();
  return { cipher, ...(id !== undefined && id !== '' ? { id } : {}), body: unhex(body, 'body') };
}

/**
 * The plaintext of a vault envelope (a vaulted file's whole text, or an inline `!vault` value).
 * Throws VaultError: kind 'password' when the HMAC does not match (a wrong password, or altered
 * data), 'format' when the envelope is damaged. Never includes the password in a message.
 */
export function decryptVault(envelope: string, password: Buffer): Buffer {
  const { cipher, body } = parseEnvelope(envelope.trim());
  if (cipher !== 'AES256') throw new VaultError('format', `unsupported vault cipher '${cipher}'`);
  const parts = body.toString('latin1').split('\n');
  if (parts.length < 3) throw new VaultError('format', 'the vault body lacks its salt or HMAC');
  const salt = unhex(parts[0] ?? '', 'salt');
  const mac = unhex(parts[1] ?? '', 'HMAC');
  const ciphertext = unhex(parts.slice(2).join('\n'), 'ciphertext');
  const derived = pbkdf2Sync(password, salt, 10000, 80, 'sha256');
  const expected = createHmac('sha256', derived.subarray(32, 64)).update(ciphertext).digest();
  if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) {
    throw new VaultError('password', 'HMAC check failed: wrong vault password, or altered data');
  }
  const decipher = createDecipheriv('aes-256-ctr', derived.subarray(0, 32), derived.subarray(64));
  const padded = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  const pad = padded.at(-1) ?? 0;
  if (pad < 1 || pad > 16 || pad > padded.length || padded.subarray(-pad).some((b) => b !== pad)) {
    throw new VaultError('format', 'the decrypted vault has invalid padding');
  }
  return padded.subarray(0, padded.length - pad);
}
