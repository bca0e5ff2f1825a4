/**
 * Ansible Vault where inventories meet it: a whole vars file encrypted (`ansible-vault encrypt`)
 * and a single value tagged `!vault |` in a YAML inventory or vars file (`ansible-vault
 * encrypt_string`). Decrypts with the password the command line gave (cli/vault-password.ts reads
 * it) and remembers each plaintext as a secret (util/secrets.ts), so that no message shows it.
 * Errors say where the vaulted data is and how to give the password; never what it holds. Pure.
 */
import { visit, type Document } from 'yaml';
import type { Diagnostic } from '../diagnostics.ts';
import { markSecret } from '../util/secrets.ts';
import type { SourceText } from '../util/source.ts';
import { decryptVault, VaultError } from './vault.ts';

/** The vault password of a run; `password` undefined when none was given. */
export interface VaultKey {
  password: Buffer | undefined;
}

export const HOW_TO_GIVE_PASSWORD =
  'give the vault password file with --vault-password-file FILE or ANSIBLE_VAULT_PASSWORD_FILE=FILE ' +
  '(the password on its first line, as ansible-vault reads it)';

function vaultIdOf(envelope: string): string | undefined {
  const id = envelope.trimStart().split(/\r?\n/)[0]?.split(';')[3]?.trim();
  return id === undefined || id === '' ? undefined : id;
}

/**
 * Decrypts one envelope, or reports at `at` why not. `what` names the data in the message ("this
 * vars file", "this !vault value").
 */
export function openVault(
  envelope: string,
  key: VaultKey | undefined,
  src: SourceText,
  at: number | { line: number; col: number },
  what: string,
  diagnostics: Diagnostic[],
): string | undefined {
  if (key?.password === undefined) {
    diagnostics.push(
      src.diagnostic(
        'error',
        'inventory/vault-password',
        `${what} is encrypted with Ansible Vault, and no vault password was given`,
        at,
        HOW_TO_GIVE_PASSWORD,
      ),
    );
    return undefined;
  }
  try {
    return decryptVault(envelope, key.password).toString('utf8');
  } catch (e) {
    const wrong = e instanceof VaultError && e.kind === 'password';
    const id = vaultIdOf(envelope);
    const message = wrong
      ? `${what} cannot be decrypted with the vault password given (${e.message})`
      : `${what} is not a readable Ansible Vault: ${e instanceof Error ? e.message : String(e)}`;
    const hint = wrong
      ? `check the file named by --vault-password-file or ANSIBLE_VAULT_PASSWORD_FILE${id === undefined ? '' : `; this data was encrypted for vault id '${id}'`}`
      : 'encrypt it again with ansible-vault';
    diagnostics.push(src.diagnostic('error', 'inventory/vault', message, at, hint));
    return undefined;
  }
}

/**
 * Replaces each `!vault` scalar of a parsed YAML document by its plaintext (a string, as Ansible
 * uses it), in place. Undecryptable ones are reported and left as they are.
 */
export function openInlineVaults(
  doc: Document,
  src: SourceText,
  key: VaultKey | undefined,
  diagnostics: Diagnostic[],
): void {
  visit(doc, {
    Scalar(_, node) {
      if (node.tag !== '!vault') return;
      // The node starts after its tag: point at `!vault` itself.
      const start = node.range?.[0] ?? 0;
      const tag = src.text.lastIndexOf('!vault', start);
      const at = tag >= 0 && !src.text.slice(tag, start).includes('\n') ? tag : start;
      const text = typeof node.value === 'string' ? node.value : '';
      const plain = openVault(text, key, src, at, 'this !vault value', diagnostics);
      if (plain === undefined) return;
      markSecret(plain);
      node.value = plain;
      delete node.tag;
    },
  });
}
