import { isPrintableAscii, onFirstUse } from './ascii.ts';
import { isSecret, VAULTED } from './secrets.ts';

/** Control characters and lone surrogates (printable ASCII has neither). */
const unprintable = onFirstUse(() => /[\p{Cc}\p{Cs}]/u);

/**
 * A user's value as it should appear in a message: strings quoted (JSON-escaped when they hold a
 * control character, so that no escape sequence from a file reaches the terminal), structures
 * named; a value decrypted from Ansible Vault as `<vaulted>`.
 */
export function showValue(v: unknown): string {
  if (isSecret(v)) return VAULTED;
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string')
    return !isPrintableAscii(v) && unprintable().test(v) ? JSON.stringify(v) : `'${v}'`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return typeof v;
}

/** The text of a scalar (string, number, boolean); undefined for anything else. */
export function scalarText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}
