/**
 * The real-SSH fleet (issue 3 §2): real OpenSSH sshd per host, reached from a plain shell with
 * the generated key and known_hosts, real sudo, and every host's own simulated state.
 * Needs root (it installs openssh-server and sudo when missing); `.ci/run` runs it.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetDown, fleetUp } from '../../../lab/fleet.ts';
import { TMP_BASE } from '../../../lab/host-dir.ts';
import type { Fleet } from '../../../lab/fleet.ts';

const DIR = join(TMP_BASE, `e2e-fleet-${process.pid}`);
let fleet: Fleet;

function ssh(host: string, command: string, extra: string[] = []) {
  const r = spawnSync(
    'ssh',
    [...extra, '-o', 'ConnectTimeout=5', ...fleet.sshArgs(host), command],
    {
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  fleet = await fleetUp({
    hosts: 4,
    dir: DIR,
    subnet: 78,
    profiles: ['rhel9', 'rhel8'],
    simProfile: { TIME_SCALE: '0.02' },
  });
}, 120_000);

afterAll(async () => {
  await fleetDown(DIR);
});

describe('the real-SSH fleet', () => {
  it('writes an inventory, a known_hosts file and a client key', () => {
    const inventory = readFileSync(fleet.state.inventory, 'utf8');
    expect(inventory).toMatch(/^\[rhel9\]\nh001 ansible_host=127\.78\.0\.1$/m);
    expect(inventory).toMatch(/^\[rhel8\]\nh002 ansible_host=127\.78\.0\.2$/m);
    expect(inventory).toContain('ansible_user=kpfleet');
    const known = readFileSync(fleet.state.knownHosts, 'utf8').trim().split('\n');
    expect(known).toHaveLength(4);
    expect(known[0]).toMatch(/^127\.78\.0\.1 ssh-ed25519 AAAA/);
    expect(new Set(known.map((l) => l.split(' ')[2])).size).toBe(4); // each host its own key
  });

  it('answers `sudo kpatch list` from a plain ssh, with strict host key checking', () => {
    const r = ssh('h001', 'sudo kpatch list');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Loaded patch modules:');
    expect(r.stdout).toContain('Installed patch modules:');
  });

  it('each host shows its own kernel at the real paths, as a non-root user', () => {
    expect(ssh('h001', 'uname -r; id -un').stdout).toBe('5.14.0-362.8.1.el9_3.x86_64\nkpfleet\n');
    expect(ssh('h002', 'uname -r; /usr/bin/uname -r').stdout).toBe(
      '4.18.0-477.10.1.el8_8.x86_64\n4.18.0-477.10.1.el8_8.x86_64\n',
    );
    expect(
      ssh('h001', 'test -d /sys/kernel/livepatch && ls /sys/kernel/livepatch | wc -l').stdout,
    ).toBe('0\n');
  });

  it('a loaded patch is visible in sysfs on that host only', () => {
    const h = fleet.host('h003');
    h.sim.makeModule(join(h.sim.root, 'tmp/livepatch-fix.ko'), {
      name: 'livepatch_fix',
      kernel: '5.14.0-362.8.1.el9_3.x86_64',
    });
    const load = ssh('h003', 'sudo kpatch load /tmp/livepatch-fix.ko');
    expect(load.code).toBe(0);
    expect(load.stdout).toContain('loading patch module: /tmp/livepatch-fix.ko');
    expect(ssh('h003', 'cat /sys/kernel/livepatch/livepatch_fix/enabled').stdout).toBe('1\n');
    expect(ssh('h001', 'ls /sys/kernel/livepatch').stdout).toBe('');
  });

  it('real sudo: a host whose sudo wants a password fails fast under -n', () => {
    const h = fleet.host('h004');
    h.setSudo('password');
    const r = ssh('h004', 'sudo -n kpatch list');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/sudo: a password is required/);
    const pw = readFileSync(join(fleet.state.dir, 'sudo-password'), 'utf8');
    const withPw = spawnSync('ssh', [...fleet.sshArgs('h004'), 'sudo -S -p "" kpatch version'], {
      input: pw,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(withPw.status).toBe(0);
    h.setSudo('nopasswd');
    expect(ssh('h004', 'sudo -n true').code).toBe(0);
  });

  it('an unknown host key is refused by a strict client', () => {
    const r = spawnSync(
      'ssh',
      [
        '-o',
        'UserKnownHostsFile=/dev/null',
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        'BatchMode=yes',
        '-i',
        fleet.state.key,
        `kpfleet@${fleet.host('h001').address}`,
        'true',
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(r.status).toBe(255);
    expect(r.stderr).toMatch(/Host key verification failed/);
  });

  it('a hung host times out, and answers again when resumed', () => {
    const h = fleet.host('h002');
    h.hang();
    try {
      const r = ssh('h002', 'true', ['-o', 'ConnectTimeout=2']);
      expect(r.code).toBe(255);
      expect(r.stderr).toMatch(/timed out/i);
    } finally {
      h.resume();
    }
    expect(ssh('h002', 'true').code).toBe(0);
  });

  it('disk-full: an upload fails on that host, and works again once cleared', () => {
    const h = fleet.host('h003');
    const local = join(fleet.state.dir, 'upload.bin');
    writeFileSync(local, 'y'.repeat(20_000));
    const sftp = () =>
      spawnSync('sftp', ['-b', '-', ...fleet.sshArgs('h003').map((a) => (a === '-p' ? '-P' : a))], {
        input: `put ${local} /var/tmp/upload.bin\n`,
        encoding: 'utf8',
        timeout: 30_000,
      });
    h.fault('disk-full');
    try {
      const full = sftp();
      expect(full.status).not.toBe(0);
      expect(full.stdout + full.stderr).toMatch(/Failure|No space left/i);
    } finally {
      h.clearFaults();
    }
    expect(sftp().status).toBe(0);
    expect(ssh('h003', 'wc -c < /var/tmp/upload.bin').stdout).toBe('20000\n');
    expect(ssh('h001', 'ls /var/tmp').stdout).toBe('');
  });

  it('drop: kpatch cuts the SSH connection after its first line', () => {
    const h = fleet.host('h001');
    h.fault('drop');
    try {
      const r = ssh('h001', 'sudo kpatch list');
      expect(r.code).toBe(255);
      expect(r.stdout).toBe('Loaded patch modules:\n');
    } finally {
      h.clearFaults();
    }
    expect(ssh('h001', 'true').code).toBe(0);
  });

  it('drop upload: the SFTP session is cut at its first write, the opened file left empty', () => {
    const h = fleet.host('h004');
    const local = join(fleet.state.dir, 'upload4.bin');
    writeFileSync(local, 'z'.repeat(20_000));
    const put = () =>
      spawnSync('sftp', ['-b', '-', ...fleet.sshArgs('h004').map((a) => (a === '-p' ? '-P' : a))], {
        input: `put ${local} /var/tmp/upload4.bin\n`,
        encoding: 'utf8',
        timeout: 30_000,
      });
    h.fault('drop', 'upload');
    try {
      const cut = put();
      expect(cut.status).not.toBe(0);
      expect(cut.stderr).toMatch(/Connection closed|lost|broken pipe/i);
      // opened (created) on the host, and nothing written
      expect(ssh('h004', 'wc -c < /var/tmp/upload4.bin').stdout).toBe('0\n');
      // every SFTP session while the fault is set; commands are not touched
      expect(put().status).not.toBe(0);
      expect(ssh('h004', 'sudo kpatch list').code).toBe(0);
    } finally {
      h.clearFaults();
    }
    expect(put().status).toBe(0);
    expect(ssh('h004', 'wc -c < /var/tmp/upload4.bin').stdout).toBe('20000\n');
  });

  it('down leaves no process behind', async () => {
    const extra = join(TMP_BASE, `e2e-fleet2-${process.pid}`);
    const small = await fleetUp({ hosts: 2, dir: extra, subnet: 79 });
    const namespaces = small.state.hosts.map((h) => h.mntns);
    expect(small.hosts.every((h) => h.pids().length > 0)).toBe(true);
    await fleetDown(extra);
    const left = spawnSync(
      'sh',
      ['-c', `for p in /proc/[0-9]*; do readlink $p/ns/mnt; done 2>/dev/null`],
      { encoding: 'utf8' },
    ).stdout.split('\n');
    expect(left.filter((ns) => namespaces.includes(ns))).toEqual([]);
  });
});
