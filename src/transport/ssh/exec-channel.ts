/**
 * One command run on an open SSH connection: its stdout, stderr, exit code or signal, bounded
 * output, a timeout that kills it, a channel the server refused asked for again (the command
 * never started), and the errors that say why it did not finish (connection lost, timeout,
 * too much output, sudo wanting a password).
 */
import type { Client as ClientType, ClientChannel } from 'ssh2';
import {
  CommandTimeoutError,
  ConnectionLostError,
  OutputLimitError,
  SudoPasswordError,
} from '../errors.ts';
import type { ExecResult } from '../transport.ts';
import { BoundedOutput } from './bounded-output.ts';
import { errText } from './open-client.ts';

export interface ChannelOptions {
  /** Inventory name, for errors. */
  host: string;
  step: string;
  timeoutMs: number;
  /** The command went through `sudo -n` (become asked for, and the host's become is sudo). */
  sudo: boolean;
  /** How the connection was lost, once it was. */
  lost: () => Error | undefined;
}

export interface ExecChannelOptions extends ChannelOptions {
  maxOutputBytes: number;
  stdin?: string | Buffer | undefined;
  onStdout?: ((chunk: Buffer) => void) | undefined;
}

/** sudo -n answered that it wants a password (or a terminal to ask one on). */
export function sudoRefused(sudo: boolean, code: number | null, stderr: string): boolean {
  return (
    sudo && code === 1 && /^sudo: (a password is required|a terminal is required)/m.test(stderr)
  );
}

/** Why a command could not start: the connection was lost, or the channel was not opened. */
export function notOpened(options: ChannelOptions, e: Error): Error {
  const { host, step } = options;
  return (
    options.lost() ??
    new ConnectionLostError(`cannot run ${step} on ${host}: ${e.message}`, { host, step, cause: e })
  );
}

/** Runs `full` (already wrapped for become) on `client`, to its end. */
export async function execOnChannel(
  client: ClientType,
  full: string,
  options: ExecChannelOptions,
): Promise<ExecResult> {
  const { host, step, timeoutMs, lost, stdin } = options;
  const maxOutput = options.maxOutputBytes;
  const started = performance.now();
  const result = await new Promise<ExecResult>((resolve, reject) => {
    const output = new BoundedOutput(maxOutput);
    let done = false;
    const finish = (fn: () => void): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      client.removeListener('close', onLost);
      fn();
    };
    const onLost = (): void => {
      finish(() =>
        reject(
          new ConnectionLostError(`the connection to ${host} was lost during ${step}`, {
            host,
            step,
          }),
        ),
      );
    };
    client.once('close', onLost);
    let channel: ClientChannel | undefined;
    const stop = (): void => {
      try {
        channel?.signal('KILL');
        channel?.close();
      } catch {
        // the channel is already gone
      }
    };
    // too much output: stop reading and end the command, only this exec fails
    const overflow = (): void =>
      finish(() => {
        stop();
        reject(new OutputLimitError({ host, step, limitBytes: maxOutput }));
      });
    const timer = setTimeout(() => {
      finish(() => {
        stop();
        reject(
          new CommandTimeoutError(
            `${step} did not finish within ${String(Math.round(timeoutMs / 1000))} s`,
            { host, step },
          ),
        );
      });
    }, timeoutMs);
    let refusals = 0;
    const open = (): void => {
      try {
        client.exec(full, (e, stream) => {
          if (e) {
            // The server refused the channel (sessions still closing count against its
            // MaxSessions): the command never started, so asking again is safe.
            if (/Channel open failure/i.test(e.message) && refusals < 8 && !done) {
              refusals++;
              setTimeout(open, 25 * 2 ** Math.min(refusals, 5));
              return;
            }
            finish(() => reject(notOpened(options, e)));
            return;
          }
          channel = stream;
          stream.on('data', (c: Buffer) => {
            if (!output.add('stdout', c)) overflow();
            else if (!done) options.onStdout?.(c);
          });
          stream.stderr.on('data', (c: Buffer) => {
            if (!output.add('stderr', c)) overflow();
          });
          stream.on('close', (code: number | null | undefined, signal: string | undefined) => {
            finish(() =>
              resolve({
                code: code ?? null,
                signal: signal ?? null,
                stdout: output.stdout(),
                stderr: output.stderr(),
                durationMs: performance.now() - started,
              }),
            );
          });
          stream.end(stdin ?? undefined);
        });
      } catch (e) {
        finish(() =>
          reject(
            lost() ??
              new ConnectionLostError(`cannot run ${step} on ${host}: ${errText(e)}`, {
                host,
                step,
              }),
          ),
        );
      }
    };
    open();
  });
  const gone = lost();
  if (result.code === null && result.signal === null && gone) throw gone;
  if (sudoRefused(options.sudo, result.code, result.stderr))
    throw new SudoPasswordError({ host, step });
  return result;
}
