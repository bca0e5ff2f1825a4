/**
 * The AWX notes' gate playbook (examples/awx/gate.yml), run with the real `ansible-playbook` on
 * localhost against a stub `kpfleet`: it calls `kpfleet report merge --plan DIR/plan/plan.json
 * --wave K` with the report of every shard of waves 1..K, each an argument of its own, and the
 * play fails when kpfleet says the next wave must not start; the command line is one the CLI's
 * parser accepts. Skipped where Ansible is not
 * installed (`.ci/run` installs it). Nothing here runs AWX itself.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXAMPLES, expectCliAccepts, stubKpfleet } from './example-files.ts';

const hasAnsible = spawnSync('ansible-playbook', ['--version']).status === 0;
const tmp = mkdtempSync(join(tmpdir(), 'kpfleet-awx-'));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const stub = stubKpfleet(tmp);

function runGate(wave: number, shards: number, stubExit: number) {
  stub.reset();
  const r = spawnSync(
    'ansible-playbook',
    [
      '-i',
      'localhost,',
      '-c',
      'local',
      join(EXAMPLES, 'awx/gate.yml'),
      '-e',
      JSON.stringify({
        kpfleet_dir: '/shared/r1 x', // a space: one argument all the same
        kpfleet_wave: wave,
        kpfleet_shards: shards,
        project_dir: tmp,
      }),
    ],
    {
      encoding: 'utf8',
      env: {
        ...process.env,
        PATH: `${stub.bin}:${process.env.PATH ?? ''}`,
        STUB_EXIT: String(stubExit),
        ANSIBLE_LOCALHOST_WARNING: 'false',
        ANSIBLE_NOCOLOR: '1',
        ANSIBLE_LOCAL_TEMP: join(tmp, 'ansible-tmp'),
        ANSIBLE_HOME: join(tmp, 'ansible-home'),
      },
    },
  );
  return {
    status: r.status,
    out: r.stdout + r.stderr,
    argv: stub.argv(),
  };
}

describe.skipIf(!hasAnsible)('examples/awx/gate.yml', () => {
  it('runs report merge --plan --wave K over the report of every shard of waves 1..K, a command line the CLI accepts', async () => {
    const r = runGate(2, 3, 0);
    expect(r.status, r.out).toBe(0);
    const reports = [1, 2].flatMap((k) =>
      [1, 2, 3].map((i) => `/shared/r1 x/reports/report-w${String(k)}-s${String(i)}.json`),
    );
    expect(r.argv).toEqual([
      'report',
      'merge',
      '--plan',
      '/shared/r1 x/plan/plan.json',
      '--wave',
      '2',
      '--out',
      '/shared/r1 x/gate/merged-w2.json',
      ...reports,
    ]);
    await expectCliAccepts(r.argv, 'examples/awx/gate.yml');
  }, 60_000);

  it('fails the play when kpfleet says the next wave must not start', () => {
    const r = runGate(1, 2, 1);
    expect(r.status, r.out).not.toBe(0);
    expect(r.argv.slice(-2)).toEqual([
      '/shared/r1 x/reports/report-w1-s1.json',
      '/shared/r1 x/reports/report-w1-s2.json',
    ]);
  }, 60_000);
});
