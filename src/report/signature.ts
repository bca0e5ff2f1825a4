/**
 * A patch file's appended signature in words (`ModuleSignature`, read by
 * config/module-signature.ts): `kpfleet validate` lists each patch's, a plan shows it on the
 * file's upload. Pure; the text is made safe to print by the caller.
 */
import type { ModuleSignature } from '../config-model.ts';

/**
 * `unsigned`, `signed by NAME`, `signed by NAME (key 1A:2B, sha256)` with `detailed`, or what
 * is wrong with it: a malformed trailer, an id_type other than PKCS#7.
 */
export function signatureWords(s: ModuleSignature, detailed = false): string {
  if (!s.signed) return 'unsigned';
  if (s.malformed !== undefined)
    return detailed ? `malformed signature: ${s.malformed}` : 'malformed signature';
  if (s.idType !== 'PKCS#7') {
    const kind = `signed as ${s.idType ?? 'an unknown kind'}, not PKCS#7`;
    return detailed ? `${kind}: kernels check only PKCS#7 signatures` : kind;
  }
  const who = s.signer !== undefined ? `signed by ${s.signer}` : 'signed, signer unknown';
  if (!detailed) return who;
  const notes = [
    ...(s.keyId !== undefined ? [`key ${s.keyId}`] : []),
    ...(s.hashAlgo !== undefined ? [s.hashAlgo] : []),
  ];
  return notes.length > 0 ? `${who} (${notes.join(', ')})` : who;
}
