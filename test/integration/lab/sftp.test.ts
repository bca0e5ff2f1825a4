/**
 * The lab's own SFTP server (lab/sftp.ts, SPEC.md "SFTP in the lab"): what the demo uses on every
 * machine, and every lab on a machine without OpenSSH's sftp-server. It must answer kpfleet's
 * upload as sshd's sftp-server does: the same scenarios run against the lab's usual SFTP
 * (ssh-transport-lab.test.ts) and real sshd (e2e).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { SFTPWrapper } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../../lab/lab.ts';
import { labHarness, transportsTo, uploadScenarios } from '../../transport-scenarios.ts';
import type { TransportHarness } from '../../transport-scenarios.ts';

let lab: Lab;
const execs: string[] = [];
beforeAll(async () => {
  lab = await Lab.start({ hosts: 3, sftp: 'in-process', simProfile: { TIME_SCALE: '0.02' } });
  lab.onExec = (host, command) => execs.push(`${host.name}: ${command}`);
});
afterAll(async () => {
  await lab.close();
});

const harness = (): TransportHarness => labHarness(() => lab);

const transport = transportsTo(harness);
uploadScenarios(harness, transport);

describe('in-process SFTP', () => {
  const content = Buffer.from('KPSIM-KO 1\nname=livepatch_x\n');
  const sha256 = 'b'.repeat(64);

  it('writes only where a session could: elsewhere is refused and nothing is written', async () => {
    const [a] = harness().hosts;
    await expect(transport(a).upload(content, '/etc/kpfleet-x.ko', { sha256 })).rejects.toThrow(
      /upload of \/etc\/kpfleet-x\.ko failed/,
    );
    expect(existsSync(join(lab.host(a).sim.root, 'etc/kpfleet-x.ko'))).toBe(false);
    expect(existsSync('/etc/kpfleet-x.ko')).toBe(false);
  });

  it('is seen by onExec as `subsystem sftp`, and writes into that host alone', async () => {
    const [, b, c] = harness().hosts;
    execs.length = 0;
    const { createHash } = await import('node:crypto');
    const sum = createHash('sha256').update(content).digest('hex');
    await transport(b).upload(content, '/var/tmp/only-b.ko', { sha256: sum });
    expect(execs).toContain(`${b}: subsystem sftp`);
    expect(readFileSync(join(lab.host(b).sim.root, 'var/tmp/only-b.ko'))).toEqual(content);
    expect(existsSync(join(lab.host(c).sim.root, 'var/tmp/only-b.ko'))).toBe(false);
  });
});

/** The machine's OpenSSH sftp-server, where it has one (as lab.ts looks for it). */
const HAS_SFTP_SERVER = [
  '/usr/lib/openssh/sftp-server',
  '/usr/libexec/openssh/sftp-server',
  '/usr/libexec/sftp-server',
].some((f) => existsSync(f));

/** One SFTP session to `host` of `l`, and a way to call it that answers the error's text. */
async function session(l: Lab, host: string) {
  const h = l.host(host);
  const client = new ssh2.Client();
  await new Promise<void>((resolve, reject) => {
    client.on('ready', resolve).on('error', reject);
    client.connect({
      host: h.address,
      port: h.port,
      username: l.user,
      privateKey: readFileSync(l.keyPath),
    });
  });
  const sftp = await new Promise<SFTPWrapper>((resolve, reject) => {
    client.sftp((err, s) => (err ? reject(err) : resolve(s)));
  });
  const said = (fn: (cb: (err?: Error | null, v?: unknown) => void) => void) =>
    new Promise<string>((resolve) => {
      fn((err, v) => {
        resolve(err ? `error: ${err.message}` : Buffer.isBuffer(v) ? 'handle' : 'ok');
      });
    });
  return { sftp, said, end: () => client.end() };
}

