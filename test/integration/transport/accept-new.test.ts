/**
 * Issue 14 §5: accept-new checks and records under one lock per known_hosts file. Two first
 * contacts with one name and different keys (several hosts behind one name, or an attacker
 * racing the real host), in one run or in two processes, record exactly one key; the other is
 * refused as a changed key (exit 4). A lock left by a crashed run does not stop the next one.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HostKeyPolicy } from '../../../src/transport/ssh/host-key-policy.ts';
import { clearSshConfigCache } from '../../../src/transport/ssh/ssh-config.ts';
import { runInProcess } from '../../cli-in-process.ts';
import { ed25519KeyPair, Lab } from '../../../lab/lab.ts';

const RACER = new URL('./accept-new-racer.ts', import.meta.url).pathname;
let lab: Lab;
let project: string;

function blob(): Buffer {
  const key = ssh2.utils.parseKey(ed25519KeyPair().public);
  if (key instanceof Error) throw key;
  return key.getPublicSSH();
}

function lines(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean);
}

const kpfleet = (args: string[]) => runInProcess(args, { cwd: project });

beforeAll(async () => {
  lab = await Lab.start({ hosts: 2, simProfile: { TIME_SCALE: '0.01' } });
  project = join(lab.dir, 'project');
  mkdirSync(project, { recursive: true });
});
afterAll(async () => {
  await lab.close();
});
beforeEach(() => {
  clearSshConfigCache();
});

describe('two hosts behind one name, accept-new, one run', () => {
  it('records exactly one key; the other host is refused as changed, exit 4', async () => {
    const known = join(project, 'known_hosts');
    writeFileSync(known, '');
    // both lab hosts are 127.0.0.1 (on two ports); the operator names them as one host
    writeFileSync(join(project, 'ssh_config'), 'Host 127.0.0.1\n  HostKeyAlias fleet-vip\n');
    writeFileSync(
      join(project, 'kpfleet.yml'),
      [
        `inventory: ${lab.inventoryPath}`,
        'connection:',
        '  ssh_config: ssh_config',
        '  known_hosts: known_hosts',
        '  host_key_checking: accept-new',
        '',
      ].join('\n'),
    );
    const r = await kpfleet(['facts', '--json']);
    expect(r.code).toBe(4);
    const hosts = (
      JSON.parse(r.stdout) as {
        hosts: { host: string; ok: boolean; error?: { code: string; message: string } }[];
      }
    ).hosts;
    const ok = hosts.filter((h) => h.ok);
    const refused = hosts.filter((h) => !h.ok);
    expect(ok).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0]?.error?.message).toMatch(
      /^the host key of fleet-vip has CHANGED: it offered ssh-ed25519 SHA256:\S+, known_hosts has ssh-ed25519 SHA256:\S+ \(.*known_hosts:1\)$/,
    );
    // recorded under the alias alone, as OpenSSH records a HostKeyAlias (no [name]:port)
    expect(lines(known)).toHaveLength(1);
    expect(lines(known)[0]).toMatch(/^fleet-vip ssh-ed25519 \S+$/);

    // the real OpenSSH client accepts the recorded line for the host that was let in
    const host = lab.host(ok[0]?.host ?? '');
    // (asynchronously: the lab's servers live in this process)
    const ssh = await new Promise<{ code: number | null; stderr: string }>((done) => {
      const child = spawn(
        'ssh',
        [
          ...['-F', 'none', '-i', lab.keyPath, '-p', String(host.port)],
          ...['-o', 'HostKeyAlias=fleet-vip', '-o', `UserKnownHostsFile=${known}`],
          ...['-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=yes'],
          ...['-o', 'BatchMode=yes', `${lab.user}@127.0.0.1`, 'true'],
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      child.on('close', (code) => done({ code, stderr }));
    });
    expect(ssh.stderr).toBe('');
    expect(ssh.code).toBe(0);
  });

  it('the same key twice at once is recorded once', async () => {
    const known = join(project, 'known_hosts.same');
    writeFileSync(known, '');
    const policy = new HostKeyPolicy({ files: [known], mode: 'accept-new' });
    const key = blob();
    const e = { keyName: 'twice', address: 'twice', port: 22, user: 'x' };
    const [a, b] = await Promise.all([policy.decide(e, key), policy.decide(e, key)]);
    expect([a.accept, b.accept]).toEqual([true, true]);
    expect(lines(known)).toHaveLength(1);
  });
});

/** Starts a racer process; resolves when it has read the file and waits for `go`. */
function racer(file: string, name: string, key: Buffer) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', RACER, file, name, key.toString('base64')],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const out = createInterface({ input: child.stdout });
  const answers: string[] = [];
  const ready = new Promise<void>((res) =>
    out.on('line', (l) => (l === 'ready' ? res() : answers.push(l))),
  );
  const done = new Promise<{ accept: boolean; reason: string }>((res) =>
    child.on('close', () =>
      res(JSON.parse(answers[0] ?? '{}') as { accept: boolean; reason: string }),
    ),
  );
  return { ready, go: () => child.stdin.end('go\n'), done };
}

