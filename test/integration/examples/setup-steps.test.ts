/**
 * The example pipeline's shell steps, run for real here the way a GitHub runner runs them
 * (`bash -e {0}` for a workflow step, `bash --noprofile --norc -eo pipefail {0}` for a composite
 * action's `shell: bash`), with GITHUB_ENV, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and RUNNER_TEMP
 * as files and folders of a temporary runner:
 * - the setup action's SSH step puts the key in an ssh-agent of the job's own and in no file,
 *   and the job's last step ends that agent;
 * - the install step refuses a tarball whose sha256 differs before npm sees it (the full install
 *   of a packed tarball is `KPFLEET_CHECK_INSTALL=1`, which `.ci/run` sets);
 * - when the apply leaves hosts stale, the job starts the workflow again with mode=replan;
 * - the health check of examples/kpfleet.yml passes a "degraded" host and fails a stopping one;
 * - the example inventory's db hosts go through its bastion (ProxyJump), as Ansible would.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

import { TEST_CONNECTION_DEFAULTS } from '../../connection-defaults.ts';
import { resolveConnection } from '../../../src/desired/connection.ts';
import { loadInventory } from '../../../src/inventory/load.ts';
import { hostVars } from '../../../src/inventory/vars.ts';
import { resolveSshConfig } from '../../../src/transport/ssh/ssh-config.ts';
import { action, EXAMPLES, ROOT, workflow, type Step } from './example-files.ts';

const config = parse(readFileSync(join(EXAMPLES, 'kpfleet.yml'), 'utf8')) as {
  rollout: { health_check: string };
};

function step(steps: Step[], pattern: RegExp): Step {
  const found = steps.find((s) => pattern.test(s.name ?? ''));
  if (found?.run === undefined) throw new Error(`no step named ${String(pattern)}`);
  return found;
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A runner of one job: its temp folder, home and the files the runner reads back. */
function runner() {
  const base = mkdtempSync(join(tmpdir(), 'kpfleet-runner-'));
  dirs.push(base);
  const r = {
    base,
    temp: join(base, 'temp'),
    home: join(base, 'home'),
    bin: join(base, 'bin'),
    files: { env: join(base, 'env'), output: join(base, 'output'), summary: join(base, 'summary') },
  };
  for (const d of [r.temp, r.home, r.bin]) mkdirSync(d);
  for (const f of Object.values(r.files)) writeFileSync(f, '');
  return r;
}
type Runner = ReturnType<typeof runner>;

/** Runs a step's script as the runner does; `composite` for an action's `shell: bash`. */
function run(r: Runner, script: string, env: Record<string, string>, composite = false) {
  const file = join(r.base, 'step.sh');
  writeFileSync(file, script);
  const args = composite ? ['--noprofile', '--norc', '-eo', 'pipefail', file] : ['-e', file];
  return spawnSync('bash', args, {
    encoding: 'utf8',
    env: {
      PATH: `${r.bin}:${process.env.PATH ?? ''}`,
      HOME: r.home,
      RUNNER_TEMP: r.temp,
      GITHUB_ENV: r.files.env,
      GITHUB_OUTPUT: r.files.output,
      GITHUB_STEP_SUMMARY: r.files.summary,
      ...env,
    },
  });
}

