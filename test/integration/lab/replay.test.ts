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