describe('two processes racing', () => {
  it('both read the file before either decides: one key recorded, the other refused', async () => {
    const known = join(project, 'known_hosts.race');
    writeFileSync(known, '');
    const a = racer(known, 'raced.example', blob());
    const b = racer(known, 'raced.example', blob());
    await Promise.all([a.ready, b.ready]);
    a.go();
    b.go();
    const results = await Promise.all([a.done, b.done]);
    expect(results.map((r) => r.accept).sort()).toEqual([false, true]);
    expect(results.find((r) => !r.accept)?.reason).toMatch(/has CHANGED/);
    expect(lines(known)).toHaveLength(1);
  });

  it('a lock left by a crashed run (its process gone) is broken, not waited on', async () => {
    const known = join(project, 'known_hosts.crashed');
    writeFileSync(known, '');
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    });
    writeFileSync(
      `${known}.kpfleet-lock`,
      JSON.stringify({
        pid: Number(gone.stdout),
        host: (await import('node:os')).hostname(),
        token: 't',
      }),
    );
    const policy = new HostKeyPolicy({ files: [known], mode: 'accept-new' });
    const d = await policy.decide(
      { keyName: 'after-crash', address: 'x', port: 22, user: 'x' },
      blob(),
    );
    expect(d.accept).toBe(true);
    expect(lines(known)).toHaveLength(1);
    expect(() => readFileSync(`${known}.kpfleet-lock`)).toThrow(/ENOENT/);
  });

  it('a half-written lock older than the stale age is broken too', async () => {
    const known = join(project, 'known_hosts.half');
    writeFileSync(known, '');
    const lock = `${known}.kpfleet-lock`;
    writeFileSync(lock, '{"pid":');
    const { utimesSync } = await import('node:fs');
    utimesSync(lock, new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
    const policy = new HostKeyPolicy({ files: [known], mode: 'accept-new' });
    const d = await policy.decide({ keyName: 'half', address: 'x', port: 22, user: 'x' }, blob());
    expect(d.accept).toBe(true);
    expect(lines(known)).toHaveLength(1);
  });
});

describe('HashKnownHosts yes', () => {
  it('accept-new records the name hashed, and ssh-keygen -F finds it', async () => {
    const known = join(project, 'known_hosts.hashed');
    writeFileSync(known, '');
    writeFileSync(join(project, 'ssh_config.hashed'), 'Host *\n  HashKnownHosts yes\n');
    writeFileSync(
      join(project, 'kpfleet.yml'),
      [
        `inventory: ${lab.inventoryPath}`,
        'connection:',
        '  ssh_config: ssh_config.hashed',
        '  known_hosts: known_hosts.hashed',
        '  host_key_checking: accept-new',
        '',
      ].join('\n'),
    );
    const r = await kpfleet(['facts', '--limit', 'lab001', '--json']);
    expect(r.code).toBe(0);
    const recorded = lines(known);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatch(/^\|1\|[A-Za-z0-9+/=]{28}\|[A-Za-z0-9+/=]{28} ssh-ed25519 \S+$/);
    expect(recorded[0]).not.toContain('127.0.0.1');
    const name = `[127.0.0.1]:${String(lab.host('lab001').port)}`;
    const found = spawnSync('ssh-keygen', ['-F', name, '-f', known], { encoding: 'utf8' });
    expect(found.status).toBe(0);
    expect(found.stdout).toContain(`# Host ${name} found: line 1`);
    // and the next run knows the host from the hashed line (strict)
    writeFileSync(
      join(project, 'kpfleet.yml'),
      readFileSync(join(project, 'kpfleet.yml'), 'utf8').replace('accept-new', 'strict'),
    );
    clearSshConfigCache();
    expect((await kpfleet(['facts', '--limit', 'lab001', '--json'])).code).toBe(0);
  });
});
