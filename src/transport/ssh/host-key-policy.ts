/**
 * What kpfleet does with a host key, per `connection.host_key_checking` (as OpenSSH's
 * StrictHostKeyChecking): `strict` refuses unknown and changed keys; `accept-new` records the
 * key of a host seen for the first time and refuses changed ones; `off` accepts anything and
 * warns every time. Revoked keys and CA-only entries are always refused. A refusal names the
 * host, the fingerprint seen and what known_hosts holds.
 */
import { showCommand } from '../shell.ts';
import {
  appendKnownHostsLine,
  checkHostKey,
  fingerprintSha256,
  formatKnownHostsLine,
  keyTypeOf,
  loadKnownHostsFiles,
  preferredHostKeyAlgorithms,
} from './known-hosts-file.ts';
import type { KnownHostsEntry } from './known-hosts-file.ts';
import type { SshEndpoint } from './ssh-transport.ts';

import type { HostKeyChecking } from '../../config/model.ts';

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
  /** Write new entries hashed (HashKnownHosts). */
  hashNew?: boolean;
  /** Warnings the run must show (mode off, malformed lines). */
  onWarning?: (message: string) => void;
}

/** What to do about a changed key: check, then the exact command that removes the old line. */
function changedKeyHint(expected: readonly { file: string }[], name: string): string {
  const commands = [...new Set(expected.map((e) => e.file))].map((file) =>
    showCommand(['ssh-keygen', '-f', file, '-R', name]),
  );
  return `someone may be intercepting the connection, or the host was reinstalled; check out of band, then remove the old line: ${commands.join('; ')}`;
}

function displayName(e: SshEndpoint): string {
  return e.port === 22 ? e.keyName : `[${e.keyName}]:${String(e.port)}`;
}

export class HostKeyPolicy {
  private readonly options: HostKeyPolicyOptions;
  private entries: KnownHostsEntry[];
  private writing: Promise<void> = Promise.resolve();

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
    const list = preferredHostKeyAlgorithms(this.entries, endpoint.keyName, endpoint.port);
    return list.length ? list : undefined;
  }

  async decide(endpoint: SshEndpoint, blob: Buffer): Promise<HostKeyDecision> {
    const fingerprint = fingerprintSha256(blob);
    const type = keyTypeOf(blob);
    const name = displayName(endpoint);
    const verdict = checkHostKey(
      this.entries,
      { host: endpoint.keyName, port: endpoint.port },
      blob,
    );
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
        if (this.options.mode === 'accept-new') {
          await this.record(endpoint, blob);
          this.options.onWarning?.(
            `added ${name} (${type} ${fingerprint}) to ${this.options.files[0] ?? 'known_hosts'}`,
          );
          return { accept: true, reason: 'new, recorded', fingerprint };
        }
        this.options.onWarning?.(
          `accepted the unknown host key of ${name} (${type} ${fingerprint}) without checking: host_key_checking is off`,
        );
        return { accept: true, reason: 'unknown, accepted (off)', fingerprint };
    }
  }

  /** accept-new: append (serialised, so parallel connections do not interleave lines). */
  private record(endpoint: SshEndpoint, blob: Buffer): Promise<void> {
    const file = this.options.files[0];
    if (file === undefined) return Promise.resolve();
    const line = formatKnownHostsLine({
      host: endpoint.keyName,
      port: endpoint.port,
      blob,
      hashed: this.options.hashNew ?? false,
    });
    this.writing = this.writing.then(() => {
      appendKnownHostsLine(file, line);
      // re-read the file, so the new line is known with its real line number
      this.entries = [
        ...this.entries.filter((e) => e.file !== file),
        ...loadKnownHostsFiles([file]).entries,
      ];
    });
    return this.writing;
  }
}
