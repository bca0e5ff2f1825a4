/**
 * Issue 14 §2: an ssh config inside the project (a pull request can change it) that would run a
 * command is refused before anything runs: `validate` and every command exit 3 with file:line:col,
 * and `ssh -G` never reads the file (its `Match exec` would run). `--trust-ssh-config`, on the
 * command line only, lets the operator use it. Against the in-process lab, through runCli.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { clearSshConfigCache } from '../../../src/transport/ssh/ssh-config.ts';
import { runInProcess } from '../../cli-in-process.ts';
import { Lab } from '../../fleet/lab.ts';

let lab: Lab;
let project: string;
let marker: string;

const run = (args: string[], env: Record<string, string> = {}) =>
  runInProcess(args, { cwd: project, env });

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
