/**
 * A kernel module's appended signature, read on the controller, which may have no `modinfo`
 * (macOS): who signed a patch file, with which key and digest, or that it is not signed at all.
 * Pure; never throws, whatever the file holds; linear in its size.
 *
 * The layout (docs/kpatch-behaviour.md §10, "The appended signature"; the kernel's
 * scripts/sign-file, include/linux/module_signature.h), from the end:
 *
 *   [ module ][ sig_len bytes of PKCS#7 (CMS) SignedData, DER ][ struct module_signature ][ magic ]
 *
 * the magic being the 28 bytes `~Module signature appended~\n` and the 12-byte struct
 * `{ u8 algo, hash, id_type, signer_len, key_id_len, pad[3]; __be32 sig_len }`.
 *
 * What counts as malformed follows the kernel (kernel/module_signature.c `mod_check_sig`,
 * kernel/module/signing.c): a marker with no room for the struct before it, a `sig_len` that
 * leaves no module before the signature, a PKCS#7 struct whose other fields are not zero, or a
 * PKCS#7 message that does not parse are all EBADMSG, which a kernel refuses on every host,
 * enforcing signatures or not. A struct whose id_type is not PKCS#7 is ENOPKG, "unsupported
 * crypto", which a kernel treats as it treats an unsigned module: reported signed, its id_type
 * named, signer unknown (kmod would print the struct's own signer bytes; no kernel checks them).
 *
 * What is shown is what `modinfo` prints (kmod, libkmod/libkmod-signature.c with OpenSSL):
 * - `signer`: from the first SignerInfo's issuerAndSerialNumber, the issuer's first commonName;
 *   an issuer without one gives its last attribute's value (kmod's `x509_name_to_str` stops at
 *   the first CN, else keeps the last entry), an empty issuer no signer. A value is cut at its
 *   first NUL as modinfo's strlen cuts it; a BMPString or UniversalString is decoded (modinfo
 *   would print its raw bytes).
 * - `keyId` (modinfo's `sig_key`): the serial number as `BN_bn2bin` gives it, the magnitude
 *   without leading zero bytes, as colon-separated upper-case hex pairs, on one line (modinfo
 *   breaks the line every 20 bytes). A SignerInfo that names its certificate by subject key
 *   identifier (sign-file -k) has no issuer: `keyId` is that identifier and the signer is unknown
 *   (modinfo's OpenSSL PKCS7 reader cannot read such a message and shows no signature at all).
 * - `hashAlgo` (`sig_hashalgo`): the SignerInfo's digestAlgorithm (`sha256`, …), a dotted OID
 *   when it is none kpfleet names.
 *
 * The DER walk is minimal and bounded: it reads only the elements on the path to those fields,
 * refuses any length past its enclosing element, multi-byte tags and lengths of more than 4
 * bytes, and takes BER's indefinite lengths (OpenSSL reads them, so modinfo does) nested at most
 * `MAX_NESTING` deep. Every element header on the path is read a bounded number of times.
 */
import type { ModuleSignature } from '../config-model.ts';

const MAGIC = Uint8Array.from('~Module signature appended~\n', (c) => c.charCodeAt(0));
/** sizeof(struct module_signature) */
const HEADER = 12;
const PKEY_ID_PKCS7 = 2;
/** kmod's names of id_type (enum pkey_id_type). */
const ID_TYPES: readonly string[] = ['PGP', 'X509', 'PKCS#7'];
/** Indefinite-length elements nested deeper than this are refused. */
export const MAX_NESTING = 32;
/** A signer longer than this many characters is cut (with `…`). */
export const SIGNER_MAX = 256;
/** A key id longer than this many bytes is cut (with `…`). */
const KEY_ID_MAX = 64;

/** 1.2.840.113549.1.7.2 */
const SIGNED_DATA_OID = '2a864886f70d010702';
/** 2.5.4.3 */
const CN_OID = '550403';
const DIGESTS: Readonly<Record<string, string>> = {
  '2a864886f70d0205': 'md5',
  '2b0e03021a': 'sha1',
  '608648016503040204': 'sha224',
  '608648016503040201': 'sha256',
  '608648016503040202': 'sha384',
  '608648016503040203': 'sha512',
  '608648016503040208': 'sha3-256',
  '608648016503040209': 'sha3-384',
  '60864801650304020a': 'sha3-512',
  '2a811ccf55018311': 'sm3',
};

