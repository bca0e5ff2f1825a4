/**
 * The lab's replay mode (lab/replay.ts, SPEC.md "Replay") carries a whole `kpfleet apply`: the
 * lock held for the run, the uploads, the install and load, the facts read after them; every
 * host ends `changed` although each command ran for real on one host only.
 */
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'ssh2';
import type { SFTPWrapper } from 'ssh2';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Lab } from '../../../lab/lab.ts';
import type { LabHost } from '../../../lab/lab.ts';
import { replayKey } from '../../../lab/replay.ts';
import { applyInLab, EL9, writeLabProject } from './apply-in-lab.ts';

const HOSTS = 5;
let lab: Lab;

beforeAll(async () => {
  lab = await Lab.start({ hosts: HOSTS, replay: true, simProfile: { TIME_SCALE: '0.02' } });
  const first = lab.hosts[0];
  if (!first) throw new Error('no lab host');
  const ko = join(lab.dir, 'livepatch-cve.ko');
  first.sim.makeModule(ko, { name: 'livepatch_cve', kernel: EL9 });
  const sha = createHash('sha256').update(readFileSync(ko)).digest('hex');
  writeLabProject(lab, [
    'patches:',
    `  cve: { module: livepatch_cve, kernel: ${EL9}, file: livepatch-cve.ko, sha256: ${sha} }`,
    'groups:',
    '  all: { loaded: [cve] }',
  ]);
}, 60_000);
afterAll(async () => {
  await lab.close();
});

it('masks only the parts of a command that differ between hosts of one run', () => {
  expect(replayKey("owner=a\nsince=2026-12-05T11:10:30.123Z\nrun=r1'")).toBe(
    "owner=a\nsince=<time>\nrun=r1'",
  );
  expect(replayKey("sha256sum -- '/h/.x.ko.kpfleet-0a1b2c3d4e5f.part'")).toBe(
    "sha256sum -- '/h/.x.ko.kpfleet-<tmp>.part'",
  );
  const sha = 'a'.repeat(64);
  expect(replayKey(`test "$sum" = ${sha}`)).toBe(`test "$sum" = ${sha}`);
});

it('apply over replayed hosts: each host changed, each command run for real once', async () => {
  const replays = lab.replays;
  if (!replays) throw new Error('not a replay lab');
  const r = await applyInLab(lab);

  expect(r.code, r.stdout + r.stderr).toBe(0);
  const report = JSON.parse(readFileSync(join(lab.dir, 'report.json'), 'utf8')) as {
    hosts: { host: string; outcome: string }[];
  };
  expect(report.hosts.map((h) => h.outcome)).toEqual(Array(HOSTS).fill('changed'));
  // the one real host state: loaded (the real load ran), and each host did the same work
  const first = lab.hosts[0];
  expect(first?.sim.readSysfs().patches['livepatch_cve']?.enabled).toBe('1');
  const execs = new Set(lab.hosts.map((h) => h.execs));
  expect(execs.size, `execs per host: ${[...execs].join(', ')}`).toBe(1);
  const perHost = [...execs][0] ?? 0;
  expect(replays.real).toBe(perHost);
  expect(replays.replayed).toBe(perHost * (HOSTS - 1));
  // every host uploaded (in process, sftp.ts) the same bytes to the same staged path
  expect([...replays.uploads.keys()]).toEqual([
    expect.stringMatching(
      /^\/home\/kpfleet\/\.kpfleet\/stage\/[0-9a-f]{16}\/\.livepatch-cve\.ko\.kpfleet-<tmp>\.part$/,
    ),
  ]);
  // a second apply over the same hosts: its facts read is a new (real) read, after the load
  writeFileSync(join(lab.dir, 'report.json'), '');
  const again = await applyInLab(lab);
  expect(again.code, again.stdout + again.stderr).toBe(0);
  expect(again.result.outcome).toBe('unchanged');
}, 120_000);

/** Removes `path` on `host` over SFTP: the error, if any. */
function remove(host: LabHost, path: string): Promise<string | undefined> {
  return overSftp(host, (sftp, done) => {
    sftp.unlink(path, (e) => done(e?.message));
  });
}

