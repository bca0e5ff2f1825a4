/**
 * resolveSshConfig against the real OpenSSH client: temp config files passed with `-F`, each
 * result compared to what `ssh -G` itself prints (the reference), then the parsed structure.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SshClientMissingError, SshConfigError } from '../../../src/errors.ts';
import { expandPath } from '../../../src/transport/ssh/ssh-config-tokens.ts';
import { parseJumpHost } from '../../../src/transport/ssh/ssh-config-values.ts';
import {
  clearSshConfigCache,
  resolveMany,
  resolveSshConfig,
  resolveSshConfigCached,
  sshGArgs,
} from '../../../src/transport/ssh/ssh-config.ts';
import type { ResolveSshConfigOptions } from '../../../src/transport/ssh/ssh-config.ts';

const home = userInfo().homedir;
const me = userInfo().username;
let dir = '';
/** A file in ~/.ssh for the relative Include (ssh resolves it there, from getpwuid's home). */
let sshDirInclude = '';
let createdSshDir = false;

function write(name: string, text: string): string {
  const path = join(dir, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  return path;
}

/** The reference: `ssh -G` run directly, its lines as key → values. */
function reference(host: string, opts: ResolveSshConfigOptions): Map<string, string[]> {
  const out = execFileSync('ssh', sshGArgs(host, opts), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const map = new Map<string, string[]>();
  for (const line of out.split('\n').filter((l) => l !== '')) {
    const [key = '', ...rest] = line.split(' ');
    map.set(key.toLowerCase(), [...(map.get(key.toLowerCase()) ?? []), rest.join(' ')]);
  }
  return map;
}

/** resolveSshConfig, checked line for line against `ssh -G`. */
async function resolve(host: string, opts: ResolveSshConfigOptions) {
  const resolved = await resolveSshConfig(host, opts);
  expect(new Map(resolved.raw)).toEqual(reference(host, opts));
  return resolved;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kpfleet-sshcfg-'));
  const sshDir = join(home, '.ssh');
  if (!existsSync(sshDir)) {
    mkdirSync(sshDir, { mode: 0o700 });
    createdSshDir = true;
  }
  sshDirInclude = `kpfleet-test-${String(process.pid)}-${String(Date.now())}.conf`;
  writeFileSync(join(sshDir, sshDirInclude), 'Host rel-included\n  User from-home-include\n');
});

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
  if (sshDirInclude !== '') rmSync(join(home, '.ssh', sshDirInclude), { force: true });
  // Only if still empty: something else may have put a file there meanwhile.
  if (createdSshDir) {
    try {
      rmdirSync(join(home, '.ssh'));
    } catch {
      // not empty: leave it
    }
  }
});

beforeEach(() => {
  clearSshConfigCache();
});