/** The signature appended to a module file, or that there is none (see the file comment). */
export function readModuleSignature(file: Uint8Array): ModuleSignature {
  const n = file.length;
  if (n < MAGIC.length) return { signed: false };
  for (let i = 0; i < MAGIC.length; i++)
    if (file[n - MAGIC.length + i] !== MAGIC[i]) return { signed: false };
  const before = n - MAGIC.length;
  if (before <= HEADER)
    return {
      signed: true,
      malformed: `the file ends in the signature marker with ${String(before)} bytes before it: no room for the 12-byte signature header`,
    };
  const h = before - HEADER;
  const byte = (i: number): number => file[h + i] ?? 0;
  const idType = byte(2);
  const idName = ID_TYPES[idType] ?? `id_type ${String(idType)}`;
  const sigLen = ((byte(8) << 24) >>> 0) + (byte(9) << 16) + (byte(10) << 8) + byte(11);
  if (sigLen >= h)
    return {
      signed: true,
      idType: idName,
      malformed: `the signature header gives ${String(sigLen)} bytes of signature, more than the ${String(h - 1)} the file has room for`,
    };
  if (idType !== PKEY_ID_PKCS7) return { signed: true, idType: idName };
  for (let i = 0; i < 8; i++)
    if (i !== 2 && byte(i) !== 0)
      return {
        signed: true,
        idType: idName,
        malformed:
          'the PKCS#7 signature header has non-zero algo, hash, signer_len, key_id_len or padding',
      };
  if (sigLen === 0) return { signed: true, idType: idName, malformed: 'the signature is empty' };
  const found = readSignerInfo(file, h - sigLen, h);
  if (typeof found === 'string')
    return { signed: true, idType: idName, malformed: `the PKCS#7 message ${found}` };
  return { signed: true, idType: idName, ...found };
}

/** One DER (or BER) element: its identifier octet, where its contents are, what follows it. */
interface Tlv {
  tag: number;
  body: number;
  /** End of the contents (an indefinite length's end-of-contents octets excluded). */
  end: number;
  next: number;
}

const hex2 = (v: number): string => v.toString(16).padStart(2, '0');

/** The element at `pos`, which must end by `limit`; or why not. */
function readTlv(b: Uint8Array, pos: number, limit: number, nesting = 0): Tlv | string {
  if (pos + 2 > limit) return `ends inside an element at byte ${String(pos)}`;
  const tag = b[pos] ?? 0;
  if ((tag & 0x1f) === 0x1f) return `has a multi-byte tag at byte ${String(pos)}`;
  const first = b[pos + 1] ?? 0;
  let p = pos + 2;
  let len = first;
  if (first === 0x80) {
    if ((tag & 0x20) === 0)
      return `has an indefinite length on a primitive element at byte ${String(pos)}`;
    if (nesting >= MAX_NESTING)
      return `nests indefinite lengths deeper than ${String(MAX_NESTING)} at byte ${String(pos)}`;
    // the contents run to the end-of-contents octets: each child is skipped, never read twice
    let q = p;
    for (;;) {
      if (q + 2 <= limit && b[q] === 0 && b[q + 1] === 0)
        return { tag, body: p, end: q, next: q + 2 };
      const child = readTlv(b, q, limit, nesting + 1);
      if (typeof child === 'string') return child;
      q = child.next;
    }
  }
  if (first > 0x80) {
    const count = first & 0x7f;
    if (count > 4) return `has a length of ${String(count)} bytes at byte ${String(pos)}`;
    if (p + count > limit) return `ends inside an element at byte ${String(pos)}`;
    len = 0;
    for (let i = 0; i < count; i++) len = len * 256 + (b[p + i] ?? 0);
    p += count;
  }
  if (len > limit - p)
    return `has an element at byte ${String(pos)} of ${String(len)} bytes, past the ${String(limit - p)} left`;
  return { tag, body: p, end: p + len, next: p + len };
}

/** The element at `pos` with identifier `tag`, or why not (`what` names it). */
function expectTlv(
  b: Uint8Array,
  pos: number,
  limit: number,
  tag: number,
  what: string,
): Tlv | string {
  if (pos >= limit) return `has no ${what}`;
  const t = readTlv(b, pos, limit);
  if (typeof t === 'string') return t;
  if (t.tag !== tag)
    return `has no ${what}: tag 0x${hex2(t.tag)} at byte ${String(pos)}, not 0x${hex2(tag)}`;
  return t;
}

/** Longer than any OID looked up here (the longest, sha3-512's, is 9 bytes). */
const OID_HEX_MAX = 32;

/**
 * An OID's contents as hex, to look it up; `''` (matching none) for one longer than any named
 * here, so that a hostile element of megabytes is never made into text.
 */
const hexOf = (b: Uint8Array, t: Tlv): string => {
  if (t.end - t.body > OID_HEX_MAX) return '';
  let s = '';
  for (let i = t.body; i < t.end; i++) s += hex2(b[i] ?? 0);
  return s;
};

type Found = Pick<Extract<ModuleSignature, { signed: true }>, 'signer' | 'keyId' | 'hashAlgo'>;

