/**
 * Public-key blobs as known_hosts holds them (the bytes base64-encoded on a line, and what ssh2's
 * `hostVerifier` receives): their type, whether they are well formed for it, their SHA256
 * fingerprint, and strict base64 as OpenSSH reads it. Pure.
 */
import { trimEndChars } from '../../util/text.ts';
import { sha256Base64 } from '../../util/hash.ts';

/** The SSH wire fields of a public key for each plain type OpenSSH accepts in known_hosts. */
const BLOB_FIELDS: Readonly<Record<string, number>> = {
  'ssh-ed25519': 2, // type, pk
  'ssh-rsa': 3, // type, e, n
  'ssh-dss': 5, // type, p, q, g, y
  'ecdsa-sha2-nistp256': 3, // type, curve, Q
  'ecdsa-sha2-nistp384': 3,
  'ecdsa-sha2-nistp521': 3,
  'sk-ssh-ed25519@openssh.com': 3, // type, pk, application
  'sk-ecdsa-sha2-nistp256@openssh.com': 4, // type, curve, Q, application
};

/** Reads the SSH `string` fields of a blob; undefined when the framing is broken. */
function readStrings(blob: Uint8Array, max: number): Buffer[] | undefined {
  const buf = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const out: Buffer[] = [];
  let at = 0;
  while (at < buf.length && out.length < max) {
    if (at + 4 > buf.length) return undefined;
    const len = buf.readUInt32BE(at);
    at += 4;
    if (at + len > buf.length) return undefined;
    out.push(buf.subarray(at, at + len));
    at += len;
  }
  return out;
}

/** The key type named at the start of a public-key blob (`ssh-ed25519`, …); undefined if none. */
export function keyTypeOf(blob: Uint8Array): string | undefined {
  const first = readStrings(blob, 1)?.[0];
  if (first === undefined || first.length === 0) return undefined;
  const type = first.toString('latin1');
  return /^[\x21-\x7e]+$/.test(type) ? type : undefined;
}

/** Why a blob is not a well-formed public key of a type OpenSSH accepts; undefined if it is. */
export function blobProblem(blob: Buffer): string | undefined {
  const type = keyTypeOf(blob);
  if (type === undefined) return 'the key is not an SSH public-key blob';
  const fields = BLOB_FIELDS[type];
  if (fields === undefined) return `unsupported key type "${type}" in the key blob`;
  const parts = readStrings(blob, Number.MAX_SAFE_INTEGER);
  if (parts?.length !== fields) return `the ${type} key blob is truncated or malformed`;
  if (type.startsWith('ecdsa-sha2-') || type.startsWith('sk-ecdsa-')) {
    const curve = parts[1]?.toString('latin1');
    if (!type.includes(`-${curve ?? ''}`)) return `the ${type} key blob names curve "${curve}"`;
  }
  if ((type === 'ssh-ed25519' || type === 'sk-ssh-ed25519@openssh.com') && parts[1]?.length !== 32)
    return `the ${type} public key is not 32 bytes`;
  return undefined;
}

/** The fingerprint `ssh-keygen -l` prints by default: `SHA256:` + unpadded base64. */
export function fingerprintSha256(blob: Uint8Array): string {
  const digest = sha256Base64(blob);
  return `SHA256:${trimEndChars(digest, '=')}`;
}

/** Strict base64 as OpenSSH's b64_pton reads it (padding required); undefined when invalid. */
export function decodeBase64(text: string): Buffer | undefined {
  if (text.length === 0 || text.length % 4 !== 0) return undefined;
  if (!/^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$/.test(text))
    return undefined;
  return Buffer.from(text, 'base64');
}

/** Whether the type written on a line agrees with the blob's own type, as `sshkey_read` checks. */
export function keyTypeAgrees(written: string, blobType: string): boolean {
  if (written === blobType) return true;
  // rsa-sha2-* name RSA signature algorithms; sshkey_type_from_name maps them to KEY_RSA.
  return blobType === 'ssh-rsa' && (written === 'rsa-sha2-256' || written === 'rsa-sha2-512');
}
