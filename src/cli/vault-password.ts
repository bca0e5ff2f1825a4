/**
 * The Ansible Vault password of a run: from `--vault-password-file FILE`, else from
 * ANSIBLE_VAULT_PASSWORD_FILE, read as ansible-core reads it. A plain file: its content with
 * surrounding whitespace removed (so a trailing newline goes). An executable file: run, as Ansible
 * runs it (no arguments, no shell, stdin and stderr left to the user so it may prompt), and its
 * standard output taken with surrounding line breaks removed. The path comes only from the command
 * line or the environment, never from a project file, so a pull request cannot choose what runs;
 * and an executable file inside the project (which a pull request can add or change) is refused,
 * never run. Messages name the file, never the password.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from '../errors.ts';
import type { VaultKey } from '../inventory/vault-yaml.ts';
import { readRegularFile } from '../util/regular-file.ts';
import type { CliIo } from './io.ts';

/** How long a password script may run (it may prompt on the terminal). */
const SCRIPT_TIMEOUT_MS = 120_000;
const MAX_PASSWORD_BYTES = 64 * 1024;

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Python's bytes.strip(chars): `chars` removed from both ends. */
function strip(b: Buffer, chars: string): Buffer {
  let start = 0;
  let end = b.length;
  while (start < end && chars.includes(String.fromCharCode(b[start] ?? 0))) start++;
  while (end > start && chars.includes(String.fromCharCode(b[end - 1] ?? 0))) end--;
  return b.subarray(start, end);
}

function runScript(path: string, shown: string): Buffer {
  const r = spawnSync(path, [], {
    stdio: ['inherit', 'pipe', 'inherit'],
    timeout: SCRIPT_TIMEOUT_MS,
    maxBuffer: MAX_PASSWORD_BYTES,
    shell: false,
  });
  if (r.error) {
    throw new UsageError(`vault password script ${shown} could not be run: ${r.error.message}`, {
      hint: 'if it is not a script, clear its executable bit (chmod a-x) and kpfleet reads it as a file',
    });
  }
  if (r.status !== 0) {
    throw new UsageError(
      `vault password script ${shown} failed (${r.signal ?? `exit ${String(r.status)}`})`,
    );
  }
  return strip(r.stdout, '\r\n');
}

/**
 * Reads the password the command line or the environment points at; none when neither does.
 * `inProject` says whether a file belongs to the project (config/project-files.ts).
 */
export function readVaultPassword(
  opts: { vaultPasswordFile?: string },
  io: CliIo,
  inProject: (path: string) => boolean,
): VaultKey {
  const fromOption = opts.vaultPasswordFile;
  const fromEnv = io.env['ANSIBLE_VAULT_PASSWORD_FILE'];
  const written = fromOption ?? (fromEnv === '' ? undefined : fromEnv);
  if (written === undefined) return { password: undefined };
  const shown = fromOption === undefined ? `${written} (ANSIBLE_VAULT_PASSWORD_FILE)` : written;
  const home = io.env['HOME'];
  const expanded =
    home !== undefined && (written === '~' || written.startsWith('~/'))
      ? join(home, written.slice(1))
      : written;
  const path = resolve(io.cwd, expanded);
  try {
    statSync(path);
  } catch {
    throw new UsageError(`vault password file ${shown} not found`);
  }
  let password: Buffer;
  if (isExecutable(path) && inProject(path)) {
    throw new UsageError(
      `vault password file ${shown} is executable and inside the project: kpfleet does not run a file that a pull request can add or change`,
      {
        hint: 'keep the password script outside the repository (e.g. ~/.config/kpfleet/vault-pass) and name it there; a plain password file is read, not run (chmod a-x)',
      },
    );
  }
  if (isExecutable(path)) password = runScript(path, shown);
  else {
    try {
      password = strip(readRegularFile(path, { maxBytes: MAX_PASSWORD_BYTES }), ' \t\n\r\v\f');
    } catch (e) {
      throw new UsageError(
        `cannot read vault password file ${shown}: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }
  if (password.length === 0)
    throw new UsageError(`vault password file ${shown} gives an empty password`);
  return { password };
}
