/**
 * Uploads over SSH: the file written by SFTP beside its target under a temporary name, then its
 * sha256 checked on the host and the file renamed into place in one exec, so a damaged or partial
 * file never reaches the target; what is left of a failed upload is removed.
 */
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type { Client as ClientType } from 'ssh2';
import { assertRemotePath, quote } from '../shell.ts';
import { ConnectionLostError, UploadError } from '../errors.ts';
import type { ExecOptions, ExecResult, UploadOptions } from '../transport.ts';
import { errText } from './open-client.ts';

/** The connection an upload goes through, and the exec that checks and renames the file. */
export interface UploadVia {
  host: string;
  connect(): Promise<ClientType>;
  exec(command: string, options?: ExecOptions): Promise<ExecResult>;
}

/**
 * Puts `content` at `remotePath` on the host behind `via`: written beside it under a temporary
 * name, then checked and renamed in one exec.
 */
export async function uploadVerified(
  via: UploadVia,
  content: Buffer,
  remotePath: string,
  options: UploadOptions,
): Promise<void> {
  assertRemotePath(remotePath);
  if (!/^[0-9a-f]{64}$/.test(options.sha256))
    throw new UploadError(`bad sha256 for ${remotePath}`, { host: via.host, step: 'upload' });
  const dir = posix.dirname(remotePath);
  const temp = posix.join(
    dir,
    `.${posix.basename(remotePath)}.kpfleet-${randomBytes(6).toString('hex')}.part`,
  );
  const client = await via.connect();
  try {
    await sftpWrite(via.host, client, temp, content, options.mode ?? 0o600);
  } catch (err) {
    await via.exec(`rm -f -- ${quote(temp)}`, { step: 'upload cleanup' }).catch(() => undefined);
    if (err instanceof ConnectionLostError) throw err;
    throw new UploadError(`upload of ${remotePath} failed: ${errText(err)}`, {
      host: via.host,
      step: 'upload',
      cause: err,
      // SFTP reports ENOSPC as a bare "Failure"
      hint: /space|failure/i.test(errText(err))
        ? 'is the disk full on the host?'
        : 'check that the folder exists and the login user may write to it',
    });
  }
  // Checked and put in place in one exec: a damaged or partial file never reaches remotePath.
  const check = [
    'set -e',
    `sum=$(sha256sum -- ${quote(temp)} | cut -d' ' -f1)`,
    `if [ "$sum" != ${quote(options.sha256)} ]; then rm -f -- ${quote(temp)}; echo "sha256 mismatch: got $sum" >&2; exit 3; fi`,
    `mv -f -- ${quote(temp)} ${quote(remotePath)}`,
  ].join('\n');
  const r = await via.exec(check, {
    step: 'upload verify',
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
  });
  if (r.code !== 0) {
    throw new UploadError(
      `upload of ${remotePath} was not put in place: ${r.stderr.trim().slice(0, 500) || `exit ${String(r.code)}`}`,
      { host: via.host, step: 'upload' },
    );
  }
}

function sftpWrite(
  host: string,
  client: ClientType,
  path: string,
  content: Buffer,
  mode: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const onLost = (): void =>
      reject(
        new ConnectionLostError(`the connection to ${host} was lost during upload`, {
          host: host,
          step: 'upload',
        }),
      );
    client.once('close', onLost);
    const done = (err?: Error | null): void => {
      client.removeListener('close', onLost);
      if (err) reject(err);
      else resolve();
    };
    try {
      client.sftp((err, sftp) => {
        if (err) {
          done(err);
          return;
        }
        sftp.writeFile(path, content, { mode }, (e) => {
          sftp.end();
          done(e ?? null);
        });
      });
    } catch (err) {
      done(err instanceof Error ? err : new Error(String(err)));
    }
  });
}
