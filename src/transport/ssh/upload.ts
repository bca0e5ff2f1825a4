/**
 * Uploads over SSH, in one SFTP session: the missing folders made where asked (private to the login
 * user), the file written beside its target under a temporary name, read back and its sha256
 * checked, then renamed into place (OpenSSH's posix-rename: atomic, replaces the target), so a
 * damaged or partial file never reaches the target; what is left of a failed upload is removed in
 * the same session. No exec: an upload costs the host one session.
 */
import { createHash, randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type { Client as ClientType, SFTPWrapper } from 'ssh2';
import { assertRemotePath } from '../shell.ts';
import { CommandTimeoutError, ConnectionLostError, UploadError } from '../errors.ts';
import type { UploadOptions } from '../transport.ts';
import { errText } from './open-client.ts';

/** The connection an upload goes through. */
export interface UploadVia {
  host: string;
  connect(): Promise<ClientType>;
}

/** A path of the login user's home (`~/…`) as SFTP takes it (relative: sftp-server starts there). */
export function sftpPath(remotePath: string): string {
  const home = remotePath.startsWith('~/');
  const path = home ? remotePath.slice(2) : remotePath;
  assertRemotePath(home ? `/${path}` : path);
  if (home && (path === '' || path.startsWith('/')))
    assertRemotePath('', 'remote path below the home folder');
  return path;
}

/**
 * Puts `content` at `remotePath` (absolute, or `~/…` in the login user's home) on the host behind
 * `via`: written beside it under a temporary name, read back and checked, then renamed into place,
 * all in one SFTP session. Resolves to the file's absolute path with symlinks resolved (as
 * `pwd -P` would say it).
 */
export async function uploadVerified(
  via: UploadVia,
  content: Buffer,
  remotePath: string,
  options: UploadOptions,
): Promise<string> {
  const path = sftpPath(remotePath);
  if (!/^[0-9a-f]{64}$/.test(options.sha256))
    throw new UploadError(`bad sha256 for ${remotePath}`, { host: via.host, step: 'upload' });
  const client = await via.connect();
  try {
    return await withSftp(via.host, client, options.timeoutMs, (sftp) =>
      putChecked(via.host, sftp, content, path, options),
    );
  } catch (err) {
    if (err instanceof ConnectionLostError || err instanceof CommandTimeoutError) throw err;
    if (err instanceof UploadError) throw err;
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
}

/** The upload's steps on an open SFTP session; a temporary file left by a failure is removed. */
async function putChecked(
  host: string,
  sftp: SFTPWrapper,
  content: Buffer,
  path: string,
  options: UploadOptions,
): Promise<string> {
  const dir = posix.dirname(path);
  if (options.makeFolders === true) await makeFolders(sftp, dir);
  const temp = posix.join(
    dir,
    `.${posix.basename(path)}.kpfleet-${randomBytes(6).toString('hex')}.part`,
  );
  try {
    await call<undefined>((cb) =>
      sftp.writeFile(temp, content, { mode: options.mode ?? 0o600 }, cb),
    );
    // read back: what the host's file system holds is what is checked
    const back = await call<Buffer>((cb) => sftp.readFile(temp, cb));
    const sum = createHash('sha256').update(back).digest('hex');
    if (sum !== options.sha256)
      throw new UploadError(`upload of ${path} was not put in place: sha256 mismatch: got ${sum}`, {
        host,
        step: 'upload',
      });
    await rename(sftp, temp, path);
  } catch (err) {
    await call<undefined>((cb) => sftp.unlink(temp, cb)).catch(() => undefined);
    throw err;
  }
  return call<string>((cb) => sftp.realpath(path, cb));
}

/** `mkdir -p -m 700`: each missing folder of `dir` made private; one that exists is left as it is. */
async function makeFolders(sftp: SFTPWrapper, dir: string): Promise<void> {
  const parts = dir.split('/');
  for (let i = 1; i <= parts.length; i++) {
    const at = parts.slice(0, i).join('/');
    if (at === '' || at === '.') continue;
    try {
      await call<undefined>((cb) => sftp.mkdir(at, { mode: 0o700 }, cb));
    } catch (err) {
      const st = await call<{ isDirectory(): boolean }>((cb) => sftp.stat(at, cb)).catch(
        () => undefined,
      );
      if (st?.isDirectory() !== true) throw err;
    }
  }
}

/** Into place, replacing the target: OpenSSH's posix-rename, else remove then rename. */
async function rename(sftp: SFTPWrapper, from: string, to: string): Promise<void> {
  try {
    await call<undefined>((cb) => sftp.ext_openssh_rename(from, to, cb));
    return;
  } catch (err) {
    if (!/not support/i.test(errText(err))) throw err;
  }
  await call<undefined>((cb) => sftp.unlink(to, cb)).catch(() => undefined);
  await call<undefined>((cb) => sftp.rename(from, to, cb));
}

/** An SFTP call as a promise (ssh2 also throws synchronously for a missing extension). */
function call<T>(fn: (cb: (err?: Error | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    try {
      fn((err, value) => {
        if (err) reject(err);
        else resolve(value as T);
      });
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

/**
 * Runs `work` on one SFTP session of `client`, ended after; the connection's end or `timeoutMs`
 * ends the wait with ConnectionLostError or CommandTimeoutError.
 */
function withSftp<T>(
  host: string,
  client: ClientType,
  timeoutMs: number | undefined,
  work: (sftp: SFTPWrapper) => Promise<T>,
): Promise<T> {
  return new Promise((resolve, reject) => {
    let session: SFTPWrapper | undefined;
    let timer: NodeJS.Timeout | undefined;
    const onLost = (): void =>
      finish(
        new ConnectionLostError(`the connection to ${host} was lost during upload`, {
          host,
          step: 'upload',
        }),
      );
    const finish = (err: unknown, value?: T): void => {
      client.removeListener('close', onLost);
      clearTimeout(timer);
      session?.end();
      if (err === undefined) resolve(value as T);
      else reject(err instanceof Error ? err : new Error(errText(err)));
    };
    client.once('close', onLost);
    if (timeoutMs !== undefined)
      timer = setTimeout(
        () =>
          finish(
            new CommandTimeoutError(`upload did not finish within ${String(timeoutMs)} ms`, {
              host,
              step: 'upload',
            }),
          ),
        timeoutMs,
      );
    try {
      client.sftp((err, sftp) => {
        if (err) {
          finish(err);
          return;
        }
        session = sftp;
        work(sftp).then(
          (v) => finish(undefined, v),
          (e: unknown) => finish(e),
        );
      });
    } catch (err) {
      finish(err);
    }
  });
}
