/**
 * The SSH transport's behaviour, written once and run against both simulated fleets: the
 * in-process lab (test/integration/transport) and real OpenSSH servers (test/e2e/transport).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AuthenticationError,
  CommandTimeoutError,
  ConnectionLostError,
  HostKeyError,
  HostUnreachableError,
  OutputLimitError,
  SudoPasswordError,
  UploadError,
} from '../src/transport/errors.ts';
import { HostKeyPolicy } from '../src/transport/ssh/host-key-policy.ts';
import type { HostKeyChecking } from '../src/transport/ssh/host-key-policy.ts';
import { KeyStore } from '../src/transport/ssh/keys.ts';
import { SshTransport } from '../src/transport/ssh/ssh-transport.ts';
import { holderScript, parseLockAnswer } from '../src/apply/lock.ts';
import { lockHeld } from '../lab/sim-host.ts';
import type { SshSettings } from '../src/transport/ssh/endpoint.ts';
import type { Lab } from '../lab/lab.ts';

/** What a fleet offers the scenarios. Three hosts, with the rhel9 profile. */
export interface TransportHarness {
  user: string;
  keyPath: string;
  knownHostsPath: string;
  /** A scratch folder for keys and known_hosts variants. */
  dir: string;
  hosts: [string, string, string];
  endpoint(host: string): { address: string; port: number };
  hostPublicKey(host: string): string;
  /** The host's filesystem root as the simulator keeps it (to check uploads). */
  root(host: string): string;
  fault(host: string, name: 'drop' | 'disk-full'): void;
  clearFaults(host: string): void;
  sudoWantsPassword(host: string, on: boolean): void;
  hang(host: string): void;
  resume(host: string): void;
  /** A command that the `drop` fault cuts after its first line. */
  dropCommand: string;
  /** SSH connections the host has accepted, where the harness can count them. */
  connections?(host: string): number;
}

interface TransportOptions {
  settings?: Partial<SshSettings>;
  mode?: HostKeyChecking;
  knownHosts?: string;
  keys?: KeyStore;
  warnings?: string[];
  attempts?: number;
}

/** Transports to the harness's hosts, closed after the file's tests. */
export function transportsTo(
  get: () => TransportHarness,
): (host: string, opts?: TransportOptions) => SshTransport {
  const open: SshTransport[] = [];
  afterAll(async () => {
    for (const t of open) await t.close();
  });
  return function transport(host: string, opts: TransportOptions = {}): SshTransport {
    const h = get();
    const { address, port } = h.endpoint(host);
    const hostKeys = new HostKeyPolicy({
      files: [opts.knownHosts ?? h.knownHostsPath],
      mode: opts.mode ?? 'strict',
      onWarning: (w) => opts.warnings?.push(w),
    });
    const settings: SshSettings = {
      host,
      keyName: address,
      address,
      port,
      user: h.user,
      become: 'sudo',
      identityFiles: [h.keyPath],
      jump: [],
      connectTimeoutMs: 3000,
      commandTimeoutMs: 10_000,
      keepaliveIntervalMs: 1000,
      ...opts.settings,
    };
    const t = new SshTransport(settings, {
      keys: opts.keys ?? new KeyStore(),
      hostKeys,
      connectAttempts: opts.attempts ?? 1,
    });
    open.push(t);
    return t;
  };
}

/** The harness over an in-process lab of three hosts (lab001–lab003). */
export function labHarness(lab: () => Lab): TransportHarness {
  const l = lab();
  return {
    user: l.user,
    keyPath: l.keyPath,
    knownHostsPath: l.knownHostsPath,
    dir: l.dir,
    hosts: ['lab001', 'lab002', 'lab003'],
    endpoint: (n) => ({ address: l.host(n).address, port: l.host(n).port }),
    hostPublicKey: (n) => l.host(n).hostKey.public,
    root: (n) => l.host(n).sim.root,
    fault: (n, f) => l.host(n).fault(f),
    clearFaults: (n) => l.host(n).sim.clearFaults(),
    sudoWantsPassword: (n, on) =>
      on ? l.host(n).fault('sudo-password', 'pw') : l.host(n).sim.clearFaults(),
    hang: (n) => l.host(n).hang(),
    resume: (n) => l.host(n).resume(),
    dropCommand: 'echo first; sleep 2; echo second',
    connections: (n) => l.host(n).connections,
  };
}