/**
 * ContentInfo { contentType signedData, [0] SignedData { version, digestAlgorithms,
 * encapContentInfo, [0] certificates?, [1] crls?, signerInfos { SignerInfo { version, sid,
 * digestAlgorithm, signedAttrs?, signatureAlgorithm, signature, … } } } } (RFC 5652), between
 * `start` and `end`.
 */
function readSignerInfo(b: Uint8Array, start: number, end: number): Found | string {
  const ci = expectTlv(b, start, end, 0x30, 'ContentInfo');
  if (typeof ci === 'string') return ci;
  const type = expectTlv(b, ci.body, ci.end, 0x06, 'contentType');
  if (typeof type === 'string') return type;
  if (hexOf(b, type) !== SIGNED_DATA_OID)
    return `is not a SignedData (contentType ${oidText(b, type)})`;
  const wrap = expectTlv(b, type.next, ci.end, 0xa0, 'content');
  if (typeof wrap === 'string') return wrap;
  const sd = expectTlv(b, wrap.body, wrap.end, 0x30, 'SignedData');
  if (typeof sd === 'string') return sd;
  const version = expectTlv(b, sd.body, sd.end, 0x02, 'SignedData version');
  if (typeof version === 'string') return version;
  const digests = expectTlv(b, version.next, sd.end, 0x31, 'digestAlgorithms');
  if (typeof digests === 'string') return digests;
  const encap = expectTlv(b, digests.next, sd.end, 0x30, 'encapContentInfo');
  if (typeof encap === 'string') return encap;
  let pos = encap.next;
  // certificates [0] and crls [1], both optional, in that order
  for (const optional of [0xa0, 0xa1]) {
    if (pos >= sd.end) break;
    const t = readTlv(b, pos, sd.end);
    if (typeof t === 'string') return t;
    if (t.tag === optional) pos = t.next;
  }
  const infos = expectTlv(b, pos, sd.end, 0x31, 'signerInfos');
  if (typeof infos === 'string') return infos;
  if (infos.body === infos.end) return 'has no SignerInfo';
  const si = expectTlv(b, infos.body, infos.end, 0x30, 'SignerInfo');
  if (typeof si === 'string') return si;
  const siVersion = expectTlv(b, si.body, si.end, 0x02, 'SignerInfo version');
  if (typeof siVersion === 'string') return siVersion;
  if (siVersion.next >= si.end) return 'has no SignerInfo sid';
  const sid = readTlv(b, siVersion.next, si.end);
  if (typeof sid === 'string') return sid;
  const found: Found = {};
  if (sid.tag === 0x30) {
    // issuerAndSerialNumber { issuer Name, serialNumber INTEGER }
    const issuer = expectTlv(b, sid.body, sid.end, 0x30, 'issuer');
    if (typeof issuer === 'string') return issuer;
    const serial = expectTlv(b, issuer.next, sid.end, 0x02, 'serialNumber');
    if (typeof serial === 'string') return serial;
    const signer = nameValue(b, issuer);
    if (signer.error !== undefined) return signer.error;
    if (signer.text !== undefined) found.signer = signer.text;
    const keyId = keyIdText(serialMagnitude(b, serial));
    if (keyId !== undefined) found.keyId = keyId;
  } else if (sid.tag === 0x80) {
    // subjectKeyIdentifier [0] IMPLICIT OCTET STRING
    const keyId = keyIdText(b.subarray(sid.body, sid.end));
    if (keyId !== undefined) found.keyId = keyId;
  } else {
    return `has a SignerInfo sid of tag 0x${hex2(sid.tag)}`;
  }
  const alg = expectTlv(b, sid.next, si.end, 0x30, 'digestAlgorithm');
  if (typeof alg === 'string') return alg;
  const algOid = expectTlv(b, alg.body, alg.end, 0x06, 'digestAlgorithm OID');
  if (typeof algOid === 'string') return algOid;
  found.hashAlgo = DIGESTS[hexOf(b, algOid)] ?? oidText(b, algOid);
  // the kernel's pkcs7.asn1 (and OpenSSL) require what follows: signed attributes ([0] IMPLICIT
  // or [2] EXPLICIT, optional), the signature algorithm and the signature itself; without them
  // the message is EBADMSG, which must not be shown as a signer
  let rest = alg.next;
  if (rest < si.end) {
    const attrs = readTlv(b, rest, si.end);
    if (typeof attrs === 'string') return attrs;
    if (attrs.tag === 0xa0 || attrs.tag === 0xa2) rest = attrs.next;
  }
  const sigAlg = expectTlv(b, rest, si.end, 0x30, 'signatureAlgorithm');
  if (typeof sigAlg === 'string') return sigAlg;
  const sigValue = expectTlv(b, sigAlg.next, si.end, 0x04, 'signature');
  if (typeof sigValue === 'string') return sigValue;
  return found;
}

