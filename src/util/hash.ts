/**
 * SHA-256 in one call. `crypto.hash` (Node ≥ 20.12; the engines field asks ≥ 20.19) makes no
 * Hash object: about a third of `createHash().update().digest()`'s cost on the short inputs
 * hashed once per host (facts and host-key fingerprints), which at 1,000 hosts was 30 ms of CPU.
 */
import { hash } from 'node:crypto';

/** SHA-256 of `data` (a string is hashed as UTF-8, as `Hash.update` does), hex. */
export const sha256Hex = (data: string | Uint8Array): string => hash('sha256', data, 'hex');

/** SHA-256 of `data`, base64 with its padding. */
export const sha256Base64 = (data: string | Uint8Array): string => hash('sha256', data, 'base64');