/** Writes `bytes` to `path` on `host` over SFTP: the error at close, if any. */
function upload(host: LabHost, path: string, bytes: string): Promise<string | undefined> {
  return overSftp(host, (sftp, done) => {
    sftp.writeFile(path, bytes, (e) => done(e?.message));
  });
}

/** One SFTP session on `host`: `use` says what came of it. */
function overSftp(
  host: LabHost,
  use: (sftp: SFTPWrapper, done: (said: string | undefined) => void) => void,
): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.on('error', reject);
    c.on('ready', () => {
      c.sftp((err, sftp) => {
        if (err) {
          reject(err);
          return;
        }
        use(sftp, (said) => {
          c.end();
          resolve(said);
        });
      });
    });
    c.connect({
      host: host.address,
      port: host.port,
      username: lab.user,
      privateKey: readFileSync(lab.keyPath),
    });
  });
}

it("an upload whose bytes are not the first host's for that path fails", async () => {
  const [a, b, c] = lab.hosts;
  if (!a || !b || !c) throw new Error('three hosts needed');
  expect(await upload(a, 'x.0123456789ab.part', 'one')).toBeUndefined();
  expect(readFileSync(join(a.sim.root, 'home/kpfleet/x.0123456789ab.part'), 'utf8')).toBe('one');
  // another temporary name for the same file: the same bytes pass, others do not
  expect(await upload(b, 'x.ba9876543210.part', 'one')).toBeUndefined();
  expect(await upload(c, 'x.ffffffffffff.part', 'two')).toMatch(/not the first host's bytes/);
  // a file another host wrote is not on this one: it cannot remove it
  expect(await remove(b, 'x.0123456789ab.part')).toMatch(/no such file/i);
  expect(readFileSync(join(a.sim.root, 'home/kpfleet/x.0123456789ab.part'), 'utf8')).toBe('one');
});

it('a folder this host made, removed by the first host’s cleanup (run for real), is made again for its upload', async () => {
  const [, b] = lab.hosts;
  if (!b) throw new Error('two hosts needed');
  const dir = join(b.sim.root, 'home/kpfleet/stage-gone');
  const said = await overSftp(b, (sftp, done) => {
    sftp.mkdir('stage-gone', { mode: 0o700 }, (e) => {
      if (e) {
        done(e.message);
        return;
      }
      // the shared folder, as the first host's `rm -rf` of its staging leaves it
      rmSync(dir, { recursive: true, force: true });
      sftp.writeFile('stage-gone/y.0123456789ab.part', 'three', (w) => done(w?.message));
    });
  });
  expect(said).toBeUndefined();
  expect(readFileSync(join(dir, 'y.0123456789ab.part'), 'utf8')).toBe('three');
  expect(statSync(dir).mode & 0o777).toBe(0o700);
  rmSync(dir, { recursive: true, force: true });
});

/** An SFTP request as a promise. */
function req<T = undefined>(
  send: (cb: (err?: Error | null, value?: T) => void) => void,
): Promise<T> {
  return new Promise((resolve, reject) => {
    send((err, value) => {
      if (err) reject(err);
      else resolve(value as T);
    });
  });
}

/** Where in kpfleet's upload (src/transport/ssh/upload.ts) the shared folder is removed. */
const UPLOAD_STEPS = [
  'mkdir',
  'mkdir of its folder',
  'open',
  'write',
  'close',
  'open for reading',
  'read back',
  'remove of the target',
  'rename',
  'stat',
] as const;
type UploadStep = (typeof UPLOAD_STEPS)[number];

/**
 * kpfleet's upload as its raw SFTP requests, on one session of `host`, into `top/id`: each
 * folder made (0700), the bytes written under a temporary name (0600), read back, the target
 * removed (not there), the file renamed into place and stat-ed. `after(step)` runs after each
 * step. Says what the session saw, as a host of its own would say it.
 */
async function kpfleetUpload(
  host: LabHost,
  top: string,
  hex: string,
  bytes: Buffer,
  after: (step: UploadStep) => void,
): Promise<string[]> {
  const c = new Client();
  await new Promise<void>((resolve, reject) => {
    c.on('error', reject);
    c.on('ready', resolve);
    c.connect({
      host: host.address,
      port: host.port,
      username: lab.user,
      privateKey: readFileSync(lab.keyPath),
    });
  });
  try {
    const sftp = await req<SFTPWrapper>((cb) => c.sftp(cb));
    const saw: string[] = [];
    const part = `${top}/id/.m.ko.kpfleet-${hex}.part`;
    const target = `${top}/id/m.ko`;
    await req((cb) => sftp.mkdir(top, { mode: 0o700 }, cb));
    after('mkdir');
    await req((cb) => sftp.mkdir(`${top}/id`, { mode: 0o700 }, cb));
    after('mkdir of its folder');
    const w = await req<Buffer>((cb) => sftp.open(part, 'w', { mode: 0o600 }, cb));
    after('open');
    await req((cb) => sftp.write(w, bytes, 0, bytes.length, 0, cb));
    after('write');
    await req((cb) => sftp.close(w, cb));
    after('close');
    const r = await req<Buffer>((cb) => sftp.open(part, 'r', cb));
    after('open for reading');
    const size = (await req<{ size: number }>((cb) => sftp.fstat(r, cb))).size;
    const back = Buffer.alloc(size + 1);
    const got = await req<number>((cb) => sftp.read(r, back, 0, size + 1, 0, cb));
    await req((cb) => sftp.close(r, cb));
    saw.push(`read back ${back.subarray(0, got).toString()}`);
    after('read back');
    saw.push(
      await req((cb) => sftp.unlink(target, cb)).then(
        () => 'target removed',
        (e: unknown) => `target: ${(e as Error).message}`,
      ),
    );
    after('remove of the target');
    await req((cb) => sftp.rename(part, target, cb));
    after('rename');
    const st = await req<{ mode: number; size: number }>((cb) => sftp.stat(target, cb));
    saw.push(`stat ${(st.mode & 0o777).toString(8)} ${String(st.size)}`);
    after('stat');
    const l = await req<{ size: number }>((cb) => sftp.lstat(target, cb));
    saw.push(`lstat ${String(l.size)}`);
    await req((cb) => sftp.unlink(target, cb));
    saw.push(
      await req<unknown>((cb) => sftp.stat(target, cb)).then(
        () => 'still there',
        (e: unknown) => `removed: ${(e as Error).message}`,
      ),
    );
    return saw;
  } finally {
    c.end();
  }
}

const AS_ON_ITS_OWN = [
  'read back module',
  'target: No such file',
  'stat 600 6',
  'lstat 6',
  'removed: No such file',
];

it.each([...UPLOAD_STEPS, 'every step'])(
  'an upload whose folder the first host’s cleanup removes after %s ends as on a host of its own',
  async (at) => {
    const [a, b] = lab.hosts;
    if (!a || !b) throw new Error('two hosts needed');
    const top = `stage-${at.replace(/\W+/g, '-')}`;
    const shared = join(b.sim.root, 'home/kpfleet', top);
    // the first host uploads the same bytes to the same path first, undisturbed
    expect(
      await kpfleetUpload(a, top, '0123456789ab', Buffer.from('module'), () => undefined),
    ).toEqual(AS_ON_ITS_OWN);
    rmSync(shared, { recursive: true, force: true });
    const modes: number[] = [];
    const saw = await kpfleetUpload(b, top, 'ba9876543210', Buffer.from('module'), (step) => {
      if (step === 'stat')
        modes.push(statSync(shared).mode & 0o777, statSync(join(shared, 'id')).mode & 0o777);
      // the shared folder, as the first host's cleanup (`rm -rf` of its staging) leaves it
      if (step === at || at === 'every step') rmSync(shared, { recursive: true, force: true });
    });
    expect(saw).toEqual(AS_ON_ITS_OWN);
    // the folders it made as it made them (made again where removed)
    expect(modes).toEqual([0o700, 0o700]);
    rmSync(shared, { recursive: true, force: true });
  },
);
