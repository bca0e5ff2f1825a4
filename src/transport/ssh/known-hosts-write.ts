/**
 * A new known_hosts line as `ssh` writes it for a host it accepts (`write_host_entry`), the name
 * hashed when HashKnownHosts asks for it. Appending it to the file is in known-hosts-file.ts.
 */
import { knownHostsNameProblem } from '../../util/names.ts';
import { keyTypeOf } from './known-hosts-keys.ts';
import { hashHostName, lookupName } from './known-hosts-names.ts';
import type { HostKeyTarget } from './known-hosts-types.ts';

export interface KnownHostsLineInput extends HostKeyTarget {
  blob: Uint8Array;
  /** Write the name hashed (`HashKnownHosts yes`), with a random salt unless `salt` is given. */
  hashed: boolean;
  salt?: Uint8Array;
}

/**
 * A known_hosts line as `ssh` writes it for a new host (`write_host_entry`): the lowercased name
 * (`host`, `[host]:port` or the HostKeyAlias), or its hash, then `type base64`; no newline.
 * @throws TypeError for a name that is not of host-name form (util/names.ts)
 */
export function formatKnownHostsLine(input: KnownHostsLineInput): string {
  const type = keyTypeOf(input.blob);
  if (type === undefined) throw new TypeError('not an SSH public-key blob');
  const name = lookupName(input);
  const problem = knownHostsNameProblem(name);
  if (problem !== undefined)
    throw new TypeError(
      `cannot record host name ${JSON.stringify(name)} in known_hosts: ${problem}`,
    );
  const field = input.hashed ? hashHostName(name, input.salt) : name;
  return `${field} ${type} ${Buffer.from(input.blob).toString('base64')}`;
}