describe('resolveSshConfig (ssh -G)', () => {
  it('Host blocks: wildcards, negation, first value wins', async () => {
    const configFile = write(
      'hosts.conf',
      [
        'Host *.prod !db*.prod',
        '  User deploy',
        '  Port 2201',
        'Host web1.prod',
        '  User ignored-first-wins',
        '  HostName 10.0.0.1',
        'Host web?.prod',
        '  HostName ignored.example',
        'Host *',
        '  User fallback',
        '',
      ].join('\n'),
    );
    const web = await resolve('web1.prod', { configFile });
    expect(web).toMatchObject({
      host: 'web1.prod',
      hostname: '10.0.0.1',
      user: 'deploy',
      port: 2201,
    });
    const web2 = await resolve('web2.prod', { configFile });
    expect(web2).toMatchObject({ hostname: 'ignored.example', user: 'deploy', port: 2201 });
    const db = await resolve('db1.prod', { configFile });
    expect(db).toMatchObject({ hostname: 'db1.prod', user: 'fallback', port: 22 });
  });

  it('Match host, against the HostName and the original name', async () => {
    const configFile = write(
      'match.conf',
      [
        'Host short',
        '  HostName short.lab.example',
        'Match host *.lab.example',
        '  Port 2222',
        'Match originalhost short',
        '  User matched-original',
        '',
      ].join('\n'),
    );
    expect(await resolve('short', { configFile })).toMatchObject({
      hostname: 'short.lab.example',
      port: 2222,
      user: 'matched-original',
    });
    expect(await resolve('other', { configFile })).toMatchObject({ port: 22, user: me });
  });

  it('Include: absolute with a glob, and relative to ~/.ssh', async () => {
    write('conf.d/10-a.conf', 'Host inc-a\n  User from-a\n');
    write('conf.d/20-b.conf', 'Host inc-b\n  User from-b\nHost inc-a\n  User too-late\n');
    const configFile = write(
      'include.conf',
      [`Include ${join(dir, 'conf.d', '*.conf')}`, `Include ${sshDirInclude}`, ''].join('\n'),
    );
    expect((await resolve('inc-a', { configFile })).user).toBe('from-a');
    expect((await resolve('inc-b', { configFile })).user).toBe('from-b');
    expect((await resolve('rel-included', { configFile })).user).toBe('from-home-include');
  });

  it('ProxyJump chains, and ProxyJump none', async () => {
    const configFile = write(
      'jump.conf',
      [
        'Host direct',
        '  ProxyJump none',
        'Host inner-*',
        '  ProxyJump alice@bastion1:2201,bastion2,[fd00::1]:22',
        'Host *',
        '  ProxyJump gw.example',
        '',
      ].join('\n'),
    );
    const inner = await resolve('inner-1', { configFile });
    expect(inner.proxyJump).toEqual(['alice@bastion1:2201', 'bastion2', '[fd00::1]:22']);
    expect(inner.proxyJump?.map(parseJumpHost)).toEqual([
      { user: 'alice', host: 'bastion1', port: 2201 },
      { host: 'bastion2' },
      { host: 'fd00::1', port: 22 },
    ]);
    expect((await resolve('direct', { configFile })).proxyJump).toBeUndefined();
    expect((await resolve('elsewhere', { configFile })).proxyJump).toEqual(['gw.example']);
    expect(
      (await resolve('anything', { configFile: write('none.conf', '') })).proxyJump,
    ).toBeUndefined();
  });

  it('User, Port, HostName, several IdentityFiles (~ and % tokens expanded)', async () => {
    const configFile = write(
      'ids.conf',
      [
        'Host box',
        '  HostName box.example',
        '  User ops',
        '  Port 2022',
        '  IdentityFile ~/.ssh/id_ed25519_kpfleet',
        '  IdentityFile %d/keys/%h-%r-%p',
        '  IdentityFile /etc/keys/%u/%n/%%literal',
        '  IdentitiesOnly yes',
        '',
      ].join('\n'),
    );
    const box = await resolve('box', { configFile });
    expect(box).toMatchObject({ hostname: 'box.example', user: 'ops', port: 2022 });
    // ssh -G (9.2) prints IdentityFile as written; ssh expands it before use, and so do we.
    expect(box.raw.get('identityfile')).toEqual([
      '~/.ssh/id_ed25519_kpfleet',
      '%d/keys/%h-%r-%p',
      '/etc/keys/%u/%n/%%literal',
    ]);
    expect(box.identityFiles).toEqual([
      join(home, '.ssh/id_ed25519_kpfleet'),
      `${home}/keys/box.example-ops-2022`,
      `/etc/keys/${me}/box/%literal`,
    ]);
    expect(box.identitiesOnly).toBe(true);
    // Without IdentityFile, ssh's defaults, expanded.
    const plain = await resolve('plain', { configFile });
    expect(plain.identityFiles).toContain(join(home, '.ssh/id_ed25519'));
    expect(plain.identitiesOnly).toBe(false);
  });

  it('UserKnownHostsFile list, StrictHostKeyChecking accept-new, HostKeyAlias, timeouts', async () => {
    const configFile = write(
      'keys.conf',
      [
        'Host k',
        '  UserKnownHostsFile ~/.ssh/kh_fleet /etc/kpfleet/known_hosts',
        '  GlobalKnownHostsFile /etc/kpfleet/global_known_hosts',
        '  StrictHostKeyChecking accept-new',
        '  HostKeyAlias k-alias',
        '  HashKnownHosts yes',
        '  ConnectTimeout 7',
        '  ServerAliveInterval 15',
        '  ServerAliveCountMax 4',
        '  IdentityAgent ~/agent.sock',
        '  AddKeysToAgent confirm',
        '  ForwardAgent yes',
        'Host off',
        '  StrictHostKeyChecking off',
        '  IdentityAgent none',
        '  ForwardAgent /run/agent.sock',
        '',
      ].join('\n'),
    );
    const k = await resolve('k', { configFile });
    expect(k).toMatchObject({
      userKnownHostsFiles: [join(home, '.ssh/kh_fleet'), '/etc/kpfleet/known_hosts'],
      globalKnownHostsFiles: ['/etc/kpfleet/global_known_hosts'],
      strictHostKeyChecking: 'accept-new',
      hostKeyAlias: 'k-alias',
      hashKnownHosts: true,
      connectTimeout: 7,
      serverAliveInterval: 15,
      serverAliveCountMax: 4,
      identityAgent: join(home, 'agent.sock'),
      addKeysToAgent: 'confirm',
      forwardAgent: true,
    });
    const off = await resolve('off', { configFile });
    expect(off).toMatchObject({
      strictHostKeyChecking: 'no',
      hostKeyAlias: undefined,
      hashKnownHosts: false,
      connectTimeout: undefined,
      serverAliveInterval: 0,
      serverAliveCountMax: 3,
      identityAgent: 'none',
      addKeysToAgent: 'no',
      forwardAgent: '/run/agent.sock',
      userKnownHostsFiles: [join(home, '.ssh/known_hosts'), join(home, '.ssh/known_hosts2')],
      globalKnownHostsFiles: ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'],
    });
    expect(off.kexAlgorithms.length).toBeGreaterThan(0);
    expect(off.hostKeyAlgorithms).toContain('ssh-ed25519');
  });

  it('the command line (-l, -p) wins over the file', async () => {
    const configFile = write('cli.conf', 'Host c\n  User file-user\n  Port 2200\n');
    expect(await resolve('c', { configFile })).toMatchObject({ user: 'file-user', port: 2200 });
    expect(await resolve('c', { configFile, user: 'cli-user', port: 2300 })).toMatchObject({
      user: 'cli-user',
      port: 2300,
    });
  });

  it("the inventory's ssh arguments go on ssh's command line, where the first value wins over the file", async () => {
    const configFile = write(
      'args.conf',
      'Host c\n  User file-user\n  Port 2200\n  ProxyCommand ssh -W %h:%p file-bastion\n',
    );
    const extraArgs = {
      before: ['-o', 'Port=2400'],
      after: ['-J', 'arg-jump', '-o', 'User=arg-user'],
    };
    expect(sshGArgs('c', { configFile: false, user: 'u', port: 2500, extraArgs })).toEqual([
      '-G',
      '-F',
      'none',
      '-o',
      'Port=2400',
      '-l',
      'u',
      '-p',
      '2500',
      '-J',
      'arg-jump',
      '-o',
      'User=arg-user',
      '--',
      'c',
    ]);
    const r = await resolve('c', { configFile, extraArgs });
    expect(r).toMatchObject({ user: 'arg-user', port: 2400, proxyJump: ['arg-jump'] });
    expect(r.proxyCommand).toBeUndefined();
    expect(await resolve('c', { configFile, user: 'cli-user', extraArgs })).toMatchObject({
      user: 'cli-user',
    });
  });

  it('configFile false reads no file (-F none)', async () => {
    expect(sshGArgs('h', { configFile: false })).toEqual(['-G', '-F', 'none', '--', 'h']);
    const r = await resolve('h', { configFile: false });
    expect(r).toMatchObject({ hostname: 'h', user: me, port: 22, strictHostKeyChecking: 'ask' });
  });

  it('without a config file, one ssh -G serves every host: the result is what ssh -G says for each', async () => {
    clearSshConfigCache();
    for (const [host, port] of [
      ['127.91.0.1', 2222],
      ['Web01.Example.COM', 22],
      ['db-a', undefined],
      ['127.0.0.1', 40123],
      // numeric addresses ssh rewrites to their standard form, and IPv6: each asks ssh itself
      ['127.1', 2222],
      ['0x7f.1', undefined],
      ['1234', undefined],
      ['127.0.0.01', 22],
      ['2001:0db8::0001', 2200],
      ['FD00::1', undefined],
    ] as const) {
      const opts = { configFile: false as const, user: 'deploy', port };
      const shared = await resolveSshConfigCached(host, opts);
      const own = await resolveSshConfig(host, opts);
      // the shared answer's raw lines are the template's with this host's overlaid (not copied)
      expect({ ...shared, raw: new Map(shared.raw) }).toEqual(own);
      for (const [key, values] of own.raw) expect(shared.raw.get(key), key).toEqual(values);
      expect(shared.raw.size).toBe(own.raw.size);
    }
  });

  it('leaves the default user config to ssh (no -F: /etc/ssh/ssh_config is read too)', () => {
    expect(sshGArgs('h', { configFile: '~/.ssh/config' })).toEqual(['-G', '--', 'h']);
    expect(sshGArgs('h', { configFile: join(home, '.ssh', 'config') })).toEqual(['-G', '--', 'h']);
    expect(sshGArgs('h', {})).toEqual(['-G', '--', 'h']);
    expect(sshGArgs('h', { configFile: '/x', user: 'u', port: 2 })).toEqual([
      '-G',
      '-F',
      '/x',
      '-l',
      'u',
      '-p',
      '2',
      '--',
      'h',
    ]);
  });

  it('a broken config: a typed error with ssh’s stderr, file and line', async () => {
    const configFile = write('broken.conf', 'Host x\n  User ok\n  Bogus yes\n');
    const err = await resolveSshConfig('x', { configFile }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SshConfigError);
    const e = err as SshConfigError;
    expect(e.code).toBe('E_SSH_CONFIG');
    expect(e.exitCode).toBe(3);
    expect(e.stderr).toContain('Bad configuration option: bogus');
    expect(e.file).toBe(configFile);
    expect(e.line).toBe(3);
    expect(e.host).toBe('x');
    expect(e.message).toContain('Bad configuration option');
  });

  it('a missing -F file, and a host that is not a host name, are typed errors too', async () => {
    const missing = await resolveSshConfig('x', { configFile: join(dir, 'nope.conf') }).catch(
      (e: unknown) => e,
    );
    expect(missing).toBeInstanceOf(SshConfigError);
    expect((missing as SshConfigError).stderr).toContain("Can't open user config file");
    // `--` keeps a host starting with `-` from being read as an option.
    const dash = await resolveSshConfig('-oProxyCommand=touch /tmp/x', {
      configFile: false,
    }).catch((e: unknown) => e);
    expect(dash).toBeInstanceOf(SshConfigError);
    expect((dash as SshConfigError).stderr).toContain('invalid characters');
  });

  it('the hint quotes the ssh -G command it prints: pasted into a shell, it runs nothing else', async () => {
    const canary = join(dir, 'CANARY');
    const user = `$(touch ${canary})`;
    const err = await resolveSshConfig('web1', { configFile: false, user }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SshConfigError);
    const hint = (err as SshConfigError).hint ?? '';
    expect(hint).toBe(`run \`ssh -G -F none -l '${user}' -- web1\` to see what ssh says`);
    const command = /`(.*)`/.exec(hint)?.[1] ?? '';
    const pasted = spawnSync('sh', ['-c', command], { encoding: 'utf8' });
    expect(pasted.stderr).toContain('remote username contains invalid characters');
    expect(existsSync(canary)).toBe(false);
  });

  it('ssh -G printing more than kpfleet reads is a typed error that says so, not a timeout', async () => {
    // 1,500 SendEnv patterns of 3,000 characters: `ssh -G` prints 4.5 MB, above the 4 MiB kept
    const big = write(
      'huge.conf',
      `Host *\n${Array.from({ length: 1500 }, (_, i) => `  SendEnv V${String(i)}_${'x'.repeat(3000)}\n`).join('')}`,
    );
    const err = await resolveSshConfig('x', { configFile: big }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SshConfigError);
    expect((err as SshConfigError).message).toMatch(/printed more than 4 MiB/);
    expect((err as SshConfigError).message).not.toMatch(/did not answer/);
  });

  it('ssh missing: says OpenSSH is needed, or connection.ssh_config: false', async () => {
    const err = await resolveSshConfig('x', { sshBinary: join(dir, 'no-such-ssh') }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SshClientMissingError);
    const e = err as SshClientMissingError;
    expect(e.code).toBe('E_SSH_CLIENT_MISSING');
    expect(e.message).toContain("OpenSSH's client is needed to read ~/.ssh/config");
    expect(e.hint).toContain('connection.ssh_config: false');
  });
});

