/**
 * The SSH transport against real OpenSSH servers (issue 4): settings resolved through
 * `ssh -G` from an ssh_config (User, Port, HostName, IdentityFile, ProxyJump chains), a jump
 * through a fleet host, real sudo with and without a password, and more parallel commands
 * than OpenSSH's MaxSessions (10) on one connection.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../../src/config-model.ts';
import type { HostConnection } from '../../../src/connection.ts';
import { HostKeyPolicy } from '../../../src/transport/ssh/host-key-policy.ts';
import { KeyStore } from '../../../src/transport/ssh/keys.ts';
import { resolveSshSettings } from '../../../src/transport/ssh/settings.ts';
import { SshTransport } from '../../../src/transport/ssh/ssh-transport.ts';
import { fleetDown, fleetUp } from '../../../lab/fleet.ts';
import type { Fleet } from '../../../lab/fleet.ts';
import { TMP_BASE } from '../../../lab/host-dir.ts';
import { transportScenarios } from '../../transport-scenarios.ts';

const DIR = join(TMP_BASE, `e2e-transport-${process.pid}`);
let fleet: Fleet;
const open: SshTransport[] = [];

beforeAll(async () => {
  fleet = await fleetUp({ hosts: 3, dir: DIR, subnet: 84, simProfile: { TIME_SCALE: '0.02' } });
}, 120_000);
afterAll(async () => {
  for (const t of open) await t.close();
  await fleetDown(DIR);
});

function connection(host: string, extra: Partial<HostConnection> = {}): HostConnection {
  return {
    host,
    address: host,
    become: 'sudo',
    knownHosts: [fleet.state.knownHosts],
    hostKeyChecking: 'strict',
    sshConfig: join(DIR, 'ssh_config'),
    connectTimeoutMs: 5000,
    commandTimeoutMs: DEFAULTS.commandTimeoutMs,
    keepaliveIntervalMs: 2000,
    ...extra,
  };
}

async function transport(conn: HostConnection): Promise<SshTransport> {
  const settings = await resolveSshSettings(conn, { env: {} });
  const t = new SshTransport(settings, {
    keys: new KeyStore(),
    hostKeys: new HostKeyPolicy({ files: conn.knownHosts, mode: conn.hostKeyChecking }),
    connectAttempts: 1,
  });
  open.push(t);
  return t;
}

describe('the transport scenarios, on real sshd', () => {
  transportScenarios(() => ({
    user: fleet.state.user,
    keyPath: fleet.state.key,
    knownHostsPath: fleet.state.knownHosts,
    dir: DIR,
    hosts: ['h001', 'h002', 'h003'],
    endpoint: (n) => ({ address: fleet.host(n).address, port: fleet.host(n).state.port }),
    hostPublicKey: (n) => readFileSync(join(fleet.host(n).dir, 'ssh_host_ed25519_key.pub'), 'utf8'),
    root: (n) => fleet.host(n).sim.root,
    fault: (n, f) => fleet.host(n).fault(f),
    clearFaults: (n) => fleet.host(n).clearFaults(),
    sudoWantsPassword: (n, on) => fleet.host(n).setSudo(on ? 'password' : 'nopasswd'),
    hang: (n) => fleet.host(n).hang(),
    resume: (n) => fleet.host(n).resume(),
    dropCommand: 'sudo kpatch list',
  }));
});

describe('SSH transport on real sshd: ~/.ssh/config and jumps', () => {
  beforeAll(() => {
    const [h1, h2, h3] = fleet.hosts;
    if (!h1 || !h2 || !h3) throw new Error('no hosts');
    // What an operator's ~/.ssh/config says; kpfleet must read it as OpenSSH does.
    writeFileSync(
      join(DIR, 'ssh_config'),
      [
        'Host alpha',
        `  HostName ${h1.address}`,
        'Host beta',
        `  HostName ${h2.address}`,
        '  ProxyJump alpha',
        'Host gamma',
        `  HostName ${h3.address}`,
        '  ProxyJump alpha,beta',
        'Host *',
        `  User ${fleet.state.user}`,
        `  IdentityFile ${fleet.state.key}`,
        '  IdentitiesOnly yes',
        '',
      ].join('\n'),
    );
  });

  it('resolves User, HostName and IdentityFile from ssh_config', async () => {
    const t = await transport(connection('alpha'));
    const r = await t.exec('id -un; uname -r');
    expect(r.stdout).toBe('kpfleet\n5.14.0-362.8.1.el9_3.x86_64\n');
  });

  it('ProxyJump through a fleet host, and a chain of two, each hop verified', async () => {
    const beta = await transport(connection('beta'));
    expect((await beta.exec('cat /proc/cmdline')).code).toBe(0);
    const gamma = await transport(connection('gamma'));
    // gamma is only reached through alpha and beta; its own key is checked under its name
    expect((await gamma.exec('echo through two jumps')).stdout).toBe('through two jumps\n');
    const fleetHost = fleet.hosts[2];
    expect(fleetHost?.pids().length).toBeGreaterThan(1); // its sshd and our session
  });

  it('ansible_ssh_private_key_file (an rsa key here) without ~/.ssh/config', async () => {
    const h = fleet.host('h002');
    const key = join(DIR, 'id_rsa_ansible');
    expect(
      spawnSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', key]).status,
    ).toBe(0);
    appendFileSync(join(h.dir, 'authorized_keys'), readFileSync(key + '.pub'));
    const conn = connection('h002', {
      address: h.address,
      user: fleet.state.user,
      privateKeyFile: key,
      sshConfig: false,
    });
    const settings = await resolveSshSettings(conn, { env: {} });
    expect(settings.identityFiles[0]).toBe(key);
    expect(settings).toMatchObject({ address: h.address, port: 22, user: 'kpfleet', jump: [] });
    const t = await transport(conn);
    expect((await t.exec('id -un')).stdout).toBe('kpfleet\n');
  });

  it('a host key that does not match known_hosts is refused through the jump too', async () => {
    const wrong = join(DIR, 'known_hosts.wrong');
    const lines = (await import('node:fs'))
      .readFileSync(fleet.state.knownHosts, 'utf8')
      .trim()
      .split('\n');
    // give gamma's address alpha's key
    const [l1, , l3] = lines;
    writeFileSync(
      wrong,
      [
        l1,
        lines[1],
        `${(l3 ?? '').split(' ')[0] ?? ''} ${(l1 ?? '').split(' ').slice(1).join(' ')}`,
      ].join('\n') + '\n',
    );
    const t = await transport(connection('gamma', { knownHosts: [wrong] }));
    await expect(t.exec('true')).rejects.toThrow(/has CHANGED/);
  });
});
