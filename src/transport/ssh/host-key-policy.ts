/**
 * What kpfleet does with a host key, per `connection.host_key_checking` (as OpenSSH's
 * StrictHostKeyChecking): `strict` refuses unknown and changed keys; `accept-new` records the
 * key of a host seen for the first time and refuses changed ones; `off` accepts anything and
 * warns every time. Revoked keys and CA-only entries are always refused. A refusal names the
 * host, the fingerprint seen and what known_hosts holds.
 *
 * accept-new checks and records in one critical section per known_hosts file (`file-lock.ts`:
 * in this process and across processes), re-reading the file inside it: of two first contacts
 * with one name and different keys, the second finds the first recorded and is refused as a
 * changed key; the same key twice is recorded once. Names are written hashed when the host's
 * `HashKnownHosts` says so.
 *
 * accept-new records only a name of host-name form (util/names.ts), and only in a file that is a
 * known_hosts file (known-hosts-target.ts): the name and the path come from the repository's
 * ssh config and kpfleet.yml. Anything else refuses the host (exit 4) and writes nothing.
 */
import { withFileLock } from './file-lock.ts';
import { showCommand } from '../shell.ts';
import {
  appendKnownHostsLine,
  checkHostKey,
  fingerprintSha256,
  formatKnownHostsLine,
  keyTypeOf,
  KnownHostsWriteRefused,
  loadKnownHostsFiles,
  preferredHostKeyAlgorithms,
} from './known-hosts-file.ts';
import type { HostKeyTarget, HostKeyVerdict, KnownHostsEntry } from './known-hosts-file.ts';
import { knownHostsName, lookupName } from './known-hosts-names.ts';
import { checkRecordContent, recordTarget } from './known-hosts-target.ts';
import { readRegularFile } from '../../util/regular-file.ts';
import { knownHostsNameProblem } from '../../util/names.ts';
import type { SshEndpoint } from './endpoint.ts';

import type { HostKeyChecking } from '../../connection.ts';

export type { HostKeyChecking };

export interface HostKeyDecision {
  accept: boolean;
  reason: string;
  fingerprint: string;
  hint?: string;
}

export interface HostKeyPolicyOptions {
  /** known_hosts files, first is where accept-new records keys. */
  files: string[];
  /** Read-only files consulted too (e.g. /etc/ssh/ssh_known_hosts). */
  globalFiles?: string[];
  mode: HostKeyChecking;
  /** Write new entries hashed, for endpoints whose own `hashKnownHosts` is not set. */
  hashNew?: boolean;
  /** Warnings the run must show (mode off, malformed lines). */
  onWarning?: (message: string) => void;
}

/** What known_hosts knows the endpoint as: its HostKeyAlias (no port, as ssh), else host:port. */
function targetOf(e: SshEndpoint): HostKeyTarget {
  return e.hostKeyAlias === undefined
    ? { host: e.keyName, port: e.port }
    : { host: e.address, port: e.port, hostKeyAlias: e.hostKeyAlias };
}

/** What to do about a changed key: check, then the exact command that removes the old line. */
function changedKeyHint(expected: readonly { file: string }[], name: string): string {
  const commands = [...new Set(expected.map((e) => e.file))].map((file) =>
    showCommand(['ssh-keygen', '-f', file, '-R', name]),
  );
  return `someone may be intercepting the connection, the host was reinstalled, or several hosts answer to this one name (give each its own HostKeyAlias); check out of band, then remove the old line: ${commands.join('; ')}`;
}

function displayName(e: SshEndpoint): string {
  return e.hostKeyAlias ?? knownHostsName(e.keyName, e.port);
}

export class HostKeyPolicy {
  private readonly options: HostKeyPolicyOptions;
  private entries: KnownHostsEntry[];

  constructor(options: HostKeyPolicyOptions) {
    this.options = options;
    const loaded = loadKnownHostsFiles([...options.files, ...(options.globalFiles ?? [])]);
    this.entries = loaded.entries;
    for (const p of loaded.problems)
      options.onWarning?.(`${p.file}:${String(p.line)}: ignored: ${p.reason}`);
    if (options.mode === 'off') {
      options.onWarning?.(
        'host_key_checking is off: host keys are not verified, and a man in the middle would go unnoticed',
      );
    }
  }

  algorithmsFor(endpoint: SshEndpoint): string[] | undefined {
    const t = targetOf(endpoint);
    const list = preferredHostKeyAlgorithms(
      this.entries,
      t.host,
      t.port,
      t.hostKeyAlias === undefined ? {} : { hostKeyAlias: t.hostKeyAlias },
    );
    return list.length ? list : undefined;
  }

  async decide(endpoint: SshEndpoint, blob: Buffer): Promise<HostKeyDecision> {
    const verdict = checkHostKey(this.entries, targetOf(endpoint), blob);
    const file = this.options.files[0];
    if (verdict.kind !== 'unknown' || this.options.mode !== 'accept-new' || file === undefined)
      return this.decision(endpoint, blob, verdict);
    const refused = this.unrecordable(file, endpoint, blob);
    if (refused !== undefined) return refused;
    return withFileLock(file, () => this.acceptNew(file, endpoint, blob));
  }

