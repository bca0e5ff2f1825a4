/**
 * ProxyCommand for real (issue 14 §2): resolved by `ssh -G`, run through the shell with its
 * tokens expanded, SSH spoken over its stdin/stdout, the host key checked under the target's
 * name, stopped when the connection closes, its stderr shown when it fails. Against the lab,
 * through a small proxy (lab/tcp-proxy.js) that alone can resolve the target's HostName.
 * The real OpenSSH `ssh -W` through a fleet host is in test/e2e/transport/proxy-command-fleet.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../../src/config-model.ts';
import type { HostConnection } from '../../../src/connection.ts';
import { SshConfigError } from '../../../src/errors.ts';
import { HostUnreachableError } from '../../../src/transport/errors.ts';
import { HostKeyPolicy } from '../../../src/transport/ssh/host-key-policy.ts';
import { KeyStore } from '../../../src/transport/ssh/keys.ts';
import { resolveSshSettings } from '../../../src/transport/ssh/settings.ts';
import { clearSshConfigCache } from '../../../src/transport/ssh/ssh-config.ts';
import { SshTransport } from '../../../src/transport/ssh/ssh-transport.ts';
import { knownHostsLine } from '../../../lab/host-dir.ts';
import { Lab } from '../../../lab/lab.ts';

const PROXY = new URL('../../../lab/tcp-proxy.js', import.meta.url).pathname;
const HIDDEN = 'lab001.behind-proxy.invalid';
let lab: Lab;
let marker: string;
const open: SshTransport[] = [];

function conn(address: string, extra: Partial<HostConnection> = {}): HostConnection {
  return {
    host: address,
    address,
    become: 'sudo',
    knownHosts: [join(lab.dir, 'known_hosts.proxy')],
    hostKeyChecking: 'strict',
    sshConfig: join(lab.dir, 'ssh_config.proxy'),
    connectTimeoutMs: 5000,
    commandTimeoutMs: DEFAULTS.commandTimeoutMs,
    keepaliveIntervalMs: 2000,
    ...extra,
  };
}

async function transport(c: HostConnection, attempts = 1): Promise<SshTransport> {
  const t = new SshTransport(await resolveSshSettings(c, { env: {} }), {
    keys: new KeyStore(),
    hostKeys: new HostKeyPolicy({ files: c.knownHosts, mode: c.hostKeyChecking }),
    connectAttempts: attempts,
  });
  open.push(t);
  return t;
}

function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

beforeAll(async () => {
  lab = await Lab.start({ hosts: 2, simProfile: { TIME_SCALE: '0.01' } });
  marker = join(lab.dir, 'proxy.marker');
  const [h1, h2] = [lab.host('lab001'), lab.host('lab002')];
  // each host says who it is (the lab's commands run as root in the host's namespace)
  for (const h of [h1, h2]) writeFileSync(join(h.sim.root, 'etc-who'), `${h.name}\n`);
  const proxy = `${process.execPath} ${PROXY} %h %p ${HIDDEN}=127.0.0.1 ${marker}`;
  writeFileSync(
    join(lab.dir, 'ssh_config.proxy'),
    [
      'Host hidden',
      `  HostName ${HIDDEN}`,
      `  Port ${String(h1.port)}`,
      `  ProxyCommand ${proxy}`,
      'Host refusing',
      `  HostName ${HIDDEN}`,
      `  ProxyCommand sh -c 'echo "bastion: no route for %r to %h:%p" >&2; exit 7'`,
      'Host direct',
      '  HostName 127.0.0.1',
      `  Port ${String(h2.port)}`,
      '  ProxyCommand none',
      'Host jumped',
      '  HostName 127.0.0.1',
      `  Port ${String(h2.port)}`,
      '  ProxyJump hidden',
      `  ProxyCommand ${process.execPath} ${PROXY} never-used 1`,
      'Host bad-token',
      '  ProxyCommand nc %h %p %Q',
      'Host *',
      `  User ${lab.user}`,
      `  IdentityFile ${lab.keyPath}`,
      '  IdentitiesOnly yes',
      '  ProxyCommand false',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(lab.dir, 'known_hosts.proxy'),
    [
      // the target is known by its own name (HostName and port), whatever the proxy connects to
      knownHostsLine(HIDDEN, h1.port, h1.hostKey.public),
      knownHostsLine('127.0.0.1', h2.port, h2.hostKey.public),
      '',
    ].join('\n'),
  );
});
afterAll(async () => {
  for (const t of open) await t.close();
  await lab.close();
});
beforeEach(() => {
  clearSshConfigCache();
  writeFileSync(marker, '');
});

describe('ProxyCommand', () => {
  it('reaches a host only the proxy can resolve, with its tokens expanded; stopped on close', async () => {
    const settings = await resolveSshSettings(conn('hidden'), { env: {} });
    expect(settings).toMatchObject({ address: HIDDEN, jump: [] });
    expect(settings.proxyCommand).toBe(
      `${process.execPath} ${PROXY} ${HIDDEN} ${String(lab.host('lab001').port)} ${HIDDEN}=127.0.0.1 ${marker}`,
    );
    const t = await transport(conn('hidden'));
    expect((await t.exec('cat /run/kpsim-host/root/etc-who')).stdout).toBe('lab001\n');
    const [line, ...more] = readFileSync(marker, 'utf8').trim().split('\n');
    expect(more).toEqual([]);
    const [pid, target] = (line ?? '').split(' ');
    expect(target).toBe(`${HIDDEN}:${String(lab.host('lab001').port)}`);
    expect(gone(Number(pid))).toBe(false);
    await t.close();
    // the proxy ends with the connection (stdin closed, then SIGHUP, as ssh does)
    for (let i = 0; i < 200 && !gone(Number(pid)); i++) await new Promise((r) => setTimeout(r, 25));
    expect(gone(Number(pid))).toBe(true);
  });

  it('the host key is checked under the target’s name, not what the proxy reaches', async () => {
    const wrong = join(lab.dir, 'known_hosts.proxy-wrong');
    // lab001's key recorded for 127.0.0.1 only: the target's own name is unknown
    writeFileSync(
      wrong,
      knownHostsLine('127.0.0.1', lab.host('lab001').port, lab.host('lab001').hostKey.public) +
        '\n',
    );
    const t = await transport(conn('hidden', { knownHosts: [wrong] }));
    await expect(t.exec('true')).rejects.toThrow(
      new RegExp(`\\[${HIDDEN.replace(/\./g, '\\.')}\\]:\\d+ is not in known_hosts`),
    );
  });

  it('a failing proxy: unreachable (exit 4), with how it ended and its stderr', async () => {
    const t = await transport(conn('refusing'), 2);
    const err = await t.exec('true').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostUnreachableError);
    expect((err as HostUnreachableError).exitCode).toBe(4);
    expect((err as Error).message).toMatch(
      new RegExp(
        `^cannot connect to ${HIDDEN.replace(/\./g, '\\.')}:22: .*; ProxyCommand \`sh -c 'echo "bastion: no route for ${lab.user} to ${HIDDEN.replace(/\./g, '\\.')}:22" >&2; exit 7'\` exited with 7, saying: bastion: no route for ${lab.user} to ${HIDDEN.replace(/\./g, '\\.')}:22$`,
      ),
    );
  });

  it('ProxyCommand none connects directly; with ProxyJump first, the jump is used, its first hop through its own ProxyCommand', async () => {
    const direct = await resolveSshSettings(conn('direct'), { env: {} });
    expect(direct.proxyCommand).toBeUndefined();
    expect(
      (await (await transport(conn('direct'))).exec('cat /run/kpsim-host/root/etc-who')).stdout,
    ).toBe('lab002\n');

    const jumped = await resolveSshSettings(conn('jumped'), { env: {} });
    expect(jumped.proxyCommand).toBeUndefined();
    // the jump host is reached through its own ProxyCommand
    expect(jumped.jump).toMatchObject([{ address: HIDDEN }]);
    expect(jumped.jump[0]?.proxyCommand).toContain(`${HIDDEN}=127.0.0.1`);
    // (the lab forwards no TCP: the jump itself is exercised on real sshd, in e2e)
  });

  it('an unknown token is a configuration error (exit 3), as ssh refuses it', async () => {
    const err = await resolveSshSettings(conn('bad-token'), { env: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SshConfigError);
    expect((err as Error).message).toMatch(/unknown token %Q in ProxyCommand/);
  });
});

describe('names from a ProxyJump', () => {
  it.each([
    ['host', 'x$(touch${IFS}$KPFLEET_JUMP_MARKER)y'],
    ['user', 'ops;touch${IFS}$KPFLEET_JUMP_MARKER;@127.0.0.1'],
  ])('a jump %s with shell syntax never reaches ssh -G (exit 3)', async (what, spec) => {
    // a trusted config whose Match exec puts %h into a shell command, as many do
    // (the marker's path reaches the command through the environment: ssh refuses a `/` there)
    const jumpMarker = join(lab.dir, 'jump.marker');
    process.env.KPFLEET_JUMP_MARKER = jumpMarker;
    const file = join(lab.dir, 'ssh_config.jump');
    writeFileSync(
      file,
      [
        'Host hostile-jump',
        '  HostName 127.0.0.1',
        `  ProxyJump ${spec}`,
        'Match exec "test %h != never"',
        '',
      ].join('\n'),
    );
    const err = await resolveSshSettings(conn('hostile-jump', { sshConfig: file }), {
      env: {},
    }).catch((e: unknown) => e);
    expect(existsSync(jumpMarker)).toBe(false);
    expect(err).toBeInstanceOf(SshConfigError);
    expect((err as SshConfigError).exitCode).toBe(3);
    expect((err as Error).message).toMatch(
      new RegExp(`^the ProxyJump ${what} ".*" of hostile-jump has characters a shell would read$`),
    );
  });
});

describe('names from the inventory', () => {
  it.each([
    ['address', 'lab$(touch /tmp/x)'],
    ['address', '-oProxyCommand=id'],
    ['user', 'ops;id'],
  ])('the %s has shell syntax: it never reaches ssh -G (exit 3)', async (what, name) => {
    const c =
      what === 'address'
        ? conn(name, { host: 'web1' })
        : conn('direct', { host: 'web1', user: name });
    const err = await resolveSshSettings(c, { env: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SshConfigError);
    expect((err as SshConfigError).exitCode).toBe(3);
    expect((err as Error).message).toBe(
      `the ${what} ${JSON.stringify(name)} of web1 has characters a shell would read`,
    );
  });

  it('a host whose connection variables cannot be used is never connected to (exit 3)', async () => {
    const c = conn('{{ ip }}', { host: 'web1', unusable: "ansible_host: 'ip' is undefined" });
    const err = await resolveSshSettings(c, { env: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SshConfigError);
    expect((err as SshConfigError).exitCode).toBe(3);
    expect((err as Error).message).toContain("cannot be used: ansible_host: 'ip' is undefined");
  });
});
