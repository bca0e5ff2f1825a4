/**
 * The hostile review of issue 14, finding 2, reproduced end to end against the in-process lab:
 * a pull request sets `known_hosts: ~/.bashrc` and `host_key_checking: accept-new` in kpfleet.yml
 * and a HostKeyAlias with shell syntax in the project's ssh config. `validate` and `facts` must
 * refuse it (exit 3: the scan; exit 4 with --trust-ssh-config: the host-key policy), ~/.bashrc
 * must stay as it was, and sourcing it must run nothing. Also: a host-name alias into ~/.bashrc,
 * and `HostKeyAlias restrict` into ~/.ssh/authorized_keys.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../../../src/cli/main.ts';
import type { CliIo } from '../../../src/cli/io.ts';
import { clearSshConfigCache } from '../../../src/transport/ssh/ssh-config.ts';
import { Lab } from '../../../lab/lab.ts';

const BASHRC = "export PATH=$PATH:~/bin\nalias ll='ls -l'\n";
let lab: Lab;
let project: string;
let home: string;
let marker: string;

async function kpfleet(args: string[]) {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: { NO_COLOR: '1', HOME: home },
    cwd: project,
  };
  const code = await runCli(args, io);
  return { code, stdout, stderr, all: stdout + stderr };
}

function setUp(knownHosts: string, alias: string): void {
  writeFileSync(
    join(project, 'kpfleet.yml'),
    [
      `inventory: ${lab.inventoryPath}`,
      'connection:',
      '  ssh_config: ssh_config',
      `  known_hosts: ${knownHosts}`,
      '  host_key_checking: accept-new',
      '',
    ].join('\n'),
  );
  writeFileSync(join(project, 'ssh_config'), `Host *\n  HostKeyAlias ${alias}\n`);
}

/** Sources ~/.bashrc as a login shell would; true when that created the marker. */
function sourcingRunsTheMarker(): boolean {
  spawnSync('bash', ['-c', `. ${join(home, '.bashrc')}`], { cwd: home, stdio: 'ignore' });
  return existsSync(marker);
}

beforeAll(async () => {
  lab = await Lab.start({ hosts: 1, simProfile: { TIME_SCALE: '0.01' } });
  project = join(lab.dir, 'project');
  home = join(lab.dir, 'home');
  marker = join(lab.dir, 'pwned'); // lower case: ssh -G lower-cases a HostKeyAlias
  mkdirSync(project, { recursive: true });
  mkdirSync(join(home, '.ssh'), { recursive: true });
});
afterAll(async () => {
  await lab.close();
});
beforeEach(() => {
  clearSshConfigCache();
  rmSync(marker, { force: true });
  writeFileSync(join(home, '.bashrc'), BASHRC);
  rmSync(join(home, '.ssh', 'authorized_keys'), { force: true });
});

describe('known_hosts: ~/.bashrc, accept-new, and a HostKeyAlias with shell syntax', () => {
  const alias = (): string => `"x;s=$'\\x20';touch\${s}${marker};#"`;

  it('in the project ssh config: validate and facts exit 3 at file:line:col', async () => {
    setUp('~/.bashrc', alias());
    const v = await kpfleet(['validate']);
    expect(v.code).toBe(3);
    expect(v.stderr).toMatch(
      /ssh_config:2:16: error: `HostKeyAlias` here is a name kpfleet would record in known_hosts, but it is not a host name, an IP address or \[name\]:port/,
    );
    const f = await kpfleet(['facts']);
    expect(f.code).toBe(3);
    expect(readFileSync(join(home, '.bashrc'), 'utf8')).toBe(BASHRC);
    expect(sourcingRunsTheMarker()).toBe(false);
  });

  it('trusted with --trust-ssh-config: the host is refused (exit 4), ~/.bashrc untouched', async () => {
    setUp('~/.bashrc', alias());
    const f = await kpfleet(['facts', '--trust-ssh-config']);
    expect(f.code).toBe(4);
    expect(f.all).toMatch(
      /accept-new cannot record it: kpfleet records host keys only under a host name, and the HostKeyAlias "x;s=\$'\\\\x20';touch\$\{s\}.*pwned;#" is not one/,
    );
    expect(f.all).not.toMatch(/added /);
    expect(readFileSync(join(home, '.bashrc'), 'utf8')).toBe(BASHRC);
    expect(sourcingRunsTheMarker()).toBe(false);
  });
});

describe('a host-name alias, into a file that is not known_hosts', () => {
  it('~/.bashrc: refused (exit 4), naming the line that is not a known_hosts entry', async () => {
    setUp('~/.bashrc', 'fleet-vip');
    expect((await kpfleet(['validate'])).code).toBe(0);
    const f = await kpfleet(['facts']);
    expect(f.code).toBe(4);
    expect(f.all).toMatch(
      /home\/\.bashrc does not look like a known_hosts file \(line 1: .*\); kpfleet records a host key only in a file of known_hosts lines/,
    );
    expect(readFileSync(join(home, '.bashrc'), 'utf8')).toBe(BASHRC);
  });

  it('~/.ssh/authorized_keys with HostKeyAlias restrict: refused, nothing created', async () => {
    setUp('~/.ssh/authorized_keys', 'restrict');
    expect((await kpfleet(['validate'])).code).toBe(3); // the scan: an authorized_keys option
    const f = await kpfleet(['facts', '--trust-ssh-config']);
    expect(f.code).toBe(4);
    expect(f.all).toMatch(
      /the HostKeyAlias "restrict" is not one: sshd reads it as an authorized_keys option/,
    );
    expect(existsSync(join(home, '.ssh', 'authorized_keys'))).toBe(false);
  });
});
