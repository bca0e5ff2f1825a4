/** ansible_ssh_*args read as Ansible hands them to ssh: honoured, set aside, refused by name. */
import { describe, expect, it } from 'vitest';
import { readSshArgs } from '../../../src/desired/ssh-args.ts';

describe('readSshArgs', () => {
  it('keeps the options kpfleet honours, as written and in order', () => {
    const r = readSshArgs([
      `-o ProxyCommand="ssh -W %h:%p bastion" -p 2222`,
      '-J jump@j1:2200 -o User=bob -oPort=2 -l alice -i keys/id -o "IdentitiesOnly yes"',
    ]);
    expect(r.args).toEqual([
      '-o',
      'ProxyCommand=ssh -W %h:%p bastion',
      '-p',
      '2222',
      '-J',
      'jump@j1:2200',
      '-o',
      'User=bob',
      '-o',
      'Port=2',
      '-l',
      'alice',
      '-i',
      'keys/id',
      '-o',
      'IdentitiesOnly yes',
    ]);
    expect(r.refused).toEqual([]);
    expect(r.command).toBe('ssh -W %h:%p bastion');
  });

  it('names the agent socket an IdentityAgent chooses, but not none or SSH_AUTH_SOCK', () => {
    expect(readSshArgs(['-o IdentityAgent=/tmp/other.sock']).agent).toBe('/tmp/other.sock');
    expect(readSshArgs(["-o 'identityagent ~/a.sock'"]).agent).toBe('~/a.sock');
    expect(readSshArgs(['-o IdentityAgent=none']).agent).toBeUndefined();
    expect(readSshArgs(['-o IdentityAgent=SSH_AUTH_SOCK']).agent).toBeUndefined();
    expect(readSshArgs(['-i key -o IdentitiesOnly=yes']).agent).toBeUndefined();
  });

  it('names no command for ProxyCommand none', () => {
    expect(readSshArgs(['-o ProxyCommand=none']).command).toBeUndefined();
  });

  it('sets connection sharing and compression aside', () => {
    const r = readSshArgs(['-C -o ControlMaster=auto -o ControlPersist=60s']);
    expect(r.ignored).toEqual(['-C', '-o ControlMaster=auto', '-o ControlPersist=60s']);
    expect(r.args).toEqual([]);
  });

  it('refuses the rest by name', () => {
    const r = readSshArgs([
      '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -F cfg -A -v bastion',
    ]);
    expect(r.refused.map((x) => x.option)).toEqual([
      '-o StrictHostKeyChecking=no',
      '-o UserKnownHostsFile=/dev/null',
      '-F',
      '-A',
      '-v',
      'bastion',
    ]);
    expect(r.refused[0]?.hint).toContain('connection.host_key_checking');
  });

  it('refuses values that cannot be used', () => {
    const r = readSshArgs(["-p 0 -o User='a b' -o HostName=$(id) -J 'x;y' -o LocalCommand=id -o"]);
    expect(r.refused.map((x) => x.option)).toEqual([
      '-p 0',
      '-o User=a b',
      '-o HostName=$(id)',
      '-J x;y',
      '-o LocalCommand=id',
      '-o',
    ]);
    expect(r.args).toEqual([]);
  });

  it('refuses a line break or NUL in a word: ssh -G would print it as a line of its own', () => {
    // ssh -G prints `identityfile q` then `proxycommand touch /tmp/x`, which kpfleet would run
    const r = readSshArgs([
      `-o 'IdentityFile="q\nproxycommand touch /tmp/x"' -i 'k\nproxycommand id' -oIdentityAgent=a\u0000b`,
    ]);
    expect(r.refused.map((x) => x.option)).toEqual([
      '-o IdentityFile="q\nproxycommand touch /tmp/x"',
      '-i k\nproxycommand id',
      '-oIdentityAgent=a\u0000b',
    ]);
    expect(r.refused[0]?.why).toContain('line break');
    expect(r.args).toEqual([]);
    expect(r.command).toBeUndefined();
  });

  it('refuses what shlex cannot split', () => {
    expect(readSshArgs(['-o "ProxyCommand=x']).refused[0]?.why).toContain('cannot be split');
  });
});
