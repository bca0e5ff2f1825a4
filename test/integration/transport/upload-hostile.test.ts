/**
 * An upload's read-back (src/transport/ssh/upload.ts) against a hostile SFTP server (ssh2's, in
 * process): whatever size it claims for the file and however much it would send, the controller
 * reads at most what it wrote (plus one byte to see the end), and the upload fails. A 20-byte
 * upload; a host that answers FSTAT with a lie and serves data for ever.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import ssh2 from 'ssh2';
import type { AddressInfo } from 'node:net';
import { UploadError } from '../../../src/transport/errors.ts';
import { uploadVerified } from '../../../src/transport/ssh/upload.ts';

const { Server, Client, utils } = ssh2;
const STATUS = utils.sftp.STATUS_CODE;
let server: InstanceType<typeof Server>;
let port = 0;
let served = 0;
let lieSize = 0;

beforeAll(async () => {
  const { private: privateKey } = utils.generateKeyPairSync('ed25519');
  server = new Server({ hostKeys: [privateKey] }, (client) => {
    client.on('authentication', (ctx) => ctx.accept());
    client.on('ready', () => {
      client.on('session', (accept) => {
        const session = accept();
        session.on('sftp', (acceptSftp) => {
          const sftp = acceptSftp();
          let n = 0;
          const handles = new Map<string, string>();
          sftp.on('OPEN', (id, _filename, flags) => {
            const h = Buffer.from(String(n++));
            handles.set(h.toString(), (flags & 1) !== 0 && (flags & 2) === 0 ? 'read' : 'write');
            sftp.handle(id, h);
          });
          sftp.on('WRITE', (id) => sftp.status(id, STATUS.OK));
          sftp.on('FSETSTAT', (id) => sftp.status(id, STATUS.OK));
          sftp.on('CLOSE', (id) => sftp.status(id, STATUS.OK));
          sftp.on('MKDIR', (id) => sftp.status(id, STATUS.OK));
          sftp.on('STAT', (id) =>
            sftp.attrs(id, { mode: 0o40700, size: 0, uid: 0, gid: 0, atime: 0, mtime: 0 }),
          );
          // the lie: "the file is empty / size unknown"
          sftp.on('FSTAT', (id) =>
            sftp.attrs(id, { mode: 0o100644, size: lieSize, uid: 0, gid: 0, atime: 0, mtime: 0 }),
          );
          // ...and then data for ever
          const chunk = Buffer.alloc(32 * 1024, 0x41);
          sftp.on('READ', (id, _h, _off, len) => {
            const b = chunk.subarray(0, Math.min(len, chunk.length));
            served += b.length;
            sftp.data(id, b);
          });
          sftp.on('REMOVE', (id) => sftp.status(id, STATUS.OK));
          sftp.on('EXTENDED', (id) => sftp.status(id, STATUS.OK));
          sftp.on('REALPATH', (id, p) =>
            sftp.name(id, [{ filename: `/home/x/${p}`, longname: '', attrs: {} as never }]),
          );
        });
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => {
  server.close();
});

it.each([
  ['size 0', 0],
  ['the right size, then more', 20],
  ['4 GB', 4e9],
])(
  'a host that claims %s: the upload fails, having read at most what was written',
  async (_what, size) => {
    lieSize = size;
    served = 0;
    const client = new Client();
    await new Promise<void>((resolve, reject) => {
      client.on('ready', () => resolve()).on('error', reject);
      client.connect({ host: '127.0.0.1', port, username: 'u', password: 'p' });
    });
    const content = Buffer.from('twenty bytes of .ko\n');
    const sha256 = createHash('sha256').update(content).digest('hex');
    const started = Date.now();
    const err = await uploadVerified(
      { host: 'hostile', connect: () => Promise.resolve(client) },
      content,
      '~/.kpfleet/stage/x/a.ko',
      { sha256, timeoutMs: 10_000, makeFolders: true },
    ).catch((e: unknown) => e);
    client.end();
    expect(err).toBeInstanceOf(UploadError);
    expect(String(err)).toMatch(/sha256 mismatch/);
    expect(served).toBeLessThanOrEqual(content.length + 1);
    expect(Date.now() - started).toBeLessThan(5000);
  },
);
