/**
 * Private keys, parsed once per run: a passphrase-protected key is asked for once and decrypted
 * once, however many hosts use it (bcrypt_pbkdf costs ~0.1 s per decryption: reference
 * ecosystem.md §1.3).
 */
import { readFile } from 'node:fs/promises';
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';

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
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new KeyLoadError(
        path,
        code === 'ENOENT' ? 'no such key file' : `cannot read: ${code ?? String(err)}`,
      );
    }
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
    return key;
  }
}
