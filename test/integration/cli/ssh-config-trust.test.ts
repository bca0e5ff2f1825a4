/**
 * Issue 14 §2: an ssh config inside the project (a pull request can change it) that would run a
 * command is refused before anything runs: `validate` and every command exit 3 with file:line:col,
 * and `ssh -G` never reads the file (its `Match exec` would run). `--trust-ssh-config`, on the
 * command line only, lets the operator use it. Against the in-process lab, through runCli.
 * Every dangerous form of the corpus (test/ssh-config-corpus.ts, each one the real `ssh -G` is
 * shown to read as the directive) is refused the same way, and its marker is never created.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { clearSshConfigCache } from '../../../src/transport/ssh/ssh-config.ts';
import { runInProcess } from '../../cli-in-process.ts';
import { Lab } from '../../../lab/lab.ts';
import { DANGEROUS, fill } from '../../ssh-config-corpus.ts';

let lab: Lab;
let project: string;
let marker: string;

const run = (args: string[], env: Record<string, string> = {}, cwd = project) =>
  runInProcess(args, { cwd, env });

beforeAll(async () => {
  lab = await Lab.start({ hosts: 1, simProfile: { TIME_SCALE: '0.01' } });
  project = join(lab.dir, 'project');
  marker = join(lab.dir, 'MARKER');
  mkdirSync(project, { recursive: true });
  writeFileSync(
    join(project, 'kpfleet.yml'),
    [
      `inventory: ${lab.inventoryPath}`,
      'connection:',
      '  ssh_config: ssh_config',
      `  known_hosts: ${lab.knownHostsPath}`,
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(project, 'ssh_config'),
    [
      'Host *',
      '  ConnectTimeout 5',
      `Match exec "touch ${marker}"`,
      '  ServerAliveInterval 5',
      '',
    ].join('\n'),
  );
});
afterAll(async () => {
  await lab.close();
});
beforeEach(() => {
  rmSync(marker, { force: true });
  clearSshConfigCache();
});

describe('a Match exec in the project ssh config', () => {
  it('validate refuses it, exit 3, file:line:col, and runs nothing', async () => {
    const r = await run(['validate']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(
      /ssh_config:3:7: error: `Match exec` runs a command on this machine while ssh reads its configuration, and this file is part of the project/,
    );
    expect(r.stderr).toContain('--trust-ssh-config');
    expect(existsSync(marker)).toBe(false);
  });

  it.each([['facts'], ['plan'], ['hosts'], ['apply', '--yes']])(
    '%s refuses it before ssh -G: exit 3, no marker',
    async (...args) => {
      const r = await run(args);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/ssh_config:3:7: error: `Match exec`/);
      expect(r.stderr).toMatch(/no host was contacted/);
      expect(existsSync(marker)).toBe(false);
    },
  );

  it('an environment variable cannot opt in', async () => {
    const r = await run(['facts'], { KPFLEET_TRUST_SSH_CONFIG: '1', TRUST_SSH_CONFIG: 'yes' });
    expect(r.code).toBe(3);
    expect(existsSync(marker)).toBe(false);
  });

  it('with --trust-ssh-config the operator’s choice is honoured: validate passes, facts read', async () => {
    expect((await run(['validate', '--trust-ssh-config'])).code).toBe(0);
    expect(existsSync(marker)).toBe(false);
    const r = await run(['facts', '--trust-ssh-config', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { hosts: { ok: boolean }[] }).hosts).toMatchObject([
      { ok: true },
    ]);
    // ssh -G read the file and ran its Match exec, as OpenSSH does with a trusted config
    expect(existsSync(marker)).toBe(true);
  });
});

describe('every dangerous form of the corpus (test/ssh-config-corpus.ts)', () => {
  it.each(DANGEROUS.map((c) => [c.name, c] as const))(
    '%s: validate and facts exit 3, the marker is never created',
    async (_, c) => {
      const dir = join(lab.dir, 'corpus');
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, 'kpfleet.yml'),
        [
          `inventory: ${lab.inventoryPath}`,
          'connection:',
          '  ssh_config: ssh_config',
          `  known_hosts: ${lab.knownHostsPath}`,
          '',
        ].join('\n'),
      );
      writeFileSync(join(dir, 'ssh_config'), `${fill(c.config, dir, marker)}\n`);
      for (const [name, text] of Object.entries(c.files ?? {}))
        writeFileSync(join(dir, name), fill(text, dir, marker));
      const v = await run(['validate'], {}, dir);
      expect(v.code).toBe(3);
      // each diagnostic the unit test expects, at its file and line (columns move with the folder)
      for (const d of c.expect) {
        const [, file = '', line = ''] = /^(.*):(\d+):\d+ /.exec(d) ?? [];
        expect(v.stderr).toContain(`${file}:${line}:`);
      }
      const f = await run(['facts'], {}, dir);
      expect(f.code).toBe(3);
      expect(f.stderr).toMatch(/no host was contacted/);
      expect(existsSync(marker)).toBe(false);
    },
  );
});
