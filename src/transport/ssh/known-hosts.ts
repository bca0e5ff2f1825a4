/**
 * OpenSSH known_hosts, read and checked as OpenSSH does (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT";
 * OpenSSH `hostfile.c`, `match.c`, `sshconnect.c`). Pure: it works on raw public-key blobs (the
 * bytes that are base64-encoded in a known_hosts line, and what ssh2's `hostVerifier` receives).
 * Here: a file's text read into entries, unusable lines reported. The keys are read by
 * known-hosts-keys.ts, the names matched by known-hosts-names.ts, a key checked against the
 * entries by known-hosts-check.ts, a new line made by known-hosts-write.ts; reading and
 * appending files is in `known-hosts-file.ts`.
 */
import type { Diagnostic } from '../../diagnostics.ts';
import { blobProblem, decodeBase64, keyTypeAgrees, keyTypeOf } from './known-hosts-keys.ts';
import { HASH_MAGIC } from './known-hosts-names.ts';
import type {
  KnownHostsEntry,
  KnownHostsMarker,
  KnownHostsNames,
  KnownHostsProblem,
  ParsedKnownHosts,
} from './known-hosts-types.ts';

/** Parses a hashed host field as OpenSSH's `extract_salt` does; a reason when it is unusable. */
function parseHashed(text: string): KnownHostsNames | string {
  if (!text.startsWith(HASH_MAGIC)) return 'hashed host name without the "|1|" magic';
  const rest = text.slice(HASH_MAGIC.length);
  const bar = rest.indexOf('|');
  if (bar < 0) return 'hashed host name without a salt terminator';
  const salt = decodeBase64(rest.slice(0, bar));
  if (salt?.length !== 20) return 'hashed host name with a salt that is not 20 bytes of base64';
  const hash = decodeBase64(rest.slice(bar + 1));
  if (hash?.length !== 20) return 'hashed host name with a hash that is not 20 bytes of base64';
  return { kind: 'hashed', text, salt };
}

const MARKERS: Readonly<Record<string, KnownHostsMarker>> = {
  '@cert-authority': 'cert-authority',
  '@revoked': 'revoked',
};

/** Splits off the next blank-separated field (spaces and tabs, as OpenSSH). */
function nextField(text: string): [field: string, rest: string] {
  const trimmed = text.replace(/^[ \t]+/, '');
  const end = trimmed.search(/[ \t]/);
  return end < 0 ? [trimmed, ''] : [trimmed.slice(0, end), trimmed.slice(end)];
}

type LineResult = KnownHostsEntry | string | undefined;

function parseLine(text: string, file: string, line: number): LineResult {
  let rest = text.replace(/^[ \t]+/, '');
  if (rest === '' || rest.startsWith('#')) return undefined;

  let marker: KnownHostsMarker | undefined;
  while (rest.startsWith('@')) {
    const [word, after] = nextField(rest);
    if (marker !== undefined) return 'more than one marker';
    if (after === '') return `marker "${word}" with nothing after it`;
    marker = MARKERS[word];
    if (marker === undefined)
      return `unknown marker "${word}" (expected @cert-authority or @revoked)`;
    rest = after.replace(/^[ \t]+/, '');
  }

  const [hostField, afterHosts] = nextField(rest);
  let names: KnownHostsNames;
  if (hostField.startsWith('|')) {
    const hashed = parseHashed(hostField);
    if (typeof hashed === 'string') return hashed;
    names = hashed;
  } else {
    names = { kind: 'patterns', text: hostField };
  }

  const [keyType, afterType] = nextField(afterHosts);
  if (keyType === '' || keyType.startsWith('#')) return 'no key type after the host names';
  if (/^\d+$/.test(keyType)) return 'SSH protocol 1 (RSA1) key, not supported';
  const [keyText, afterKey] = nextField(afterType);
  if (keyText === '' || keyText.startsWith('#')) return `no key after the key type "${keyType}"`;
  const blob = decodeBase64(keyText);
  if (blob === undefined) return 'the key is not valid base64';
  const problem = blobProblem(blob);
  if (problem !== undefined) return problem;
  const blobType = keyTypeOf(blob) ?? '';
  if (!keyTypeAgrees(keyType, blobType)) return `key type "${keyType}" but the key is ${blobType}`;

  const comment = afterKey.replace(/^[ \t]+/, '');
  return {
    file,
    line,
    ...(marker === undefined ? {} : { marker }),
    names,
    keyType,
    blobType,
    blob,
    ...(comment === '' ? {} : { comment }),
  };
}

/** Parses one known_hosts file's text. Unusable lines are reported in `problems` and skipped. */
export function parseKnownHosts(text: string, file: string): ParsedKnownHosts {
  const entries: KnownHostsEntry[] = [];
  const problems: KnownHostsProblem[] = [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((raw, i) => {
    const lineText = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const result = parseLine(lineText, file, i + 1);
    if (typeof result === 'string')
      problems.push({ file, line: i + 1, reason: result, text: lineText });
    else if (result !== undefined) entries.push(result);
  });
  return { entries, problems };
}

/** The problems as warnings for the report (`known-hosts/invalid-line`). */
export function knownHostsDiagnostics(problems: readonly KnownHostsProblem[]): Diagnostic[] {
  return problems.map((p) => ({
    severity: 'warning',
    code: 'known-hosts/invalid-line',
    message: `${p.reason}; the line is ignored`,
    file: p.file,
    pos: { line: p.line, col: 1 },
    lineText: p.text,
  }));
}
