/**
 * Private keys, parsed once per run: a passphrase-protected key is asked for once and decrypted
 * once, however many hosts use it (an OpenSSH-format key is encrypted with bcrypt_pbkdf,
 * about 0.1 s of CPU per decryption at the default 16 rounds).
 */
import { createPrivateKey, sign as cryptoSign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';
import {
  FileTooLargeError,
  NotRegularFileError,
  PRIVATE_KEY_MAX_BYTES,
  readRegularFile,
} from '../../util/regular-file.ts';

const { utils } = ssh2;

/** Asks the operator for a key's passphrase (hidden input); undefined when it cannot ask. */
export type PassphraseProvider = (keyPath: string) => Promise<string | undefined>;

export class KeyLoadError extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.path = path;
  }
}

export class KeyStore {
  private readonly cache = new Map<string, Promise<ParsedKey>>();
  private readonly ask: PassphraseProvider | undefined;

  constructor(ask?: PassphraseProvider) {
    this.ask = ask;
  }

  /** The parsed key at `path` (cached, including failures, so a bad key is reported once). */
  load(path: string): Promise<ParsedKey> {
    let p = this.cache.get(path);
    if (!p) {
      p = this.parse(path);
      this.cache.set(path, p);
    }
    return p;
  }

  private async parse(path: string): Promise<ParsedKey> {
    const data = readKeyFile(path);
    let parsed = utils.parseKey(data);
    if (
      parsed instanceof Error &&
      /encrypted/i.test(parsed.message) &&
      /passphrase/i.test(parsed.message)
    ) {
      const passphrase = this.ask ? await this.ask(path) : undefined;
      if (passphrase === undefined) {
        throw new KeyLoadError(
          path,
          'the key is protected by a passphrase and none could be asked for (load it into ssh-agent)',
        );
      }
      parsed = utils.parseKey(data, passphrase);
      if (parsed instanceof Error) throw new KeyLoadError(path, 'wrong passphrase');
    }
    if (parsed instanceof Error)
      throw new KeyLoadError(path, `not a private key ssh2 can read: ${parsed.message}`);
    const key: ParsedKey | undefined = Array.isArray(parsed) ? (parsed as ParsedKey[])[0] : parsed;
    if (!key) throw new KeyLoadError(path, 'no key in the file');
    if (!key.isPrivateKey())
      throw new KeyLoadError(path, 'this is a public key; give the private key file');
    return signingWithKeyObject(key);
  }
}

/**
 * The key file's bytes: a regular file of at most PRIVATE_KEY_MAX_BYTES, never a FIFO (which
 * would hang the run) or a device (`/dev/zero` would fill memory). The path may come from the
 * repository's inventory (`ansible_ssh_private_key_file`); `validate` checks it too.
 */
function readKeyFile(path: string): Buffer {
  try {
    return readRegularFile(path, { maxBytes: PRIVATE_KEY_MAX_BYTES });
  } catch (err) {
    if (err instanceof NotRegularFileError) throw new KeyLoadError(path, err.message);
    if (err instanceof FileTooLargeError)
      throw new KeyLoadError(path, 'the file is larger than 64 KiB, which no private key is');
    const code = (err as NodeJS.ErrnoException).code;
    throw new KeyLoadError(
      path,
      code === 'ENOENT' ? 'no such key file' : `cannot read: ${code ?? String(err)}`,
    );
  }
}

/** The digest ssh2 signs with for each key type when the protocol names none (its defaults). */
const DEFAULT_DIGEST: Readonly<Record<string, string | null>> = {
  'ssh-ed25519': null,
  'ssh-rsa': 'sha1',
  'ssh-dss': 'sha1',
  'ecdsa-sha2-nistp256': 'sha256',
  'ecdsa-sha2-nistp384': 'sha384',
  'ecdsa-sha2-nistp521': 'sha512',
};

/**
 * ssh2's `key.sign` hands OpenSSL the key's PEM text on every call, so the key is parsed again
 * for each host's authentication: ~0.8 ms of CPU per host for ed25519 (scale benchmark). The
 * same call (crypto.sign, same digest) on a KeyObject made once gives the same signature.
 * A key type not in the table keeps ssh2's own `sign`.
 */
export function signingWithKeyObject(key: ParsedKey): ParsedKey {
  const digest = DEFAULT_DIGEST[key.type];
  if (digest === undefined) return key;
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(key.getPrivatePEM());
  } catch {
    return key;
  }
  const own = key.sign.bind(key);
  // ssh2 returns an Error (not throws) when signing fails, whatever its type says; so do we
  key.sign = ((data: string | Buffer, algo?: string): Buffer | Error => {
    try {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      return cryptoSign(algo !== undefined && algo !== '' ? algo : digest, bytes, keyObject);
    } catch {
      return own(data, algo);
    }
  }) as ParsedKey['sign'];
  return key;
}
