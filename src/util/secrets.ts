/**
 * Values decrypted from Ansible Vault, remembered for this process so that no message shows
 * them: `showValue` prints `<vaulted>` for one, and `redactSecrets` (called by the report's
 * safeText) replaces any that a message or a line of output would otherwise quote.
 */
import type { Diagnostic } from '../diagnostics.ts';

const secrets = new Set<string>();

/** Replacement text for a vaulted value wherever one would be shown. */
export const VAULTED = '<vaulted>';

/** Shorter values are hidden where shown alone, not searched for inside other text. */
const MIN_REDACTED_LENGTH = 4;

/** Remembers a decrypted scalar (strings and numbers in a decrypted structure too). */
export function markSecret(value: unknown): void {
  if (typeof value === 'string' || typeof value === 'number') {
    if (String(value) !== '') secrets.add(String(value));
  } else if (Array.isArray(value)) {
    for (const v of value) markSecret(v);
  } else if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) markSecret(v);
  }
}

/** Whether a scalar is a decrypted vault value. */
export function isSecret(value: unknown): boolean {
  return (
    secrets.size > 0 &&
    (typeof value === 'string' || typeof value === 'number') &&
    secrets.has(String(value))
  );
}

/** The text with every decrypted value it is, or contains, replaced by `<vaulted>`. */
export function redactSecrets(text: string): string {
  if (secrets.size === 0) return text;
  if (secrets.has(text)) return VAULTED;
  let out = text;
  for (const s of secrets) {
    if (s.length >= MIN_REDACTED_LENGTH && out.includes(s)) out = out.split(s).join(VAULTED);
  }
  return out;
}

/**
 * A value for output (JSON included): itself, `<vaulted>` when it was decrypted from a vault, or
 * a string with each decrypted value it contains replaced (a template such as
 * `{{ vaulted }}.example.com` renders to one).
 */
export function hideSecret<T>(value: T): T | string {
  if (isSecret(value)) return VAULTED;
  return typeof value === 'string' ? redactSecrets(value) : value;
}

/** A diagnostic that quotes no decrypted value, in text or JSON (its message, hint, line). */
export function redactDiagnostic(d: Diagnostic): void {
  d.message = redactSecrets(d.message);
  if (d.hint !== undefined) d.hint = redactSecrets(d.hint);
  if (d.lineText !== undefined) d.lineText = redactSecrets(d.lineText);
}