/** `KEY=value` lines a step appended to GITHUB_ENV or GITHUB_OUTPUT. */
function keyValues(file: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

describe('the setup action: the job key lives in an ssh-agent of the job, and dies with it', () => {
  it('adds the key to a new agent, writes it to no file, and the last step ends the agent', () => {
    const r = runner();
    const keyFile = join(r.base, 'keygen', 'id');
    mkdirSync(join(r.base, 'keygen'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ci', '-f', keyFile]);
    const key = readFileSync(keyFile, 'utf8');
    const fingerprint = execFileSync('ssh-keygen', ['-l', '-f', keyFile], { encoding: 'utf8' })
      .split(' ')
      .at(1);
    rmSync(join(r.base, 'keygen'), { recursive: true });

    const ssh = step(action.runs.steps, /SSH key/);
    const res = run(
      r,
      ssh.run ?? '',
      { SSH_KEY: key, KNOWN_HOSTS: 'web1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake' },
      true,
    );
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout + res.stderr).not.toContain('PRIVATE KEY');
    const env = keyValues(r.files.env);
    expect(env.SSH_AUTH_SOCK).toBe(join(r.temp, 'kpfleet-agent.sock'));
    const listed = spawnSync('ssh-add', ['-l'], {
      encoding: 'utf8',
      env: { SSH_AUTH_SOCK: env.SSH_AUTH_SOCK ?? '' },
    });
    expect(listed.stdout).toContain(fingerprint);
    // the key is in the agent alone: no file the job can leave behind holds it
    const body = key.split('\n')[1] ?? 'none';
    for (const f of [...filesUnder(r.home), ...filesUnder(r.temp), ...Object.values(r.files)])
      expect(readFileSync(f, 'utf8'), f).not.toContain(body);
    expect(readFileSync(join(r.home, '.ssh/known_hosts'), 'utf8')).toContain('web1 ssh-ed25519');

    // every job of the workflow ends with this step, whatever happened before
    for (const [name, job] of Object.entries(workflow.jobs)) {
      const last = job.steps.at(-1);
      expect(last?.if, name).toBe('always()');
      expect(last?.run, name).toContain('ssh-agent -k');
    }
    const end = workflow.jobs.plan?.steps.at(-1)?.run ?? '';
    expect(run(r, end, env).status).toBe(0);
    const after = spawnSync('ssh-add', ['-l'], {
      encoding: 'utf8',
      env: { SSH_AUTH_SOCK: env.SSH_AUTH_SOCK ?? '' },
    });
    expect(after.status).toBe(2); // no agent answers on the socket
    expect(existsSync(env.SSH_AUTH_SOCK ?? '')).toBe(false);
  });
});

describe('the setup action installs a pinned tarball, checked against its sha256', () => {
  const install = step(action.runs.steps, /install kpfleet/);

  it('stops before npm when the sha256 differs', () => {
    const r = runner();
    const tgz = join(r.base, 'kpfleet.tgz');
    writeFileSync(tgz, 'not the tarball that was pinned');
    writeFileSync(join(r.bin, 'npm'), `#!/bin/sh\necho npm-ran >> '${r.base}/npm.log'\n`);
    chmodSync(join(r.bin, 'npm'), 0o755);
    const res = run(
      r,
      install.run ?? '',
      { TARBALL: `file://${tgz}`, SHA256: '0'.repeat(64) },
      true,
    );
    expect(res.status).not.toBe(0);
    expect(res.stdout + res.stderr).toMatch(/FAILED|did NOT match/);
    expect(existsSync(join(r.base, 'npm.log'))).toBe(false);
  });

  it('refuses a plain http:// address', () => {
    const r = runner();
    const res = run(
      r,
      install.run ?? '',
      { TARBALL: 'http://127.0.0.1:9/kpfleet.tgz', SHA256: '0'.repeat(64) },
      true,
    );
    expect(res.status).not.toBe(0);
    expect(res.stderr).toMatch(/protocol/i);
  });

  // `npm pack` of this checkout, installed globally into a temporary prefix from the npm
  // registry, exactly as the step does on a runner: slow (a build and an install), so .ci/run
  // runs it (KPFLEET_CHECK_INSTALL=1), not every `npm test`.
  it.runIf(process.env.KPFLEET_CHECK_INSTALL === '1')(
    'installs the packed tarball of this checkout and runs it',
    () => {
      const r = runner();
      const packed = execFileSync(
        'npm',
        ['pack', '--silent', '--ignore-scripts', '--pack-destination', r.base],
        { cwd: ROOT, encoding: 'utf8' },
      )
        .trim()
        .split('\n')
        .at(-1);
      const tgz = join(r.base, packed ?? '');
      const globalNpmrc = execFileSync('npm', ['config', 'get', 'globalconfig'], {
        encoding: 'utf8',
      }).trim();
      const sha = createHash('sha256').update(readFileSync(tgz)).digest('hex');
      const res = run(
        r,
        install.run ?? '',
        {
          TARBALL: `file://${tgz}`,
          SHA256: sha,
          // this machine's npm set-up (its registry, its CA file) with a prefix of the test's
          HOME: process.env.HOME ?? r.home,
          npm_config_globalconfig: globalNpmrc,
          npm_config_prefix: join(r.base, 'prefix'),
          // setup-node puts npm's global bin folder on PATH
          PATH: `${join(r.base, 'prefix', 'bin')}:${process.env.PATH ?? ''}`,
        },
        true,
      );
      expect(res.status, res.stderr).toBe(0);
      expect(res.stdout).toMatch(/^\d+\.\d+\.\d+/m);
      const bin = join(r.base, 'prefix', 'bin', 'kpfleet');
      const validate = spawnSync(bin, ['validate', '-c', join(EXAMPLES, 'kpfleet.yml')], {
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1' },
      });
      expect(validate.status, validate.stderr).toBe(0);
      expect(validate.stdout).toContain('is valid');
      // the install ran kpfleet's postinstall: its ssh2 carries patches/ (patches/README.md)
      const kex = join(
        r.base,
        'prefix/lib/node_modules/kpfleet/node_modules/ssh2/lib/protocol/kex.js',
      );
      expect(readFileSync(kex, 'utf8')).toContain('kpfleet patch');
    },
    300_000,
  );
});

describe('a plan that went stale while it waited for approval is planned and asked again', () => {
  const apply = workflow.jobs.apply;
  const applyStep = step(apply?.steps ?? [], /^apply$/);
  const replan = step(apply?.steps ?? [], /plan again/);

  it('can be started by hand in replan mode, which plans and applies main', () => {
    expect(workflow.on.workflow_dispatch?.inputs?.mode?.options).toEqual(['drift', 'replan']);
    expect(workflow.jobs.plan?.if).toContain("inputs.mode == 'replan'");
    expect(apply?.if).toContain("github.event_name == 'workflow_dispatch'");
    expect(workflow.jobs.drift?.if).toContain("inputs.mode == 'drift'");
    expect(apply?.permissions).toMatchObject({ actions: 'write' });
  });

  /** The apply step over a stand-in kpfleet that writes `report` and exits `code`. */
  function applyWith(report: unknown, code: number) {
    const r = runner();
    const saved = join(r.base, 'saved');
    mkdirSync(saved);
    writeFileSync(
      join(r.bin, 'kpfleet'),
      `#!/bin/sh\nwhile [ $# -gt 0 ]; do [ "$1" = --report ] && cat '${r.base}/report.json' > "$2"; shift; done\nexit ${String(code)}\n`,
    );
    chmodSync(join(r.bin, 'kpfleet'), 0o755);
    writeFileSync(join(r.base, 'report.json'), JSON.stringify(report));
    const res = run(r, applyStep.run ?? '', { SAVED: saved, OUT: join(r.base, 'out') });
    return { r, res, output: keyValues(r.files.output) };
  }

  const outcomes = {
    changed: 3,
    'would-change': 0,
    unchanged: 0,
    failed: 0,
    'rollback-failed': 0,
    unreachable: 0,
    locked: 0,
    stale: 2,
    blocked: 0,
    interrupted: 0,
    skipped: 0,
  };

  it('counts the stale hosts from the report (a path the report schema has) and fails the job', () => {
    // the field the step reads is where the report's schema puts it
    const schema = (name: string) =>
      JSON.parse(readFileSync(join(ROOT, 'schemas', name), 'utf8')) as Record<string, unknown>;
    const report = schema('report.schema.json');
    const ajv = new Ajv2020({ strict: true })
      .addSchema(schema('plan.schema.json'))
      .addSchema(report);
    const summary = ajv.getSchema(`${String(report.$id)}#/$defs/summary`);
    if (summary === undefined) throw new Error('the report schema has no summary');
    const counts = { hosts: 5, outcomes, steps: 9, failedSteps: 0, rollbackSteps: 0 };
    expect(summary(counts), JSON.stringify(summary.errors)).toBe(true);

    const { res, output } = applyWith({ summary: counts }, 1);
    expect(res.status).toBe(1);
    expect(output.stale).toBe('2');
    expect(replan.if).toMatch(/failure\(\)/);
    expect(replan.if).toContain("steps.apply.outputs.stale != '0'");
  });

  it('an apply with no stale host says 0, and a missing report does not break the step', () => {
    expect(applyWith({ summary: { outcomes: { ...outcomes, stale: 0 } } }, 0).output.stale).toBe(
      '0',
    );
    const { res, output } = applyWith('not a report', 64);
    expect(res.status).toBe(64);
    expect(output.stale).toBe('0');
  });

  it('starts the workflow again in replan mode on main and says why in the summary', () => {
    const r = runner();
    writeFileSync(join(r.bin, 'gh'), `#!/bin/sh\nprintf '%s\\n' "$*" > '${r.base}/gh.log'\n`);
    chmodSync(join(r.bin, 'gh'), 0o755);
    const res = run(r, replan.run ?? '', { STALE: '2', GH_TOKEN: 'token' });
    expect(res.status, res.stderr).toBe(0);
    expect(readFileSync(join(r.base, 'gh.log'), 'utf8').trim()).toBe(
      'workflow run kpfleet.yml --ref main -f mode=replan',
    );
    expect(readFileSync(r.files.summary, 'utf8')).toMatch(/Stale hosts: 2\..*\n.*\n.*approv/);
  });
});

describe("examples/kpfleet.yml's health check", () => {
  /** The check, run by `sh` with a stand-in systemctl answering `state` and sshd `active`. */
  function check(state: string, sshdActive: boolean) {
    const r = runner();
    writeFileSync(
      join(r.bin, 'systemctl'),
      `#!/bin/sh\ncase "$1" in\n  is-system-running) echo '${state}'; [ '${state}' = running ] ;;\n  is-active) [ "$2" = --quiet ] && [ "$3" = sshd.service ] && ${sshdActive ? 'true' : 'false'} ;;\n  *) exit 3 ;;\nesac\n`,
    );
    chmodSync(join(r.bin, 'systemctl'), 0o755);
    return spawnSync('sh', ['-c', config.rollout.health_check], {
      encoding: 'utf8',
      env: { PATH: `${r.bin}:/usr/bin:/bin` },
    });
  }

  it('passes a running host and a host already degraded by an unrelated unit', () => {
    expect(check('running', true).status).toBe(0);
    expect(check('degraded', true).status).toBe(0);
  });

  it('fails a host that is stopping, in maintenance or starting, and one whose sshd is down', () => {
    for (const state of ['stopping', 'maintenance', 'starting', 'offline']) {
      const res = check(state, true);
      expect(res.status, state).toBe(1);
      expect(res.stdout).toContain(`system state: ${state}`);
    }
    const down = check('degraded', false);
    expect(down.status).toBe(1);
    expect(down.stdout).toContain('sshd.service is not active');
  });
});

describe("examples/inventory.ini's bastion", () => {
  it('the db hosts are reached through bastion.example.com (ProxyJump), the web hosts directly', async () => {
    const { inventory } = loadInventory(join(EXAMPLES, 'inventory.ini'), 'inventory.ini');
    const defaults = TEST_CONNECTION_DEFAULTS;
    const route = async (host: string) => {
      const conn = resolveConnection(host, defaults, hostVars(inventory, host), {
        env: {},
        resolveKeyPath: (p: string) => p,
      });
      const r = await resolveSshConfig(conn.address, {
        configFile: false,
        user: conn.user,
        port: conn.port,
        extraArgs: conn.sshArgs,
      });
      return { hostname: r.hostname, port: r.port, jump: r.proxyJump?.join(',') };
    };
    expect(await route('db-b.example.com')).toEqual({
      hostname: '10.0.2.12',
      port: 2222,
      jump: 'jump@bastion.example.com',
    });
    expect((await route('web01.example.com')).jump).toBeUndefined();
  });
});