  /** Why the new key of `endpoint` cannot be recorded in `file` (checked before the lock). */
  private unrecordable(
    file: string,
    endpoint: SshEndpoint,
    blob: Buffer,
  ): HostKeyDecision | undefined {
    const name = lookupName(targetOf(endpoint));
    const problem = knownHostsNameProblem(name);
    if (problem !== undefined) {
      const what = endpoint.hostKeyAlias === undefined ? 'the name' : 'the HostKeyAlias';
      return this.notRecorded(
        endpoint,
        blob,
        `kpfleet records host keys only under a host name, and ${what} ${JSON.stringify(name)} is not one: ${problem}`,
        'set HostKeyAlias (or HostName) in the ssh config to a host name, or check the key out of band and add it to known_hosts yourself',
      );
    }
    try {
      // the content is checked here too, so that no lock file is made beside a file such as
      // ~/.bashrc; and again on the open file under the lock (appendKnownHostsLine)
      const target = recordTarget(file);
      if (target.exists) checkRecordContent(file, target, readRegularFile(file).toString('utf8'));
    } catch (err) {
      if (!(err instanceof KnownHostsWriteRefused)) throw err;
      return this.notRecorded(endpoint, blob, err.message, err.hint);
    }
    return undefined;
  }

  private notRecorded(
    endpoint: SshEndpoint,
    blob: Buffer,
    why: string,
    hint: string,
  ): HostKeyDecision {
    const fingerprint = fingerprintSha256(blob);
    return {
      accept: false,
      fingerprint,
      reason: `the host key of ${endpoint.address} (${keyTypeOf(blob) ?? 'unknown'} ${fingerprint}) is new, and host_key_checking: accept-new cannot record it: ${why}`,
      hint,
    };
  }

  /**
   * accept-new, under the file's lock: the file is read again (another connection or process may
   * have recorded this name meanwhile), and the key recorded only if the name is still unknown.
   */
  private acceptNew(file: string, endpoint: SshEndpoint, blob: Buffer): HostKeyDecision {
    this.reload(file);
    const verdict = checkHostKey(this.entries, targetOf(endpoint), blob);
    if (verdict.kind !== 'unknown') return this.decision(endpoint, blob, verdict);
    try {
      appendKnownHostsLine(
        file,
        formatKnownHostsLine({
          ...targetOf(endpoint),
          blob,
          hashed: endpoint.hashKnownHosts ?? this.options.hashNew ?? false,
        }),
      );
    } catch (err) {
      if (!(err instanceof KnownHostsWriteRefused)) throw err;
      return this.notRecorded(endpoint, blob, err.message, err.hint);
    }
    this.reload(file);
    const fingerprint = fingerprintSha256(blob);
    this.options.onWarning?.(
      `added ${displayName(endpoint)} (${keyTypeOf(blob) ?? 'unknown'} ${fingerprint}) to ${file}`,
    );
    return { accept: true, reason: 'new, recorded', fingerprint };
  }

  /** The entries of `file` as it is now on disk, with their real line numbers. */
  private reload(file: string): void {
    this.entries = [
      ...this.entries.filter((e) => e.file !== file),
      ...loadKnownHostsFiles([file]).entries,
    ];
  }

  private decision(endpoint: SshEndpoint, blob: Buffer, verdict: HostKeyVerdict): HostKeyDecision {
    const fingerprint = fingerprintSha256(blob);
    const type = keyTypeOf(blob);
    const name = displayName(endpoint);
    const files = this.options.files.join(', ');
    switch (verdict.kind) {
      case 'known':
        return { accept: true, reason: 'known', fingerprint };
      case 'revoked':
        return {
          accept: false,
          fingerprint,
          reason: `the host key of ${name} (${type} ${fingerprint}) is marked @revoked in ${verdict.entry.file}:${String(verdict.entry.line)}`,
          hint: 'a revoked key is never accepted; the host needs a new key',
        };
      case 'cert-authority':
        return {
          accept: false,
          fingerprint,
          reason: `${name} is known only through @cert-authority lines (${verdict.entries.map((e) => `${e.file}:${String(e.line)}`).join(', ')}); kpfleet cannot verify host certificates`,
          hint: `add the host's own key to ${this.options.files[0] ?? 'known_hosts'} (ssh-keyscan, checked out of band)`,
        };
      case 'changed': {
        const expected = verdict.expected
          .map((e) => `${e.keyType} ${fingerprintSha256(e.key)} (${e.file}:${String(e.line)})`)
          .join('; ');
        if (this.options.mode === 'off') {
          this.options.onWarning?.(
            `the host key of ${name} CHANGED (${type} ${fingerprint}; known_hosts has ${expected}): accepted because host_key_checking is off`,
          );
          return { accept: true, reason: 'changed, accepted (off)', fingerprint };
        }
        return {
          accept: false,
          fingerprint,
          reason: `the host key of ${name} has CHANGED: it offered ${type} ${fingerprint}, known_hosts has ${expected}`,
          hint: changedKeyHint(verdict.expected, name),
        };
      }
      case 'unknown':
        if (this.options.mode === 'strict') {
          return {
            accept: false,
            fingerprint,
            reason: `${name} is not in known_hosts (${files}); it offered ${type} ${fingerprint}`,
            hint: 'add its key to known_hosts after checking the fingerprint, or set host_key_checking: accept-new to record keys of new hosts',
          };
        }
        this.options.onWarning?.(
          `accepted the unknown host key of ${name} (${type} ${fingerprint}) without checking: host_key_checking is off`,
        );
        return { accept: true, reason: 'unknown, accepted (off)', fingerprint };
    }
  }
}
