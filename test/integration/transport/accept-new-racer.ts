/**
 * One side of the two-process accept-new race (accept-new.test.ts): builds a HostKeyPolicy on the
 * known_hosts file (which reads it), says `ready`, waits for `go` on stdin, then decides on one
 * key for the shared name and prints the decision as JSON.
 *   node --import tsx accept-new-racer.ts <known_hosts> <name> <base64 key blob>
 */
import { HostKeyPolicy } from '../../../src/transport/ssh/host-key-policy.ts';

const [file, name, blob] = process.argv.slice(2);
if (file === undefined || name === undefined || blob === undefined) throw new Error('usage');
const policy = new HostKeyPolicy({ files: [file], mode: 'accept-new' });
process.stdout.write('ready\n');
process.stdin.once('data', () => {
  void policy
    .decide({ keyName: name, address: name, port: 22, user: 'x' }, Buffer.from(blob, 'base64'))
    .then((d) => {
      process.stdout.write(JSON.stringify(d) + '\n');
      process.stdin.destroy();
    });
});
