/**
 * What a known_hosts line holds once read (`KnownHostsEntry`), the host a key is checked for
 * (`HostKeyTarget`), and the verdict on a presented key (`HostKeyVerdict`).
 */

export type KnownHostsMarker = 'cert-authority' | 'revoked';

/** The host field of a line: a pattern list, or one hashed name (`|1|salt|hmac`). */
export type KnownHostsNames =
  { kind: 'patterns'; text: string } | { kind: 'hashed'; text: string; salt: Buffer };

export interface KnownHostsEntry {
  /** The file as the caller named it, and the 1-based line. */
  file: string;
  line: number;
  marker?: KnownHostsMarker;
  names: KnownHostsNames;
  /** The key type as written on the line (`ssh-rsa`, `ecdsa-sha2-nistp256`, …). */
  keyType: string;
  /** The key type read from the blob itself. */
  blobType: string;
  blob: Buffer;
  comment?: string;
}

/** A line that could not be used: skipped, reported, never fatal. */
export interface KnownHostsProblem {
  file: string;
  line: number;
  reason: string;
  text: string;
}

export interface ParsedKnownHosts {
  entries: KnownHostsEntry[];
  problems: KnownHostsProblem[];
}

/** Who we are talking to, as `ssh` names it for known_hosts. */
export interface HostKeyTarget {
  host: string;
  port: number;
  /** OpenSSH `HostKeyAlias`: replaces `host` (and the port) for matching and for writing. */
  hostKeyAlias?: string;
}

/** A line that holds a key for the host, for messages: type, fingerprint, where. */
export interface KnownKeyRef {
  keyType: string;
  fingerprint: string;
  /** The key blob on that line. */
  key: Buffer;
  file: string;
  line: number;
}

export interface VerdictBase {
  /** The name looked up: `host`, `[host]:port` or the HostKeyAlias, lowercased. */
  name: string;
  /** The presented key. */
  keyType: string;
  fingerprint: string;
}

export type HostKeyVerdict =
  | (VerdictBase & {
      kind: 'known';
      match: KnownKeyRef;
      /**
       * Found under the bare host name although the port is not 22: OpenSSH accepts this when
       * nothing at all is recorded for `[host]:port` ("found matching key w/out port").
       */
      withoutPort: boolean;
    })
  | (VerdictBase & { kind: 'revoked'; entry: KnownKeyRef })
  | (VerdictBase & { kind: 'changed'; expected: KnownKeyRef[] })
  | (VerdictBase & { kind: 'cert-authority'; entries: KnownKeyRef[] })
  | (VerdictBase & { kind: 'unknown' });
