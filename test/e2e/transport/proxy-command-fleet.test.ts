/**
 * ProxyCommand for real (issue 14 §2), with the built CLI and real OpenSSH on both sides: the
 * target's HostName resolves only on a jump host (its /etc/hosts, in its own mount namespace), so
 * kpfleet can reach it only through `ProxyCommand ssh -W %h:%p <jump>`. The jump's sshd log shows
 * the login the proxy made. A ProxyCommand that fails is an unreachable host (exit 4) with what
 * the command said. The project's ssh config runs a command, so it needs --trust-ssh-config.
 */
import { execFileSync } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBuilt } from '../../cli-built.ts';
import { fleetDown, fleetUp } from '../../../lab/fleet.ts';
import type { Fleet, FleetHost } from '../../../lab/fleet.ts';
import { knownHostsLine, TMP_BASE } from '../../../lab/host-dir.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;
const PROXY = join(ROOT, 'lab/tcp-proxy.js');
const DIR = join(TMP_BASE, `e2e-proxy-command-${String(process.pid)}`);
const PROJECT = join(DIR, 'project');
const HIDDEN = 'h002.behind-jump.internal';
let fleet: Fleet;
let jump: FleetHost;
let target: FleetHost;

const kpfleet = (args: string[]) => runBuilt(args, { cwd: PROJECT });

/** Logins sshd accepted on a host (LogLevel VERBOSE). */
function logins(h: FleetHost): number {
  return readFileSync(join(h.dir, 'sshd.log'), 'utf8')
    .split('\n')
    .filter((l) => /Accepted publickey/.test(l)).length;
}

beforeAll(async () => {
  fleet = await fleetUp({
    hosts: 2,
    dir: DIR,
    subnet: 93,
    logLevel: 'VERBOSE',
    simProfile: { TIME_SCALE: '0.01' },
  });
  [jump, target] = [fleet.host('h001'), fleet.host('h002')];
  // Only the jump host knows the target's name: its own /etc/hosts, in its mount namespace.
  writeFileSync(join(jump.dir, 'etc-hosts'), `127.0.0.1 localhost\n${target.address} ${HIDDEN}\n`);
  execFileSync('nsenter', [
    '-t',
    String(jump.state.pid),
    '-m',
    'mount',
    '--bind',
    '/run/kpsim-host/etc-hosts',
    '/etc/hosts',
  ]);

  const { key, user, knownHosts } = fleet.state;
  const sshW = [
    'ssh -F none',
    `-i ${key}`,
    `-o UserKnownHostsFile=${knownHosts} -o GlobalKnownHostsFile=/dev/null`,
    '-o StrictHostKeyChecking=yes -o BatchMode=yes',
    `-W %h:%p ${user}@${jump.address}`,
  ].join(' ');
  mkdirSync(PROJECT, { recursive: true });
  writeFileSync(
    join(PROJECT, 'ssh_config'),
    [
      'Host hidden',
      `  HostName ${HIDDEN}`,
      `  ProxyCommand ${sshW}`,
      'Host nowhere',
      '  HostName nowhere.behind-jump.internal',
      `  ProxyCommand ${sshW}`,
      'Host jumped',
      `  HostName ${target.address}`,
      '  ProxyJump jump-via-proxy',
      'Host jump-via-proxy',
      `  HostName ${jump.address}`,
      `  ProxyCommand ${process.execPath} ${PROXY} %h %p - ${join(DIR, 'proxy.marker')}`,
      'Host *',
      `  User ${user}`,
      `  IdentityFile ${key}`,
      '  IdentitiesOnly yes',
      '',
    ].join('\n'),
  );
  const targetKey = readFileSync(join(target.dir, 'ssh_host_ed25519_key.pub'), 'utf8');
  writeFileSync(
    join(PROJECT, 'known_hosts'),
    readFileSync(knownHosts, 'utf8') + knownHostsLine(HIDDEN, 22, targetKey) + '\n',
  );
  writeFileSync(join(PROJECT, 'inventory.ini'), 'hidden\nnowhere\njumped\n');
  writeFileSync(
    join(PROJECT, 'kpfleet.yml'),
    'inventory: inventory.ini\nconnection:\n  ssh_config: ssh_config\n  known_hosts: known_hosts\n  connect_timeout: 5s\n',
  );
}, 120_000);
afterAll(async () => {
  await fleetDown(DIR);
});

describe('ProxyCommand through a fleet host, with the built CLI', () => {
  it('is refused without --trust-ssh-config: the ssh config is in the project', async () => {
    const r = await kpfleet(['facts', '--limit', 'hidden']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(
      /ssh_config:3:3: error: `ProxyCommand` runs a command on this machine/,
    );
  });

  it('kpfleet facts reaches the target only through the jump host', async () => {
    // this machine cannot resolve the target's name
    await expect(lookup(HIDDEN)).rejects.toThrow(/ENOTFOUND|EAI_AGAIN/);
    const [jumpBefore, targetBefore] = [logins(jump), logins(target)];
    const r = await kpfleet(['facts', '--trust-ssh-config', '--limit', 'hidden', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const hosts = (
      JSON.parse(r.stdout) as { hosts: { host: string; ok: boolean; facts: { kernel: string } }[] }
    ).hosts;
    expect(hosts.map((h) => [h.host, h.ok, h.facts.kernel])).toEqual([
      ['hidden', true, '5.14.0-362.8.1.el9_3.x86_64'],
    ]);
    // the proxy logged in to the jump host, and kpfleet (through it) to the target
    expect(logins(jump)).toBe(jumpBefore + 1);
    expect(logins(target)).toBe(targetBefore + 1);
  });

  it('a ProxyCommand that fails: unreachable, exit 4, with what it said', async () => {
    const r = await kpfleet(['facts', '--trust-ssh-config', '--limit', 'nowhere']);
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(
      /^nowhere {2}E_UNREACHABLE: cannot connect to nowhere\.behind-jump\.internal:22: .*; ProxyCommand `ssh -F none .* -W nowhere\.behind-jump\.internal:22 kpfleet@127\.93\.0\.1` exited with 255, saying: channel 0: open failed: .* \/ stdio forwarding failed$/m,
    );
  });

  it('a ProxyJump whose first hop is reached through its own ProxyCommand', async () => {
    const r = await kpfleet(['facts', '--trust-ssh-config', '--limit', 'jumped', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readFileSync(join(DIR, 'proxy.marker'), 'utf8')).toMatch(
      new RegExp(`^\\d+ ${jump.address.replace(/\./g, '\\.')}:22\\n$`),
    );
  });
});