export function transportScenarios(get: () => TransportHarness): void {
  const transport = transportsTo(get);
  const name = (e: { address: string; port: number }) =>
    e.port === 22 ? e.address : `[${e.address}]:${String(e.port)}`;

  describe('exec', () => {
    it('runs commands on one connection: stdout, stderr and exit codes apart', async () => {
      const h = get();
      const [a] = h.hosts;
      const before = h.connections?.(a);
      const t = transport(a);
      expect(await t.exec('uname -r')).toMatchObject({
        code: 0,
        signal: null,
        stdout: '5.14.0-362.8.1.el9_3.x86_64\n',
        stderr: '',
      });
      expect(await t.exec('echo out; echo err >&2; exit 7')).toMatchObject({
        code: 7,
        stdout: 'out\n',
        stderr: 'err\n',
      });
      // more at once than OpenSSH's MaxSessions (10)
      const many = await Promise.all(
        Array.from({ length: 25 }, (_, i) => t.exec(`echo ${String(i)}`)),
      );
      expect(many.map((r) => r.stdout.trim())).toEqual(
        Array.from({ length: 25 }, (_, i) => String(i)),
      );
      if (before !== undefined) expect((h.connections?.(a) ?? 0) - before).toBe(1);
    });

    it('closes stdin unless given some, so nothing waits on it', async () => {
      const t = transport(get().hosts[0]);
      expect((await t.exec('cat')).stdout).toBe('');
      expect((await t.exec('cat', { stdin: 'abc' })).stdout).toBe('abc');
    });

    it('become: sudo -n; a sudo that wants a password is a clear per-host error, never a hang', async () => {
      const h = get();
      const [, b] = h.hosts;
      const t = transport(b);
      expect((await t.exec('kpatch version', { become: true })).stdout).toBe('0.9.7\n');
      h.sudoWantsPassword(b, true);
      try {
        const err = await t
          .exec('kpatch list', { become: true, step: 'facts' })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(SudoPasswordError);
        expect(err).toMatchObject({ host: b, step: 'facts', exitCode: 4 });
      } finally {
        h.sudoWantsPassword(b, false);
      }
    });

    it('a command that runs too long is stopped; the connection stays usable', async () => {
      const t = transport(get().hosts[0]);
      const started = Date.now();
      await expect(
        t.exec('sleep 30', { timeoutMs: 400, step: 'kpatch load' }),
      ).rejects.toBeInstanceOf(CommandTimeoutError);
      expect(Date.now() - started).toBeLessThan(5000);
      expect((await t.exec('echo still here')).stdout).toBe('still here\n');
    });

    it('a command that prints more than the output cap fails alone: killed, typed error, connection and other hosts fine', async () => {
      const h = get();
      const [a, b] = h.hosts;
      const ta = transport(a);
      const tb = transport(b);
      const marker = `kpfleet-flood-${String(process.pid)}`;
      // 64 MiB from one host (the default cap is 8 MiB) while another host answers normally
      const [flood, other] = await Promise.allSettled([
        ta.exec(`sh -c 'head -c 67108864 /dev/zero; true' ${marker}`, { step: 'kpatch list' }),
        tb.exec('echo fine'),
      ]);
      expect(other).toMatchObject({ status: 'fulfilled', value: { code: 0, stdout: 'fine\n' } });
      expect(flood.status).toBe('rejected');
      const err = (flood as PromiseRejectedResult).reason as unknown;
      expect(err).toBeInstanceOf(OutputLimitError);
      expect(err).toMatchObject({
        code: 'E_OUTPUT_LIMIT',
        exitCode: 1,
        host: a,
        step: 'kpatch list',
        limitBytes: 8 * 1024 * 1024,
      });
      expect((err as Error).message).toMatch(/kpatch list printed more than 8 MiB/);
      // the channel was closed, so the command on the host ends (it is not left writing)
      const gone = async (): Promise<boolean> => {
        for (let i = 0; i < 100; i++) {
          // the pattern does not match the shell that runs pgrep itself
          if ((await ta.exec(`pgrep -f 'kpfleet-floo[d]-${String(process.pid)}'`)).code === 1)
            return true;
          await new Promise((r) => setTimeout(r, 100));
        }
        return false;
      };
      expect(await gone()).toBe(true);
      // the connection carries on; a per-exec cap counts stdout and stderr together
      expect((await ta.exec('echo after')).stdout).toBe('after\n');
      await expect(
        ta.exec('head -c 600 /dev/zero; head -c 600 /dev/zero >&2', {
          maxOutputBytes: 1000,
          step: 'health check',
        }),
      ).rejects.toMatchObject({ code: 'E_OUTPUT_LIMIT', step: 'health check' });
      const exact = await ta.exec('head -c 500 /dev/zero; head -c 500 /dev/zero >&2', {
        maxOutputBytes: 1000,
      });
      expect(exact.stdout.length + exact.stderr.length).toBe(1000);
    });

    it('a connection dropped mid-command is reported as lost; the next command reconnects', async () => {
      const h = get();
      const [, , c] = h.hosts;
      const t = transport(c);
      await t.exec('true');
      h.fault(c, 'drop');
      try {
        await expect(t.exec(h.dropCommand, { step: 'kpatch list' })).rejects.toBeInstanceOf(
          ConnectionLostError,
        );
      } finally {
        h.clearFaults(c);
      }
      expect((await t.exec('echo back')).stdout).toBe('back\n');
    });

    it('a host that does not answer is unreachable within the connect timeout', async () => {
      const h = get();
      const [, , c] = h.hosts;
      h.hang(c);
      try {
        const started = Date.now();
        await expect(
          transport(c, { settings: { connectTimeoutMs: 700 } }).exec('true'),
        ).rejects.toBeInstanceOf(HostUnreachableError);
        expect(Date.now() - started).toBeLessThan(5000);
      } finally {
        h.resume(c);
      }
    });

    it('a host that stops answering mid-session is detected by keepalive, not waited on', async () => {
      const h = get();
      const [, , c] = h.hosts;
      const t = transport(c, { settings: { keepaliveIntervalMs: 500, commandTimeoutMs: 60_000 } });
      await t.exec('true');
      h.hang(c);
      try {
        const started = Date.now();
        await expect(t.exec('echo never', { step: 'facts' })).rejects.toBeInstanceOf(
          ConnectionLostError,
        );
        expect(Date.now() - started).toBeLessThan(10_000);
      } finally {
        h.resume(c);
      }
    });

    it('connection set-up is retried with backoff: a host that answers late is reached', async () => {
      const h = get();
      const [, , c] = h.hosts;
      h.hang(c);
      setTimeout(() => h.resume(c), 1200);
      const t = transport(c, { settings: { connectTimeoutMs: 800 }, attempts: 4 });
      expect((await t.exec('echo late')).stdout).toBe('late\n');
    });
  });

  describe('hold', () => {
    /** Polls until `cond` holds, for at most `ms`. */
    async function until(cond: () => boolean, ms = 10_000): Promise<boolean> {
      const end = Date.now() + ms;
      while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      return cond();
    }
    const marker = (host: string, name: string) => join(get().root(host), 'tmp', name);
    // the command ends when its stdin does, and leaves a mark (in the host's own /tmp)
    const heldCommand = (name: string) =>
      `rm -f /tmp/${name}; echo READY; cat >/dev/null; echo ended >/tmp/${name}`;

    it('keeps a command running after its first line; release ends it with end of file', async () => {
      const h = get().hosts[0];
      const t = transport(h);
      const held = await t.hold(heldCommand('held-release'), { heartbeatMs: 100 });
      expect(held.said).toBe('READY\n');
      await new Promise((r) => setTimeout(r, 300)); // heartbeats go to its stdin meanwhile
      expect(held.ended).toBe(false);
      expect(existsSync(marker(h, 'held-release'))).toBe(false);
      await held.release();
      expect(held.ended).toBe(true);
      expect(await until(() => existsSync(marker(h, 'held-release')))).toBe(true);
    });

    it('a connection that ends (kpfleet killed, the network gone) ends the held command', async () => {
      const h = get().hosts[1];
      const t = transport(h);
      const held = await t.hold(heldCommand('held-close'), { heartbeatMs: 1000 });
      expect(held.ended).toBe(false);
      await t.close(); // no release: the connection just ends
      expect(await until(() => existsSync(marker(h, 'held-close')))).toBe(true);
    });

    it("the host's lock: held while the run lives, refused to a second run naming the holder", async () => {
      const h = get().hosts[2];
      const a = transport(h);
      const req = { owner: 'alice@ci', since: '2026-12-04T12:00:00.000Z', runId: 'run-a' };
      const held = await a.hold(holderScript(req), { become: true, heartbeatMs: 10_000 });
      expect(parseLockAnswer(held.said)).toEqual({ kind: 'locked' });
      expect(lockHeld(get().root(h))).toBe(true);
      const b = transport(h);
      const other = await b.hold(holderScript({ ...req, owner: 'bob@laptop', runId: 'run-b' }), {
        become: true,
        heartbeatMs: 10_000,
      });
      await other.release();
      expect(parseLockAnswer(other.said)).toMatchObject({
        kind: 'busy',
        holder: { owner: 'alice@ci', since: req.since, run: 'run-a' },
      });
      expect(held.ended).toBe(false);
      await held.release();
      expect(lockHeld(get().root(h))).toBe(false);
      await a.close();
      await b.close();
    });

    it("a follower: the login user's command in the lock's session, once it is held; a busy lock runs none", async () => {
      const h = get().hosts[1];
      const a = transport(h);
      const req = { owner: 'alice@ci', since: '2026-12-04T12:00:00.000Z', runId: 'run-follow' };
      // the follower outlasts the 1 s lease: the heartbeats run from the session's start
      const follow = (tag: string) => ({
        gate: 'LOCKED',
        command: `id -u; cat; sleep 2.5; echo ${tag}; echo END`,
        until: 'END',
      });
      const loginUid = (await a.exec('id -u')).stdout;
      // a 1 s lease: the heartbeats reach the holder through the pipe's other side
      const held = await a.hold(holderScript(req, 1), {
        become: true,
        heartbeatMs: 200,
        follow: follow('RAN-A'),
      });
      // resolved at the follower's last line, not at LOCKED; its stdin was closed (cat ended)
      expect(held.said).toBe(`LOCKED\n${loginUid}RAN-A\nEND\n`);
      expect(lockHeld(get().root(h))).toBe(true);
      await new Promise((r) => setTimeout(r, 2500));
      expect(held.ended).toBe(false);
      expect(lockHeld(get().root(h))).toBe(true);
      const b = transport(h);
      const other = await b.hold(holderScript({ ...req, owner: 'bob@laptop', runId: 'run-b' }), {
        become: true,
        heartbeatMs: 10_000,
        follow: follow('RAN-B'),
      });
      expect(other.said).not.toContain('RAN-B');
      expect(parseLockAnswer(other.said)).toMatchObject({
        kind: 'busy',
        holder: { run: 'run-follow' },
      });
      expect(await until(() => other.ended)).toBe(true);
      await held.release();
      expect(held.ended).toBe(true);
      expect(lockHeld(get().root(h))).toBe(false);
      await a.close();
      await b.close();
    });

    it('a follower: sudo wanting a password is the same clear error; one too slow or a flood is stopped', async () => {
      const fleet = get();
      const h = fleet.hosts[0];
      const t = transport(h);
      const req = { owner: 'alice@ci', since: '2026-12-04T12:00:00.000Z', runId: 'run-sudo' };
      fleet.sudoWantsPassword(h, true);
      try {
        const err = await t
          .hold(holderScript(req), {
            become: true,
            step: 'lock',
            heartbeatMs: 10_000,
            follow: { gate: 'LOCKED', command: 'echo RAN; echo END', until: 'END' },
          })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(SudoPasswordError);
        expect(err).toMatchObject({ host: h, step: 'lock' });
      } finally {
        fleet.sudoWantsPassword(h, false);
      }
      // a follower that does not finish in its own time: a timeout named by its step
      const slow = await t
        .hold(holderScript(req), {
          become: true,
          step: 'lock',
          heartbeatMs: 10_000,
          follow: {
            gate: 'LOCKED',
            command: 'sleep 30; echo END',
            until: 'END',
            timeoutMs: 1000,
            step: 'facts',
          },
        })
        .catch((e: unknown) => e);
      expect(slow).toBeInstanceOf(CommandTimeoutError);
      expect(slow).toMatchObject({ host: h, step: 'facts' });
      expect(await until(() => !lockHeld(fleet.root(h)))).toBe(true);
      const flood = await t
        .hold(holderScript(req), {
          become: true,
          step: 'lock',
          heartbeatMs: 10_000,
          follow: { gate: 'LOCKED', command: 'head -c 67108864 /dev/zero; echo END', until: 'END' },
        })
        .catch((e: unknown) => e);
      expect(flood).toBeInstanceOf(OutputLimitError);
      // the holder went with its session: the lock is free again
      expect(await until(() => !lockHeld(fleet.root(h)))).toBe(true);
      expect((await t.exec('echo fine')).stdout).toBe('fine\n');
    });

    it('the lease: heartbeats keep the holder; when they stop it ends and the lock is free', async () => {
      const h = get().hosts[2];
      const req = { owner: 'alice@ci', since: '2026-12-04T12:00:00.000Z', runId: 'run-lease' };
      // a 1 s lease with a heartbeat every 200 ms: still held 3 s later
      const a = transport(h);
      const kept = await a.hold(holderScript(req, 1), { become: true, heartbeatMs: 200 });
      expect(parseLockAnswer(kept.said)).toEqual({ kind: 'locked' });
      await new Promise((r) => setTimeout(r, 3000));
      expect(kept.ended).toBe(false);
      expect(lockHeld(get().root(h))).toBe(true);
      await kept.release();
      await a.close();
      // the same lease with no heartbeat in time (a controller gone silent, the connection up)
      const b = transport(h);
      const silent = await b.hold(holderScript(req, 1), { become: true, heartbeatMs: 60_000 });
      expect(parseLockAnswer(silent.said)).toEqual({ kind: 'locked' });
      expect(await until(() => silent.ended, 15_000)).toBe(true);
      expect(lockHeld(get().root(h))).toBe(false);
      await b.close();
    });
  });

  describe('host keys', () => {
    it('strict: an unknown host is refused, naming the host, the fingerprint and the file (exit 4)', async () => {
      const h = get();
      const [a] = h.hosts;
      const empty = join(h.dir, 'known_hosts.empty');
      writeFileSync(empty, '');
      const err = await transport(a, { knownHosts: empty })
        .exec('true')
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HostKeyError);
      const fp = spawnSync('ssh-keygen', ['-l', '-f', '-'], {
        input: h.hostPublicKey(a),
        encoding: 'utf8',
      }).stdout.split(' ')[1];
      expect((err as HostKeyError).message).toContain(
        `${name(h.endpoint(a))} is not in known_hosts (${empty}); it offered ssh-ed25519 ${fp ?? '?'}`,
      );
      expect((err as HostKeyError).fingerprint).toBe(fp);
      expect((err as HostKeyError).exitCode).toBe(4);
    });

    it('accept-new records a new host, then refuses a key that changed', async () => {
      const h = get();
      const [, b, c] = h.hosts;
      const file = join(h.dir, 'known_hosts.new');
      writeFileSync(file, '');
      const warnings: string[] = [];
      expect(
        (await transport(b, { knownHosts: file, mode: 'accept-new', warnings }).exec('echo ok'))
          .stdout,
      ).toBe('ok\n');
      expect(readFileSync(file, 'utf8')).toContain(`${name(h.endpoint(b))} ssh-ed25519 `);
      expect(warnings.some((w) => w.startsWith(`added ${name(h.endpoint(b))}`))).toBe(true);
      // c's address recorded with b's key: c now presents a "changed" key, refused in accept-new
      writeFileSync(
        file,
        readFileSync(file, 'utf8').replace(name(h.endpoint(b)), name(h.endpoint(c))),
      );
      const err = await transport(c, { knownHosts: file, mode: 'accept-new' })
        .exec('true')
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HostKeyError);
      expect((err as Error).message).toMatch(
        /has CHANGED: it offered ssh-ed25519 SHA256:\S+, known_hosts has ssh-ed25519 SHA256:\S+ \(.*known_hosts\.new:1\)/,
      );
      // the hint's command, quoted, pasted into a shell: it removes exactly that line
      const hint = (err as HostKeyError).hint ?? '';
      const command = /remove the old line: (.*)$/.exec(hint)?.[1] ?? '';
      const shown = name(h.endpoint(c)).includes('[')
        ? `'${name(h.endpoint(c))}'`
        : name(h.endpoint(c));
      expect(command).toBe(`ssh-keygen -f ${file} -R ${shown}`);
      const pasted = spawnSync('sh', ['-c', command], { encoding: 'utf8' });
      expect(pasted.status, pasted.stderr).toBe(0);
      expect(readFileSync(file, 'utf8')).not.toContain(name(h.endpoint(c)));
    });

    it('off accepts anything, and says so', async () => {
      const h = get();
      const empty = join(h.dir, 'known_hosts.off');
      writeFileSync(empty, '');
      const warnings: string[] = [];
      expect(
        (await transport(h.hosts[0], { knownHosts: empty, mode: 'off', warnings }).exec('echo ok'))
          .stdout,
      ).toBe('ok\n');
      expect(warnings.join('\n')).toMatch(/host_key_checking is off/);
      expect(readFileSync(empty, 'utf8')).toBe('');
    });

    it('a revoked key is refused', async () => {
      const h = get();
      const [a] = h.hosts;
      const file = join(h.dir, 'known_hosts.revoked');
      writeFileSync(
        file,
        `@revoked * ${h.hostPublicKey(a).trim()}\n${readFileSync(h.knownHostsPath, 'utf8')}`,
      );
      await expect(transport(a, { knownHosts: file }).exec('true')).rejects.toThrow(
        /marked @revoked/,
      );
    });

    it('a host known only through @cert-authority is refused with the reason', async () => {
      const h = get();
      const [a] = h.hosts;
      const file = join(h.dir, 'known_hosts.ca');
      writeFileSync(file, `@cert-authority ${name(h.endpoint(a))} ${h.hostPublicKey(a).trim()}\n`);
      await expect(transport(a, { knownHosts: file }).exec('true')).rejects.toThrow(
        /cannot verify host certificates/,
      );
    });
  });

  describe('authentication', () => {
    it('a key the host does not accept is an authentication error (exit 4), tried once', async () => {
      const h = get();
      const [a] = h.hosts;
      const other = join(h.dir, 'other_id');
      if (!existsSync(other)) spawnSync('ssh-keygen', ['-q', '-t', 'ecdsa', '-N', '', '-f', other]);
      const before = h.connections?.(a);
      const err = await transport(a, { settings: { identityFiles: [other] }, attempts: 3 })
        .exec('true')
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AuthenticationError);
      expect((err as AuthenticationError).exitCode).toBe(4);
      if (before !== undefined) expect((h.connections?.(a) ?? 0) - before).toBe(1);
    });

    it('a passphrase-protected key is asked for once and decrypted once for every host', async () => {
      const h = get();
      const locked = join(h.dir, 'locked_id');
      copyFileSync(h.keyPath, locked);
      spawnSync('ssh-keygen', ['-q', '-p', '-P', '', '-N', 'correct horse', '-f', locked]);
      let asked = 0;
      const keys = new KeyStore(() => {
        asked++;
        return Promise.resolve('correct horse');
      });
      const out = await Promise.all(
        h.hosts.map((n) =>
          transport(n, { keys, settings: { identityFiles: [locked] } }).exec('echo in'),
        ),
      );
      expect(out.map((r) => r.stdout)).toEqual(['in\n', 'in\n', 'in\n']);
      expect(asked).toBe(1);
    });

    it('a wrong passphrase, and no key at all, say what is wrong', async () => {
      const h = get();
      const [a] = h.hosts;
      const locked = join(h.dir, 'locked_id2');
      copyFileSync(h.keyPath, locked);
      spawnSync('ssh-keygen', ['-q', '-p', '-P', '', '-N', 'right', '-f', locked]);
      const keys = new KeyStore(() => Promise.resolve('wrong'));
      await expect(
        transport(a, { keys, settings: { identityFiles: [locked] } }).exec('true'),
      ).rejects.toThrow(/wrong passphrase/);
      const none = await transport(a, { settings: { identityFiles: [] } })
        .exec('true')
        .catch((e: unknown) => e);
      expect(none).toBeInstanceOf(AuthenticationError);
      expect((none as Error).message).toMatch(
        /no way to log in to \S+ as \S+: no ssh-agent and no usable key/,
      );
    });

    it('ssh-agent', async () => {
      const h = get();
      const sock = join(h.dir, `agent-${String(process.pid)}.sock`);
      const agent = spawnSync('ssh-agent', ['-a', sock, '-s'], { encoding: 'utf8' });
      const pid = /SSH_AGENT_PID=(\d+)/.exec(agent.stdout)?.[1];
      try {
        expect(
          spawnSync('ssh-add', [h.keyPath], { env: { ...process.env, SSH_AUTH_SOCK: sock } })
            .status,
        ).toBe(0);
        const t = transport(h.hosts[1], { settings: { identityFiles: [], agent: sock } });
        expect((await t.exec('echo agent')).stdout).toBe('agent\n');
      } finally {
        if (pid) process.kill(Number(pid));
      }
    });
  });

  uploadScenarios(get, transport);
}

