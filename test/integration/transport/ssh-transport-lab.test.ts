/**
 * The SSH transport against the in-process lab (issue 4): host keys (strict, accept-new, off,
 * changed), keys and passphrases, sudo -n, timeouts, dropped connections, one connection per
 * host, uploads that are checked before they are put in place.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostKeyPolicy } from '../../../src/transport/ssh/host-key-policy.ts';
import type { HostKeyChecking } from '../../../src/transport/ssh/host-key-policy.ts';
import { KeyStore } from '../../../src/transport/ssh/keys.ts';
import { SshTransport } from '../../../src/transport/ssh/ssh-transport.ts';
import type { SshSettings } from '../../../src/transport/ssh/ssh-transport.ts';
import {
  AuthenticationError,
  CommandTimeoutError,
  ConnectionLostError,
  HostKeyError,
  HostUnreachableError,
  SudoPasswordError,
  UploadError,
} from '../../../src/transport/errors.ts';
import { Lab } from '../../fleet/lab.ts';

let lab: Lab;
const open: SshTransport[] = [];

beforeAll(async () => {
  lab = await Lab.start({ hosts: 3, simProfile: { TIME_SCALE: '0.02' } });
});
afterAll(async () => {
  for (const t of open) await t.close();
  await lab.close();
});

function settings(name: string, extra: Partial<SshSettings> = {}): SshSettings {
  const h = lab.host(name);
  return {
    host: name,
    keyName: h.address,
    address: h.address,
    port: h.port,
    user: lab.user,
    become: 'sudo',
    identityFiles: [lab.keyPath],
    jump: [],
    connectTimeoutMs: 3000,
    commandTimeoutMs: 10_000,
    keepaliveIntervalMs: 1000,
    ...extra,
  };
}

function transport(
  name: string,
  opts: {
    settings?: Partial<SshSettings>;
    mode?: HostKeyChecking;
    knownHosts?: string;
    keys?: KeyStore;
    warnings?: string[];
  } = {},
): SshTransport {
  const hostKeys = new HostKeyPolicy({
    files: [opts.knownHosts ?? lab.knownHostsPath],
    mode: opts.mode ?? 'strict',
    onWarning: (w) => opts.warnings?.push(w),
  });
  const t = new SshTransport(settings(name, opts.settings), {
    keys: opts.keys ?? new KeyStore(),
    hostKeys,
    connectAttempts: 1,
  });
  open.push(t);
  return t;
}

describe('exec', () => {
  it('runs commands on one reused connection: stdout, stderr, exit codes apart', async () => {
    const h = lab.host('lab001');
    const before = h.connections;
    const t = transport('lab001');
    const a = await t.exec('uname -r');
    expect(a).toMatchObject({
      code: 0,
      signal: null,
      stdout: '5.14.0-362.8.1.el9_3.x86_64\n',
      stderr: '',
    });
    const b = await t.exec('echo out; echo err >&2; exit 7');
    expect(b).toMatchObject({ code: 7, stdout: 'out\n', stderr: 'err\n' });
    await Promise.all(Array.from({ length: 20 }, () => t.exec('true')));
    expect(h.connections - before).toBe(1);
  });

  it('closes stdin unless given some, so nothing waits on it', async () => {
    const t = transport('lab001');
    expect((await t.exec('cat')).stdout).toBe('');
    expect((await t.exec('cat', { stdin: 'abc' })).stdout).toBe('abc');
  });

  it('become: sudo -n, and a sudo that wants a password is a clear error, not a hang', async () => {
    const t = transport('lab002');
    expect((await t.exec('kpatch version', { become: true })).stdout).toBe('0.9.7\n');
    const h = lab.host('lab002');
    h.fault('sudo-password', 'pw');
    try {
      await expect(t.exec('kpatch list', { become: true, step: 'facts' })).rejects.toBeInstanceOf(
        SudoPasswordError,
      );
      await expect(t.exec('kpatch list', { become: true, step: 'facts' })).rejects.toMatchObject({
        host: 'lab002',
        step: 'facts',
        exitCode: 4,
      });
    } finally {
      h.sim.clearFaults();
    }
  });

  it('a command that runs too long is stopped; the connection stays usable', async () => {
    const t = transport('lab001');
    const started = Date.now();
    await expect(
      t.exec('sleep 30', { timeoutMs: 400, step: 'kpatch load' }),
    ).rejects.toBeInstanceOf(CommandTimeoutError);
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await t.exec('echo still here')).stdout).toBe('still here\n');
  });

  it('a connection dropped mid-command is reported as lost', async () => {
    const h = lab.host('lab003');
    const t = transport('lab003');
    await t.exec('true');
    h.fault('drop');
    try {
      await expect(
        t.exec('echo first; sleep 2; echo second', { step: 'kpatch load' }),
      ).rejects.toBeInstanceOf(ConnectionLostError);
    } finally {
      h.sim.clearFaults();
    }
    // the next command reconnects
    expect((await t.exec('echo back')).stdout).toBe('back\n');
  });

  it('a host that does not answer is unreachable within the connect timeout', async () => {
    const h = lab.host('lab003');
    h.hang();
    try {
      const t = transport('lab003', { settings: { connectTimeoutMs: 700 } });
      const started = Date.now();
      await expect(t.exec('true')).rejects.toBeInstanceOf(HostUnreachableError);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      h.resume();
    }
  });
});

describe('host keys', () => {
  it('strict: an unknown host is refused, naming the host, the fingerprint and the file', async () => {
    const empty = join(lab.dir, 'known_hosts.empty');
    writeFileSync(empty, '');
    const t = transport('lab001', { knownHosts: empty });
    const err = await t.exec('true').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostKeyError);
    const h = lab.host('lab001');
    const fp = spawnSync('ssh-keygen', ['-l', '-f', '-'], {
      input: h.hostKey.public,
      encoding: 'utf8',
    }).stdout.split(' ')[1];
    expect((err as HostKeyError).message).toContain(
      `[127.0.0.1]:${String(h.port)} is not in known_hosts (${empty})`,
    );
    expect((err as HostKeyError).fingerprint).toBe(fp);
    expect((err as HostKeyError).exitCode).toBe(4);
  });

  it('accept-new records a new host, then refuses a changed key', async () => {
    const file = join(lab.dir, 'known_hosts.new');
    writeFileSync(file, '');
    const warnings: string[] = [];
    expect(
      (
        await transport('lab002', { knownHosts: file, mode: 'accept-new', warnings }).exec(
          'echo ok',
        )
      ).stdout,
    ).toBe('ok\n');
    const h = lab.host('lab002');
    expect(readFileSync(file, 'utf8')).toContain(`[127.0.0.1]:${String(h.port)} ssh-ed25519 `);
    expect(warnings.some((w) => w.startsWith('added [127.0.0.1]:'))).toBe(true);
    // a different host (another key) claims to be lab002: refused even in accept-new
    const other = lab.host('lab003');
    const line = readFileSync(file, 'utf8').replace(
      `]:${String(h.port)}`,
      `]:${String(other.port)}`,
    );
    writeFileSync(file, line);
    const err = await transport('lab003', { knownHosts: file, mode: 'accept-new' })
      .exec('true')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostKeyError);
    expect((err as Error).message).toMatch(
      /has CHANGED: it offered ssh-ed25519 SHA256:\S+, known_hosts has ssh-ed25519 SHA256:\S+ \(.*known_hosts\.new:1\)/,
    );
  });

  it('off accepts anything, and says so every time', async () => {
    const empty = join(lab.dir, 'known_hosts.off');
    writeFileSync(empty, '');
    const warnings: string[] = [];
    expect(
      (await transport('lab001', { knownHosts: empty, mode: 'off', warnings }).exec('echo ok'))
        .stdout,
    ).toBe('ok\n');
    expect(warnings.join('\n')).toMatch(/host_key_checking is off/);
    expect(readFileSync(empty, 'utf8')).toBe('');
  });

  it('a revoked key is refused', async () => {
    const file = join(lab.dir, 'known_hosts.revoked');
    const h = lab.host('lab001');
    writeFileSync(
      file,
      `@revoked * ${h.hostKey.public.trim()}\n${readFileSync(lab.knownHostsPath, 'utf8')}`,
    );
    const err = await transport('lab001', { knownHosts: file })
      .exec('true')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostKeyError);
    expect((err as Error).message).toMatch(/marked @revoked/);
  });
});

describe('authentication', () => {
  it('a key the host does not accept is an authentication error (exit 4)', async () => {
    const other = join(lab.dir, 'other_id');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const err = await transport('lab001', { settings: { identityFiles: [other] } })
      .exec('true')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as AuthenticationError).exitCode).toBe(4);
  });

  it('a passphrase-protected key is asked for once and decrypted once for all hosts', async () => {
    const locked = join(lab.dir, 'locked_id');
    copyFileSync(lab.keyPath, locked);
    spawnSync('ssh-keygen', ['-q', '-p', '-P', '', '-N', 'correct horse', '-f', locked]);
    expect(readFileSync(locked, 'utf8')).toMatch(/OPENSSH PRIVATE KEY/);
    let asked = 0;
    const keys = new KeyStore(() => {
      asked++;
      return Promise.resolve('correct horse');
    });
    const results = await Promise.all(
      ['lab001', 'lab002', 'lab003'].map((n) =>
        transport(n, { keys, settings: { identityFiles: [locked] } }).exec('echo in'),
      ),
    );
    expect(results.map((r) => r.stdout)).toEqual(['in\n', 'in\n', 'in\n']);
    expect(asked).toBe(1);
  });

  it('a wrong passphrase, and no key at all, say what is wrong', async () => {
    const locked = join(lab.dir, 'locked_id2');
    copyFileSync(lab.keyPath, locked);
    spawnSync('ssh-keygen', ['-q', '-p', '-P', '', '-N', 'right', '-f', locked]);
    const keys = new KeyStore(() => Promise.resolve('wrong'));
    const err = await transport('lab001', { keys, settings: { identityFiles: [locked] } })
      .exec('true')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as Error).message).toContain('wrong passphrase');
    const none = await transport('lab001', { settings: { identityFiles: [] } })
      .exec('true')
      .catch((e: unknown) => e);
    expect(none).toBeInstanceOf(AuthenticationError);
    expect((none as Error).message).toMatch(
      /no way to log in to 127\.0\.0\.1 as kpfleet: no ssh-agent and no usable key/,
    );
  });

  it('ssh-agent', async () => {
    const sock = join(lab.dir, 'agent.sock');
    const agent = spawnSync('ssh-agent', ['-a', sock, '-s'], { encoding: 'utf8' });
    const pid = /SSH_AGENT_PID=(\d+)/.exec(agent.stdout)?.[1];
    try {
      expect(
        spawnSync('ssh-add', [lab.keyPath], { env: { ...process.env, SSH_AUTH_SOCK: sock } })
          .status,
      ).toBe(0);
      const t = transport('lab002', { settings: { identityFiles: [], agent: sock } });
      expect((await t.exec('echo agent')).stdout).toBe('agent\n');
    } finally {
      if (pid) process.kill(Number(pid));
    }
  });
});

describe('upload', () => {
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const content = Buffer.from('KPSIM-KO 1\nname=livepatch_up\n' + 'x'.repeat(50_000));

  it('puts the file in place after checking its sha256 on the host', async () => {
    const t = transport('lab001');
    await t.upload(content, '/var/lib/kpfleet/livepatch-up.ko', { sha256: sha(content) });
    const root = lab.host('lab001').sim.root;
    expect(readFileSync(join(root, 'var/lib/kpfleet/livepatch-up.ko'))).toEqual(content);
    expect(readdirSync(join(root, 'var/lib/kpfleet')).filter((f) => f.endsWith('.part'))).toEqual(
      [],
    );
  });

  it('a checksum that does not match leaves nothing where kpatch would load it', async () => {
    const t = transport('lab002');
    const err = await t
      .upload(content, '/var/lib/kpfleet/bad.ko', { sha256: 'a'.repeat(64) })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UploadError);
    expect((err as Error).message).toMatch(/sha256 mismatch/);
    const dir = join(lab.host('lab002').sim.root, 'var/lib/kpfleet');
    expect(existsSync(join(dir, 'bad.ko'))).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('bad.ko'))).toEqual([]);
  });

  it('a full disk fails the upload cleanly', async () => {
    const h = lab.host('lab003');
    const t = transport('lab003');
    h.fault('disk-full');
    try {
      await expect(
        t.upload(content, '/var/lib/kpfleet/full.ko', { sha256: sha(content) }),
      ).rejects.toBeInstanceOf(UploadError);
    } finally {
      h.sim.clearFaults();
    }
    expect(existsSync(join(h.sim.root, 'var/lib/kpfleet/full.ko'))).toBe(false);
  });

  it('refuses a remote path that is not safe', async () => {
    const t = transport('lab001');
    await expect(t.upload(content, 'relative/x.ko', { sha256: sha(content) })).rejects.toThrow(
      /remote path/,
    );
  });
});
