/**
 * What the loader finds on disk for the connection checks (stat only, never a read): why a private
 * key file cannot be one, and, for the inventory's key paths (which ssh resolves in the working
 * directory, as Ansible hands them over), whether a relative one exists only beside kpfleet.yml.
 */
import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import type { ConnectionContext } from '../desired/connection.ts';
import { PRIVATE_KEY_MAX_BYTES, regularFileProblem } from '../util/regular-file.ts';
import type { InventoryConnectionInput } from './inventory-connection.ts';

/**
 * A private key file as written (kpfleet.yml, the inventory): why it cannot be one, from stat alone
 * (never opened: a FIFO would hang validate); once per path. Missing or unreadable is not a
 * finding: ssh skips a missing identity, and a CI job that only validates has no keys.
 */
export function keyFileLooker(
  resolvePath: (written: string) => string,
): (written: string) => string | undefined {
  const seen = new Map<string, string | undefined>();
  return (written) => {
    const path = resolvePath(written);
    if (seen.has(path)) return seen.get(path);
    let why: string | undefined;
    try {
      why = regularFileProblem(path, PRIVATE_KEY_MAX_BYTES);
      if (why?.endsWith(' bytes')) why += ', more than the 64 KiB a private key may be';
    } catch {
      why = undefined;
    }
    seen.set(path, why);
    return why;
  };
}

/** The facts about the inventory's connection variables that only the loader can gather. */
export function inventoryConnectionFacts(
  context: ConnectionContext,
  resolveProjectPath: (written: string) => string,
  trustCommands: boolean,
): Omit<InventoryConnectionInput, 'touched'> {
  return {
    env: context.env,
    keyFile: keyFileLooker(context.resolveKeyPath),
    keyOnlyInProject: (written) =>
      !isAbsolute(written) &&
      !written.startsWith('~') &&
      !existsSync(context.resolveKeyPath(written)) &&
      existsSync(resolveProjectPath(written)),
    trustCommands,
  };
}