// the same requests, answered alike by OpenSSH's sftp-server (where the machine has one) and the
// lab's own: what kpfleet's upload sees must not depend on which one a machine has
describe.each([
  ['in-process', true],
  ['openssh', HAS_SFTP_SERVER],
] as const)('SFTP served %s answers as sftp-server does', (sftp, here) => {
  let l: Lab;
  beforeAll(async () => {
    if (here) l = await Lab.start({ hosts: 1, sftp, simProfile: { TIME_SCALE: '0.02' } });
  });
  afterAll(async () => {
    if (here) await l.close();
  });

  it.runIf(here)('a plain rename over an existing file fails and leaves both files', async () => {
    const root = l.host('lab001').sim.root;
    writeFileSync(join(root, 'var/tmp/a'), 'a');
    writeFileSync(join(root, 'var/tmp/b'), 'b');
    const s = await session(l, 'lab001');
    try {
      expect(await s.said((cb) => s.sftp.rename('/var/tmp/a', '/var/tmp/b', cb))).toBe(
        'error: Failure',
      );
      expect(readFileSync(join(root, 'var/tmp/b'), 'utf8')).toBe('b');
      expect(readFileSync(join(root, 'var/tmp/a'), 'utf8')).toBe('a');
    } finally {
      s.end();
    }
  });

  it.runIf(here)('errors are a status with its usual text; the session goes on', async () => {
    const s = await session(l, 'lab001');
    try {
      expect(await s.said((cb) => s.sftp.open('/var/tmp/none/x', 'r', cb))).toBe(
        'error: No such file',
      );
      expect(await s.said((cb) => s.sftp.unlink('/var/tmp/none', cb))).toBe('error: No such file');
      // reading a file opened only for writing, or a folder
      const wo = await new Promise<Buffer>((resolve, reject) => {
        s.sftp.open('/var/tmp/wo', 'w', (err, h) => (err ? reject(err) : resolve(h)));
      });
      expect(await s.said((cb) => s.sftp.read(wo, Buffer.alloc(8), 0, 8, 0, cb))).toMatch(
        /^error: /,
      );
      const dir = await new Promise<Buffer>((resolve, reject) => {
        s.sftp.open('/var/tmp', 'r', (err, h) => (err ? reject(err) : resolve(h)));
      });
      expect(await s.said((cb) => s.sftp.read(dir, Buffer.alloc(8), 0, 8, 0, cb))).toBe(
        'error: Failure',
      );
      // a folder that is there
      expect(await s.said((cb) => s.sftp.mkdir('/var/tmp', cb))).toBe('error: Failure');
      // still answering
      expect(await s.said((cb) => s.sftp.stat('/var/tmp/wo', cb))).toBe('ok');
    } finally {
      s.end();
    }
  });
});

describe('in-process SFTP, on this machine as the test runner', () => {
  it('never writes through a symlink in the host folders to outside them', async () => {
    const outside = mkdtempSync(join(lab.dir, 'outside-'));
    const root = lab.host('lab001').sim.root;
    symlinkSync(outside, join(root, 'var/tmp/out'));
    symlinkSync(join(outside, 'new'), join(root, 'var/tmp/dangling'));
    const s = await session(lab, 'lab001');
    try {
      expect(await s.said((cb) => s.sftp.writeFile('/var/tmp/out/x', 'x', cb))).toMatch(/^error: /);
      expect(await s.said((cb) => s.sftp.writeFile('/var/tmp/dangling', 'x', cb))).toMatch(
        /^error: /,
      );
      expect(await s.said((cb) => s.sftp.mkdir('/var/tmp/out/d', cb))).toMatch(/^error: /);
      expect(existsSync(join(outside, 'x'))).toBe(false);
      expect(existsSync(join(outside, 'new'))).toBe(false);
      expect(existsSync(join(outside, 'd'))).toBe(false);
      // a link that stays in the host's folders is followed
      symlinkSync('../../tmp', join(root, 'var/tmp/to-tmp'));
      expect(await s.said((cb) => s.sftp.writeFile('/var/tmp/to-tmp/y', 'y', cb))).toBe('ok');
      expect(readFileSync(join(root, 'tmp/y'), 'utf8')).toBe('y');
    } finally {
      s.end();
      rmSync(outside, { recursive: true, force: true });
    }
  });
});