/**
 * The issuer Name's first commonName, else its last attribute's value (kmod's choice);
 * undefined for an empty Name.
 */
function nameValue(b: Uint8Array, name: Tlv): { text?: string; error?: string } {
  let last: Tlv | undefined;
  for (let pos = name.body; pos < name.end;) {
    const rdn = expectTlv(b, pos, name.end, 0x31, 'RelativeDistinguishedName');
    if (typeof rdn === 'string') return { error: rdn };
    for (let q = rdn.body; q < rdn.end;) {
      const ava = expectTlv(b, q, rdn.end, 0x30, 'AttributeTypeAndValue');
      if (typeof ava === 'string') return { error: ava };
      const type = expectTlv(b, ava.body, ava.end, 0x06, 'attribute type');
      if (typeof type === 'string') return { error: type };
      if (type.next >= ava.end) return { error: 'has an attribute without a value' };
      const value = readTlv(b, type.next, ava.end);
      if (typeof value === 'string') return { error: value };
      if (hexOf(b, type) === CN_OID) return { text: stringValue(b, value) };
      last = value;
      q = ava.next;
    }
    pos = rdn.next;
  }
  return last !== undefined ? { text: stringValue(b, last) } : {};
}

/** A directory string as text: cut at its first NUL (as modinfo prints it) and at SIGNER_MAX. */
function stringValue(b: Uint8Array, t: Tlv): string {
  // at most 4 bytes a character: enough bytes for SIGNER_MAX characters and one more
  const bytes = b.subarray(t.body, Math.min(t.end, t.body + 4 * (SIGNER_MAX + 1)));
  let text = '';
  if (t.tag === 0x1e) {
    // BMPString: UTF-16BE
    for (let i = 0; i + 1 < bytes.length; i += 2)
      text += String.fromCharCode(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  } else if (t.tag === 0x1c) {
    // UniversalString: UTF-32BE
    for (let i = 0; i + 3 < bytes.length; i += 4) {
      const cp =
        (((bytes[i] ?? 0) << 24) >>> 0) +
        ((bytes[i + 1] ?? 0) << 16) +
        ((bytes[i + 2] ?? 0) << 8) +
        (bytes[i + 3] ?? 0);
      text += cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff) ? String.fromCodePoint(cp) : '\ufffd';
    }
  } else if (t.tag === 0x14) {
    // TeletexString, read as Latin-1 (as OpenSSL prints it)
    for (const c of bytes) text += String.fromCharCode(c);
  } else {
    // UTF8String, PrintableString, IA5String, and anything else: UTF-8
    text = new TextDecoder('utf-8').decode(bytes);
  }
  const nul = text.indexOf('\u0000');
  if (nul >= 0) text = text.slice(0, nul);
  const chars = Array.from(text);
  return chars.length > SIGNER_MAX ? `${chars.slice(0, SIGNER_MAX).join('')}…` : text;
}

/** An INTEGER's magnitude without leading zero bytes (OpenSSL's BN_bn2bin of it). */
function serialMagnitude(b: Uint8Array, t: Tlv): Uint8Array {
  let bytes = b.subarray(t.body, t.end);
  if (bytes.length > 0 && ((bytes[0] ?? 0) & 0x80) !== 0) {
    // negative: two's complement
    const mag = new Uint8Array(bytes.length);
    let carry = 1;
    for (let i = bytes.length - 1; i >= 0; i--) {
      const v = (~(bytes[i] ?? 0) & 0xff) + carry;
      mag[i] = v & 0xff;
      carry = v >> 8;
    }
    bytes = mag;
  }
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  return bytes.subarray(i);
}

/** `1A:2B:…` as modinfo's sig_key (on one line), cut at KEY_ID_MAX bytes; undefined when empty. */
function keyIdText(bytes: Uint8Array): string | undefined {
  if (bytes.length === 0) return undefined;
  const pairs: string[] = [];
  for (const v of bytes.subarray(0, KEY_ID_MAX)) pairs.push(hex2(v).toUpperCase());
  return pairs.join(':') + (bytes.length > KEY_ID_MAX ? '…' : '');
}

/** An OBJECT IDENTIFIER in dotted form (`1.2.840…`), or `an unreadable OID`. */
function oidText(b: Uint8Array, t: Tlv): string {
  if (t.end === t.body || t.end - t.body > 64) return 'an unreadable OID';
  const arcs: number[] = [];
  let v = 0;
  for (let i = t.body; i < t.end; i++) {
    const c = b[i] ?? 0;
    v = v * 128 + (c & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 128) return 'an unreadable OID';
    if ((c & 0x80) === 0) {
      if (arcs.length === 0) arcs.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else arcs.push(v);
      v = 0;
    }
  }
  return (b[t.end - 1] ?? 0) & 0x80 ? 'an unreadable OID' : arcs.join('.');
}
