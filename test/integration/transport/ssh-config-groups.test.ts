/**
 * The `ssh -G` grouping (src/transport/ssh/ssh-config-groups.ts) against the real OpenSSH
 * client: over the corpus (test/ssh-config-corpus.ts, `GROUPING`), every host's grouped answer is
 * what its own `ssh -G` prints, key by key, and the settings read from it are the same; and the
 * `ssh -G` runs are counted through a wrapper `sshBinary` that logs each call: hosts the files
 * cannot tell apart cost one run, a config with `Match host` one per host.
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SshConfigError } from '../../../src/errors.ts';
import { sshConfigShapeOf, strictFs } from '../../../src/transport/ssh/ssh-config-groups.ts';
import {
  clearSshConfigCache,
  resolveMany,
  resolveSshConfigCached,
  sshGArgs,
} from '../../../src/transport/ssh/ssh-config.ts';
import type { ResolveSshConfigOptions } from '../../../src/transport/ssh/ssh-config.ts';
import { localTokenFacts } from '../../../src/transport/ssh/ssh-config-tokens.ts';
import { parseSshG, toResolvedConfig } from '../../../src/transport/ssh/ssh-config-values.ts';
import type { ResolvedSshConfig } from '../../../src/transport/ssh/ssh-config-values.ts';
import { fill, GROUPING, GROUPING_HOSTS } from '../../ssh-config-corpus.ts';
import type { GroupingCase } from '../../ssh-config-corpus.ts';

let dir = '';
let log = '';
/** `ssh`, logging its arguments (one line per run) to `log`. */
let counting = '';
/** `ssh`, and on `-v` a claim on stderr that it read a file kpfleet never read. */
let otherFiles = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kpfleet-sshgroups-'));
  log = join(dir, 'ssh.log');
  counting = join(dir, 'counting-ssh');
  writeFileSync(counting, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec ssh "$@"\n`);
  chmodSync(counting, 0o755);
  otherFiles = join(dir, 'other-files-ssh');
  writeFileSync(
    otherFiles,
    `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nssh "$@"\nrc=$?\ncase " $* " in *" -v "*) echo 'debug1: Reading configuration data /usr/local/etc/ssh_config' >&2;; esac\nexit $rc\n`,
  );
  chmodSync(otherFiles, 0o755);
});

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  clearSshConfigCache();
  rmSync(log, { force: true });
});

/** The `ssh` runs logged since the test began: [all, the `-v` checks]. */
function runs(): { plain: string[]; checks: string[] } {
  const lines = existsSync(log)
    ? readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
    : [];
  return {
    plain: lines.filter((l) => !l.startsWith('-G -v ')),
    checks: lines.filter((l) => l.startsWith('-G -v ')),
  };
}

/** The case's files in a folder of their own; the `-F` path. */
function writeCase(c: GroupingCase, name: string): string {
  const d = join(dir, name);
  for (const [file, text] of Object.entries({ ssh_config: c.config, ...(c.files ?? {}) })) {
    mkdirSync(join(d, file, '..'), { recursive: true });
    writeFileSync(join(d, file), fill(text, d, join(d, 'MARKER')));
  }
  return join(d, 'ssh_config');
}

/** A config file alone in a folder of its own; the `-F` path. */
const writeConfig = (config: string, name: string): string =>
  writeCase({ name: '', config, spawns: 0 }, name);

/** What `ssh -G` prints for this host alone, and the settings read from it. */
function ownAnswer(host: string, opts: ResolveSshConfigOptions): ResolvedSshConfig {
  const out = execFileSync('ssh', sshGArgs(host, opts), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return toResolvedConfig(host, parseSshG(out), localTokenFacts());
}

function expectSame(grouped: ResolvedSshConfig | undefined, own: ResolvedSshConfig, what: string) {
  expect(grouped, what).toBeDefined();
  const g = grouped as ResolvedSshConfig;
  expect([...g.raw.keys()].sort(), what).toEqual([...own.raw.keys()].sort());
  for (const [key, values] of own.raw) expect(g.raw.get(key), `${what}: ${key}`).toEqual(values);
  expect({ ...g, raw: undefined }, what).toEqual({ ...own, raw: undefined });
}

describe('grouped ssh -G, against each host’s own ssh -G', () => {
  GROUPING.forEach((c, n) => {
    it(`${c.name}: every host, every key; ${String(c.spawns)} runs`, async () => {
      const configFile = writeCase(c, `case${String(n)}`);
      const opts = { configFile, sshBinary: counting };
      const map = await resolveMany(GROUPING_HOSTS, opts);
      const spawns = runs().plain.length;
      for (const host of GROUPING_HOSTS)
        expectSame(map.get(host), ownAnswer(host, { configFile }), `${c.name}: ${host}`);
      expect(spawns).toBe(c.spawns);

      // each host on a port of its own (`-p`), and another user (`-l`): ports do not split a group
      clearSshConfigCache();
      rmSync(log, { force: true });
      const answers = await Promise.all(
        GROUPING_HOSTS.map((host, i) =>
          resolveSshConfigCached(host, { ...opts, user: 'deploy', port: 2200 + i }),
        ),
      );
      const spawnsWithPorts = runs().plain.length;
      GROUPING_HOSTS.forEach((host, i) => {
        const own = ownAnswer(host, { configFile, user: 'deploy', port: 2200 + i });
        expectSame(answers[i], own, `${c.name}: ${host} -l deploy -p ${String(2200 + i)}`);
      });
      expect(spawnsWithPorts).toBe(c.spawns);
    });
  });
});

describe('the default files (~/.ssh/config, then /etc/ssh/ssh_config)', () => {
  it('every host’s answer is its own ssh -G’s; never more runs than hosts, plus the check', async () => {
    const hosts = ['web1.lab', 'web2.lab', 'db1', '10.0.0.7', 'Web9'];
    const map = await resolveMany(hosts, { sshBinary: counting });
    for (const host of hosts) expectSame(map.get(host), ownAnswer(host, {}), host);
    expect(runs().plain.length).toBeLessThanOrEqual(hosts.length);
    expect(runs().plain.every((l) => !l.includes('-F'))).toBe(true);
  });
});

describe('ssh -G runs, counted', () => {
  const hosts = Array.from({ length: 50 }, (_, i) => `web${String(i)}.lab`);

  it('50 hosts the files cannot tell apart: one ssh -G, and one -v check of the files read', async () => {
    const configFile = writeConfig(
      'Host web*\n  User w\n  Port 2222\nHost *\n  HashKnownHosts yes\n',
      'one-group',
    );
    const map = await resolveMany(hosts, { configFile, sshBinary: counting });
    expect(runs().plain).toHaveLength(1);
    expect(runs().checks).toHaveLength(1);
    expect(map.get('web49.lab')).toMatchObject({
      host: 'web49.lab',
      hostname: 'web49.lab',
      user: 'w',
      port: 2222,
    });
    // the same run again: everything cached
    await resolveMany(hosts, { configFile, sshBinary: counting });
    expect(runs().plain).toHaveLength(1);
  });

  it('a Match host config: one ssh -G per host, no check', async () => {
    const configFile = writeConfig('Match host web1*\n  User m\n', 'match-host');
    const map = await resolveMany(hosts, { configFile, sshBinary: counting });
    expect(runs().plain).toHaveLength(50);
    expect(runs().checks).toHaveLength(0);
    expect(map.get('web12.lab')?.user).toBe('m');
    expect(map.get('web2.lab')?.user).not.toBe('m');
  });

  it('ssh says it read a file kpfleet did not: one ssh -G per host', async () => {
    const configFile = writeConfig('Host *\n  User w\n', 'other-files');
    await resolveMany(hosts, { configFile, sshBinary: otherFiles });
    expect(runs().checks).toHaveLength(1);
    expect(runs().plain).toHaveLength(50);
  });

  it('an Include of something kpfleet cannot read as a file: one ssh -G per host', async () => {
    const d = join(dir, 'unreadable');
    mkdirSync(join(d, 'sub.conf'), { recursive: true });
    writeFileSync(join(d, 'ssh_config'), `Include ${d}/sub.conf\nHost *\n  User w\n`);
    const configFile = join(d, 'ssh_config');
    await resolveMany(hosts.slice(0, 5), { configFile, sshBinary: counting }).catch(
      () => undefined,
    );
    expect(runs().checks).toHaveLength(0);
    expect(runs().plain).toHaveLength(5);
  });

  it('inventory ssh arguments: one ssh -G per host', async () => {
    const configFile = writeConfig('Host *\n  User w\n', 'args');
    const extraArgs = { before: ['-o', 'HostName=elsewhere'], after: [] };
    const map = await resolveMany(hosts.slice(0, 5), {
      configFile,
      sshBinary: counting,
      extraArgs,
    });
    expect(runs().plain).toHaveLength(5);
    expect(map.get('web3.lab')?.hostname).toBe('elsewhere');
  });

  it('a shared answer that fails is not shared: the others ask ssh themselves, and the failure is not remembered', async () => {
    const configFile = writeConfig('Host *\n  User w\n', 'failing');
    // ssh that fails for web1.lab alone (not for the -v check)
    const flaky = join(dir, 'flaky-ssh');
    writeFileSync(
      flaky,
      `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\ncase " $* " in *" -v "*) ;; *" web1.lab "*) echo boom >&2; exit 255;; esac\nexec ssh "$@"\n`,
    );
    chmodSync(flaky, 0o755);
    const opts = { configFile, sshBinary: flaky };
    const [first, second] = await Promise.all(
      ['web1.lab', 'web2.lab'].map((h) => resolveSshConfigCached(h, opts).catch((e: unknown) => e)),
    );
    expect((first as { host?: string }).host).toBe('web1.lab');
    expect(second).toMatchObject({ host: 'web2.lab', user: 'w' });
    expect(runs().plain).toHaveLength(2);
    await resolveSshConfigCached('web1.lab', opts).catch(() => undefined);
    expect(runs().plain).toHaveLength(3);
  });
});

describe('hosts a group’s answer does not fit', () => {
  it('a host the group’s ProxyJump goes through is asked alone: ssh refuses the loop', async () => {
    const configFile = writeConfig('Host *\n  ProxyJump bastion\n', 'loop');
    const opts = { configFile, sshBinary: counting };
    expect(await resolveSshConfigCached('web1', opts)).toMatchObject({ proxyJump: ['bastion'] });
    const err = await resolveSshConfigCached('bastion', opts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SshConfigError);
    expect((err as SshConfigError).stderr).toContain('jumphost loop via bastion');
    expect(() => ownAnswer('bastion', { configFile })).toThrow();
  });

  it('CanonicalizePermittedCNAMEs: ssh looks each name up, so a name it cannot resolve fails alone', async () => {
    const configFile = writeConfig(
      'Host *\n  CanonicalizePermittedCNAMEs *.a.example:*.b.example\n',
      'cnames',
    );
    const opts = { configFile, sshBinary: counting };
    expectSame(
      await resolveSshConfigCached('localhost', opts),
      ownAnswer('localhost', { configFile }),
      'localhost',
    );
    const err = await resolveSshConfigCached('nosuch.invalid', opts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SshConfigError);
    expect((err as SshConfigError).stderr).toContain('nosuch.invalid');
  });
});

describe('strictFs: only regular files are read', () => {
  it('a device is refused, not read as an empty file; a folder too; a missing file is nothing', () => {
    expect(() => strictFs.readFile('/dev/null')).toThrow('not a regular file');
    expect(() => strictFs.readFile(dir)).toThrow();
    expect(strictFs.readFile(join(dir, 'no-such-file'))).toBeUndefined();
    const file = join(dir, 'regular.conf');
    writeFileSync(file, 'Host *\n');
    expect(strictFs.readFile(file)).toBe('Host *\n');
  });

  it('a FIFO given as -F is refused without waiting for a writer: every host alone', () => {
    const fifo = join(dir, 'fifo.conf');
    execFileSync('mkfifo', [fifo]);
    // a writer, so that a read that waits for one ends (and the test with it) instead of hanging
    const writer = spawn('sh', ['-c', `printf 'Host *\\n  User w\\n' > '${fifo}'`], {
      stdio: 'ignore',
    });
    try {
      expect(() => strictFs.readFile(fifo)).toThrow('not a regular file');
      expect(sshConfigShapeOf(fifo)).toMatchObject({ groupable: false });
    } finally {
      writer.kill();
    }
  });
});