/**
 * The upload scenarios alone, for an SFTP server of the lab's own (test/integration/lab/sftp.test.ts)
 * as well as sshd's and the lab's usual one (through `transportScenarios`).
 */
export function uploadScenarios(
  get: () => TransportHarness,
  transport: (host: string) => SshTransport,
): void {
  describe('upload', () => {
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const content = Buffer.from('KPSIM-KO 1\nname=livepatch_up\n' + 'x'.repeat(50_000));

    it('puts the file in place after checking its sha256 on the host', async () => {
      const h = get();
      const [a] = h.hosts;
      await transport(a).upload(content, '/var/tmp/livepatch-up.ko', { sha256: sha(content) });
      expect(readFileSync(join(h.root(a), 'var/tmp/livepatch-up.ko'))).toEqual(content);
      expect(readdirSync(join(h.root(a), 'var/tmp')).filter((f) => f.endsWith('.part'))).toEqual(
        [],
      );
    });

    it('a checksum that does not match leaves nothing where kpatch would load it', async () => {
      const h = get();
      const [, b] = h.hosts;
      const err = await transport(b)
        .upload(content, '/var/tmp/bad.ko', { sha256: 'a'.repeat(64) })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UploadError);
      expect((err as Error).message).toMatch(/sha256 mismatch/);
      expect(readdirSync(join(h.root(b), 'var/tmp')).filter((f) => f.includes('bad.ko'))).toEqual(
        [],
      );
    });

    it('a full disk fails the upload and leaves nothing behind', async () => {
      const h = get();
      const [, , c] = h.hosts;
      const t = transport(c);
      h.fault(c, 'disk-full');
      try {
        await expect(
          t.upload(content, '/var/tmp/full.ko', { sha256: sha(content) }),
        ).rejects.toBeInstanceOf(UploadError);
      } finally {
        h.clearFaults(c);
      }
      expect(readdirSync(join(h.root(c), 'var/tmp')).filter((f) => f.includes('full.ko'))).toEqual(
        [],
      );
    });

    it('refuses a remote path that is not safe', async () => {
      const h = get();
      for (const path of ['relative/x.ko', '~/../x.ko', '~//etc/x.ko', '~/'])
        await expect(
          transport(h.hosts[0]).upload(content, path, { sha256: sha(content) }),
          path,
        ).rejects.toThrow(/remote path/);
    });

    it('into the home folder: the missing folders made private, its absolute path answered', async () => {
      const h = get();
      const [a] = h.hosts;
      const t = transport(a);
      const dest = '~/.kpfleet-up/stage/0123456789abcdef/livepatch-up.ko';
      const placed = await t.upload(content, dest, {
        sha256: sha(content),
        mode: 0o644,
        makeFolders: true,
      });
      expect(placed).toMatch(/^\/\S*\/\.kpfleet-up\/stage\/0123456789abcdef\/livepatch-up\.ko$/);
      expect(readFileSync(join(h.root(a), placed))).toEqual(content);
      const home = placed.slice(0, placed.indexOf('/.kpfleet-up/'));
      for (const d of ['.kpfleet-up', '.kpfleet-up/stage', '.kpfleet-up/stage/0123456789abcdef'])
        expect(statSync(join(h.root(a), home, d)).mode & 0o777, d).toBe(0o700);
      expect(statSync(join(h.root(a), placed)).mode & 0o777).toBe(0o644);
      // again, over what is there: the folders are kept, the file replaced
      const other = Buffer.from('KPSIM-KO 1\nname=livepatch_up\n');
      expect(await t.upload(other, dest, { sha256: sha(other), makeFolders: true })).toBe(placed);
      expect(readFileSync(join(h.root(a), placed))).toEqual(other);
      expect(readdirSync(join(h.root(a), home, '.kpfleet-up/stage/0123456789abcdef'))).toEqual([
        'livepatch-up.ko',
      ]);
      // a file where a folder must be: refused, nothing written
      await expect(
        t.upload(content, '~/.kpfleet-up/stage/0123456789abcdef/livepatch-up.ko/x.ko', {
          sha256: sha(content),
          makeFolders: true,
        }),
      ).rejects.toBeInstanceOf(UploadError);
    });
  });
}