describe('cache and resolveMany', () => {
  it('caches by arguments, not across different ones', async () => {
    const configFile = write('cache.conf', 'Host *\n  User cached\n');
    const a = resolveSshConfigCached('h1', { configFile });
    expect(resolveSshConfigCached('h1', { configFile })).toBe(a);
    expect(resolveSshConfigCached('h1', { configFile, port: 2 })).not.toBe(a);
    expect((await a).user).toBe('cached');
    clearSshConfigCache();
    expect(resolveSshConfigCached('h1', { configFile })).not.toBe(a);
  });

  it('resolves many hosts in order, bounded, duplicates once', async () => {
    const configFile = write('many.conf', 'Host n*\n  Port 2345\n');
    const hosts = Array.from({ length: 40 }, (_, i) => `n${String(i)}`);
    const started = Date.now();
    const map = await resolveMany([...hosts, 'n0'], { configFile }, 4);
    expect([...map.keys()]).toEqual(hosts);
    for (const h of hosts) expect(map.get(h)).toMatchObject({ host: h, port: 2345 });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('rejects with the first failing host’s error', async () => {
    const configFile = write('many-bad.conf', 'Host bad\n  Nonsense 1\n');
    const err = await resolveMany(['ok1', 'bad', 'ok2'], { configFile }).catch((e: unknown) => e);
    // A bad line fails every host; the first in order is reported.
    expect(err).toBeInstanceOf(SshConfigError);
    expect((err as SshConfigError).host).toBe('ok1');
  });
});

describe('pure helpers', () => {
  it('parseJumpHost', () => {
    expect(parseJumpHost('bastion')).toEqual({ host: 'bastion' });
    expect(parseJumpHost('u@b:2200')).toEqual({ user: 'u', host: 'b', port: 2200 });
    expect(parseJumpHost('ssh://u@b:2200')).toEqual({ user: 'u', host: 'b', port: 2200 });
    expect(parseJumpHost('u@[::1]')).toEqual({ user: 'u', host: '::1' });
  });

  it('expandPath: ~, ${ENV}, and every IdentityFile token', () => {
    const ctx = {
      originalHost: 'orig',
      hostname: 'h.example',
      port: 2200,
      remoteUser: 'r',
      hostKeyAlias: undefined,
      home: '/home/me',
      localUser: 'me',
      uid: 1000,
      localHostname: 'laptop.corp.example',
      env: { KEYDIR: '/keys' },
    };
    expect(expandPath('~/.ssh/id', ctx)).toBe('/home/me/.ssh/id');
    expect(expandPath('~', ctx)).toBe('/home/me');
    expect(expandPath('${KEYDIR}/%k/${UNSET}', ctx)).toBe('/keys/orig/${UNSET}');
    expect(expandPath('%d %h %i %k %L %l %n %p %r %u %% %z', ctx)).toBe(
      '/home/me h.example 1000 orig laptop laptop.corp.example orig 2200 r me % %z',
    );
    expect(expandPath('%C', ctx)).toBe(
      createHash('sha1').update('laptop.corp.exampleh.example2200r').digest('hex'),
    );
    expect(expandPath('%k', { ...ctx, hostKeyAlias: 'alias' })).toBe('alias');
  });
});
