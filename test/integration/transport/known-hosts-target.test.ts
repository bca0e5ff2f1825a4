/**
 * accept-new writes a host key only under a host name and only into a known_hosts file (issue 14,
 * hostile review, finding 2): the known_hosts path comes from kpfleet.yml and the HostKeyAlias
 * from the ssh config, both of which a pull request can change. Real files, the real HostKeyPolicy;
 * a refused host is refused (exit 4 through HostKeyError) and nothing is written anywhere.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.ts';
import { HostKeyPolicy } from '../../../src/transport/ssh/host-key-policy.ts';
import type { SshEndpoint } from '../../../src/transport/ssh/endpoint.ts';
import { ed25519KeyPair } from '../../../lab/lab.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kpfleet-kh-target-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function blob(): Buffer {
  const key = ssh2.utils.parseKey(ed25519KeyPair().public);
  if (key instanceof Error) throw key;
  return key.getPublicSSH();
}

function endpoint(hostKeyAlias?: string): SshEndpoint {
  return {
    keyName: 'web01.example',
    address: 'web01.example',
    port: 22,
    user: 'deploy',
    ...(hostKeyAlias === undefined ? {} : { hostKeyAlias }),
  };
}

async function acceptNew(file: string, alias?: string) {
  const warnings: string[] = [];
  const policy = new HostKeyPolicy({
    files: [file],
    mode: 'accept-new',
    onWarning: (w) => warnings.push(w),
  });
  return { ...(await policy.decide(endpoint(alias), blob())), warnings };
}

const BASHRC = "export PATH=$PATH:~/bin\nalias ll='ls -l'\n";
const HOSTILE = "x;s=$'\\x20';touch${s}MARKER;#";

describe('the name recorded', () => {
  it('the review’s HostKeyAlias is refused, and ~/.bashrc stays as it was', async () => {
    const bashrc = join(dir, '.bashrc');
    writeFileSync(bashrc, BASHRC);
    const d = await acceptNew(bashrc, HOSTILE);
    expect(d.accept).toBe(false);
    expect(d.reason).toMatch(
      /^the host key of web01\.example \(ssh-ed25519 SHA256:\S+\) is new, and host_key_checking: accept-new cannot record it: kpfleet records host keys only under a host name, and the HostKeyAlias "x;s=\$'\\\\x20';touch\$\{s\}marker;#" is not one: it is not a host name, an IP address or \[name\]:port$/,
    );
    expect(d.hint).toMatch(/set HostKeyAlias \(or HostName\)/);
    expect(readFileSync(bashrc, 'utf8')).toBe(BASHRC);
    // and sourcing it runs nothing of ours
    spawnSync('bash', ['-c', `. ${bashrc}`], { cwd: dir });
    expect(existsSync(join(dir, 'MARKER'))).toBe(false);
    expect(existsSync(join(dir, 'marker'))).toBe(false);
  });

  it.each(['restrict', 'no-pty', '*', 'web01,evil', '[web01]', 'web01.example;id'])(
    'HostKeyAlias %s is refused even in a real known_hosts file',
    async (alias) => {
      const known = join(dir, 'known_hosts');
      writeFileSync(known, '');
      const d = await acceptNew(known, alias);
      expect(d.accept).toBe(false);
      expect(d.reason).toMatch(/kpfleet records host keys only under a host name/);
      expect(readFileSync(known, 'utf8')).toBe('');
    },
  );
});

describe('the file written', () => {
  it('an existing file that is not known_hosts (~/.bashrc) is refused, naming the line', async () => {
    const bashrc = join(dir, '.bashrc');
    writeFileSync(bashrc, BASHRC);
    const d = await acceptNew(bashrc, 'web01');
    expect(d.accept).toBe(false);
    expect(d.reason).toMatch(
      new RegExp(
        `cannot record it: ${bashrc.replaceAll('.', '\\.')} does not look like a known_hosts file \\(line 1: .*\\); kpfleet records a host key only in a file of known_hosts lines$`,
      ),
    );
    expect(d.hint).toMatch(/^check connection\.known_hosts in kpfleet\.yml/);
    expect(readFileSync(bashrc, 'utf8')).toBe(BASHRC);
    expect(readdirSync(dir)).toEqual(['.bashrc']); // no lock file left beside it either
  });

  it('authorized_keys: missing, empty, or with option lines that parse as known_hosts', async () => {
    const ssh = join(dir, '.ssh');
    mkdirSync(ssh);
    const ak = join(ssh, 'authorized_keys');
    const missing = await acceptNew(ak, 'web01');
    expect(missing.reason).toMatch(
      /authorized_keys is missing and its name does not contain known_hosts/,
    );
    expect(existsSync(ak)).toBe(false);
    writeFileSync(ak, '');
    expect((await acceptNew(ak, 'web01')).reason).toMatch(/authorized_keys is empty and its name/);
    const user = ssh2.utils.parseKey(ed25519KeyPair().public);
    if (user instanceof Error) throw user;
    const withOptions = `from="10.0.0.1" ssh-ed25519 ${user.getPublicSSH().toString('base64')} me\n`;
    writeFileSync(ak, withOptions);
    expect((await acceptNew(ak, 'web01')).reason).toMatch(
      /does not look like a known_hosts file \(line 1: its host field is not made of host names\)/,
    );
    expect(readFileSync(ak, 'utf8')).toBe(withOptions);
  });

  it('a symlink is judged by the file it leads to; one to a missing file is refused', async () => {
    const bashrc = join(dir, '.bashrc');
    writeFileSync(bashrc, BASHRC);
    symlinkSync(bashrc, join(dir, 'known_hosts'));
    expect((await acceptNew(join(dir, 'known_hosts'), 'web01')).reason).toMatch(
      /does not look like a known_hosts file/,
    );
    symlinkSync(join(dir, '.bash_profile'), join(dir, 'known_hosts2'));
    expect((await acceptNew(join(dir, 'known_hosts2'), 'web01')).reason).toMatch(
      /known_hosts2 is a symlink to .*\.bash_profile, which does not exist/,
    );
    expect(existsSync(join(dir, '.bash_profile'))).toBe(false);
    writeFileSync(join(dir, 'empty'), '');
    symlinkSync(join(dir, 'empty'), join(dir, 'known_hosts3'));
    expect((await acceptNew(join(dir, 'known_hosts3'), 'web01')).reason).toMatch(
      /known_hosts3 \(.*\/empty\) is empty and its name does not contain known_hosts/,
    );
    expect(readFileSync(bashrc, 'utf8')).toBe(BASHRC);
  });

  it('no folder is created but ~/.ssh (0700, as ssh creates it)', async () => {
    const file = join(dir, '.bashrc.d', 'known_hosts');
    expect((await acceptNew(file, 'web01')).reason).toMatch(
      /the folder of .*\/\.bashrc\.d\/known_hosts does not exist; kpfleet creates no folder/,
    );
    expect(existsSync(join(dir, '.bashrc.d'))).toBe(false);
    const home = process.env.HOME;
    process.env.HOME = dir; // os.homedir(), as kpfleet reads ~
    try {
      const d = await acceptNew(join(dir, '.ssh', 'known_hosts'), 'web01');
      expect(d).toMatchObject({ accept: true, reason: 'new, recorded' });
      expect(statSync(join(dir, '.ssh')).mode & 0o777).toBe(0o700);
      expect(statSync(join(dir, '.ssh', 'known_hosts')).mode & 0o777).toBe(0o600);
    } finally {
      process.env.HOME = home;
    }
  });

  it('a known_hosts file with a line that is not an entry is refused, naming it', async () => {
    const known = join(dir, 'known_hosts');
    const text = `# mine\nweb02 ssh-ed25519 ${blob().toString('base64')}\nrm -rf ~\n`;
    writeFileSync(known, text);
    expect((await acceptNew(known, 'web01')).reason).toMatch(
      /known_hosts does not look like a known_hosts file \(line 3: /,
    );
    expect(readFileSync(known, 'utf8')).toBe(text);
  });

  it('a FIFO or a device as known_hosts is refused, never waited on or read without end', () => {
    spawnSync('mkfifo', [join(dir, 'known_hosts')]);
    // loading it is refused too (a FIFO would block, /dev/zero never ends)
    expect(() => new HostKeyPolicy({ files: [join(dir, 'known_hosts')], mode: 'strict' })).toThrow(
      ConfigError,
    );
    expect(() => new HostKeyPolicy({ files: ['/dev/zero'], mode: 'strict' })).toThrow(ConfigError);
  });

  it.each([
    ['a missing known_hosts in an existing folder', 'known_hosts', undefined],
    ['an empty file named …known_hosts…', 'fleet.known_hosts', ''],
    ['a file of known_hosts lines, whatever its name', 'kh_fleet', 'line'],
    ['comments and blank lines', 'hosts_known_hosts', '# a comment\n\n'],
  ])('%s is written', async (_, name, content) => {
    const file = join(dir, name);
    const existing =
      content === 'line' ? `@revoked * ssh-ed25519 ${blob().toString('base64')}\n` : content;
    if (existing !== undefined) writeFileSync(file, existing);
    const d = await acceptNew(file, 'web01');
    expect(d).toMatchObject({ accept: true, reason: 'new, recorded' });
    const text = readFileSync(file, 'utf8');
    expect(text.startsWith(existing ?? '')).toBe(true);
    expect(text.slice((existing ?? '').length)).toMatch(/^web01 ssh-ed25519 \S+\n$/);
  });
});
