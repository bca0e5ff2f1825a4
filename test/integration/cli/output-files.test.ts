/**
 * Local files kpfleet writes (issue 14 §4), the CLI in-process against the lab: a destination
 * that cannot be written (`--out`, `--report`, the audit log) is refused before any host is
 * contacted (exit 64); a plan file is written through a temporary file with an unpredictable name
 * that never follows a symlink planted beside it; a symlinked target is written through only when
 * it is trusted (docs/exit-codes.md, "Files kpfleet writes").
 */
import {
  existsSync,
  lchownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { makePatchFile, writeProject } from '../../project.ts';
import type { PatchEntry } from '../../project.ts';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runInProcess } from '../../cli-in-process.ts';
import { TMP_BASE } from '../../../lab/host-dir.ts';
import { lockHeld } from '../../../lab/sim-host.ts';
import { Lab } from '../../../lab/lab.ts';
import type { LabHost } from '../../../lab/lab.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;
const EL9 = '5.14.0-362.8.1.el9_3.x86_64';
const MOD = 'livepatch_out_files';
const DIR = join(TMP_BASE, `output-files-${String(process.pid)}`);
let lab: Lab;
let host: LabHost;

beforeAll(async () => {
  rmSync(DIR, { recursive: true, force: true });
  lab = await Lab.start({ hosts: 1, dir: join(DIR, 'lab'), simProfile: { TIME_SCALE: '0.01' } });
  host = lab.hosts[0] as LabHost;
  const patch: PatchEntry = { name: 'out-files', module: MOD, file: 'patches/out-files.ko' };
  makePatchFile(host, DIR, patch);
  writeFileSync(join(DIR, 'inventory.ini'), readFileSync(lab.inventoryPath));
  writeProject(DIR, {
    knownHosts: lab.knownHostsPath,
    connectTimeout: null,
    patches: [patch],
    groups: { all: { loaded: ['out-files'] } },
  });
}, 60_000);
afterAll(async () => {
  await lab.close();
  rmSync(DIR, { recursive: true, force: true });
});

/** The host back to bare, and a scratch folder for the case. */
let scratch: string;
let caseNo = 0;
beforeEach(async () => {
  const s = host.sim.readSysfs();
  if (s.patches[MOD] || s.modules[MOD]) await host.sim.run(['kpatch', 'force', 'unload', MOD]);
  if (s.installed.some((i) => i.file === 'out-files.ko'))
    await host.sim.run(['kpatch', 'uninstall', '-k', EL9, MOD]);
  rmSync(join(host.sim.root, 'var/lib/kpfleet'), { recursive: true, force: true });
  scratch = join(DIR, `case-${String(++caseNo)}`);
  mkdirSync(scratch, { recursive: true });
});

const run = (args: string[], env: Record<string, string> = {}) =>
  runInProcess(args, {
    cwd: DIR,
    env: { HOME: DIR, SSH_AUTH_SOCK: '', XDG_STATE_HOME: join(scratch, 'state'), ...env },
  });

/** Nothing reached the host: no connection, no lock, nothing installed or loaded. */
function untouched(connectionsBefore: number): void {
  expect(host.connections - connectionsBefore, 'SSH connections to the host').toBe(0);
  expect(lockHeld(host.sim.root)).toBe(false);
  const s = host.sim.readSysfs();
  expect(s.patches[MOD]).toBeUndefined();
  expect(s.installed.some((i) => i.file === 'out-files.ko')).toBe(false);
}

describe('an unwritable destination is refused before any host is contacted (exit 64)', () => {
  const cases: {
    name: string;
    args: () => string[];
    env?: () => Record<string, string>;
    setup?: () => void;
    message: RegExp;
  }[] = [
    {
      name: 'apply --report in a folder that does not exist',
      args: () => ['apply', '--yes', '--report', '/nonexistent-kpfleet-dir/x.json'],
      message:
        /--report \/nonexistent-kpfleet-dir\/x\.json: its folder \/nonexistent-kpfleet-dir does not exist/,
    },
    {
      name: 'apply --audit-log under a regular file',
      setup: () => writeFileSync(join(scratch, 'afile'), 'x'),
      args: () => ['apply', '--yes', '--audit-log', join(scratch, 'afile/audit.jsonl')],
      message: /audit log .*afile\/audit\.jsonl: .*afile is not a folder/,
    },
    {
      name: 'apply --audit-log that is a folder',
      args: () => ['apply', '--yes', '--audit-log', scratch],
      message: /audit log .*: it is a folder/,
    },
    {
      name: 'the default audit log, under an XDG_STATE_HOME that is a file',
      setup: () => writeFileSync(join(scratch, 'state'), 'x'),
      args: () => ['apply', '--yes'],
      message: /audit log .*state\/kpfleet\/audit\.jsonl: .*state is not a folder/,
    },
    {
      name: 'apply --report that is a FIFO',
      setup: () => execFileSync('mkfifo', [join(scratch, 'fifo')]),
      args: () => ['apply', '--yes', '--report', join(scratch, 'fifo')],
      message: /--report .*fifo: it is a FIFO, not a regular file/,
    },
    {
      name: 'plan --out that is a FIFO',
      setup: () => execFileSync('mkfifo', [join(scratch, 'fifo')]),
      args: () => ['plan', '--out', join(scratch, 'fifo')],
      message: /--out .*fifo: it is a FIFO, not a regular file/,
    },
    {
      name: 'plan --out in a folder that does not exist',
      args: () => ['plan', '--out', join(scratch, 'missing/plan.json')],
      message: /--out .*missing\/plan\.json: its folder .*missing does not exist/,
    },
  ];
  it.each(cases)('$name', async (c) => {
    c.setup?.();
    const before = host.connections;
    const r = await run(c.args(), c.env?.() ?? {});
    expect(r.stderr).toMatch(c.message);
    expect(r.code, r.stderr).toBe(64);
    untouched(before);
  });

  it.skipIf(process.getuid?.() !== 0)(
    'an audit log the user may not write (permission denied): kpfleet run as nobody',
    () => {
      const audit = join(scratch, 'audit.jsonl');
      writeFileSync(audit, '', { mode: 0o600 });
      const before = host.connections;
      const tsx = join(ROOT, 'node_modules/.bin/tsx');
      const argv = ['--reuid=65534', '--regid=65534', '--clear-groups', tsx];
      argv.push(join(ROOT, 'src/cli/main.ts'), 'apply', '--yes', '--audit-log', audit);
      const r = spawnSync('setpriv', argv, {
        cwd: DIR,
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, NO_COLOR: '1', HOME: DIR, SSH_AUTH_SOCK: '' },
      });
      expect(r.stderr).toContain(
        `error: cannot write the audit log ${audit}: cannot open it for appending: permission denied`,
      );
      expect(r.status).toBe(64);
      untouched(before);
    },
  );

  it('apply --check writes no audit record, so an unusable audit log does not stop it', async () => {
    writeFileSync(join(scratch, 'afile'), 'x');
    const r = await run(['apply', '--check', '--audit-log', join(scratch, 'afile/audit.jsonl')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('check (nothing is changed)');
    expect(host.sim.readSysfs().patches[MOD]).toBeUndefined();
  });
});

describe('two files of a run are never one file (exit 64, nothing contacted, the audit history kept)', () => {
  const HISTORY = '{"host":"old","result":"changed"}\n';
  /** An audit log with a record of an earlier run in it. */
  function history(path: string): string {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, HISTORY, { mode: 0o600 });
    return path;
  }
  const at = (f: string) => join(scratch, f);
  const defaultAudit = () => at('state/kpfleet/audit.jsonl');
  const cases: {
    name: string;
    args: () => string[];
    setup?: () => void;
    message: RegExp;
  }[] = [
    {
      name: 'apply --report naming the --audit-log',
      setup: () => history(join(scratch, 'audit.jsonl')),
      args: () => [
        'apply',
        '--yes',
        '--audit-log',
        at('audit.jsonl'),
        '--report',
        at('audit.jsonl'),
      ],
      message:
        /cannot write --report .*\/audit\.jsonl: it is the same file as the audit log .*\/audit\.jsonl/,
    },
    {
      name: 'apply --report naming the default audit log',
      setup: () => history(defaultAudit()),
      args: () => ['apply', '--yes', '--report', defaultAudit()],
      message: /cannot write --report .*: it is the same file as the audit log .*state\/kpfleet/,
    },
    {
      name: 'apply --report: a symlink to the audit log',
      setup: () => {
        history(join(scratch, 'audit.jsonl'));
        symlinkSync(join(scratch, 'audit.jsonl'), join(scratch, 'report.json'));
      },
      args: () => [
        'apply',
        '--yes',
        '--audit-log',
        at('audit.jsonl'),
        '--report',
        at('report.json'),
      ],
      message: /cannot write --report .*\/report\.json: it is the same file as the audit log/,
    },
    {
      name: 'apply --report: a hard link to the audit log',
      setup: () => {
        history(join(scratch, 'audit.jsonl'));
        linkSync(join(scratch, 'audit.jsonl'), join(scratch, 'report.json'));
      },
      args: () => [
        'apply',
        '--yes',
        '--audit-log',
        at('audit.jsonl'),
        '--report',
        at('report.json'),
      ],
      message: /cannot write --report .*\/report\.json: it is the same file as the audit log/,
    },
    {
      name: 'apply --report through a symlinked folder, to an audit log not yet there',
      setup: () => {
        mkdirSync(join(scratch, 'logs'));
        symlinkSync(join(scratch, 'logs'), join(scratch, 'alias'));
      },
      args: () => [
        'apply',
        '--yes',
        '--audit-log',
        at('logs/audit.jsonl'),
        '--report',
        at('alias/audit.jsonl'),
      ],
      message:
        /cannot write --report .*\/alias\/audit\.jsonl: it is the same file as the audit log/,
    },
    {
      name: 'apply --check --report naming the default audit log (check records nothing, but the report would replace it)',
      setup: () => history(defaultAudit()),
      args: () => ['apply', '--check', '--report', defaultAudit()],
      message: /cannot write --report .*: it is the same file as the audit log/,
    },
    {
      name: 'plan --out naming the default audit log',
      setup: () => history(defaultAudit()),
      args: () => ['plan', '--out', defaultAudit()],
      message: /cannot write --out .*: it is the same file as the audit log .*state\/kpfleet/,
    },
  ];
  it.each(cases)('$name', async (c) => {
    c.setup?.();
    const before = host.connections;
    const r = await run(c.args());
    expect(r.stderr).toMatch(c.message);
    expect(r.code, r.stderr).toBe(64);
    untouched(before);
    for (const f of [
      join(scratch, 'audit.jsonl'),
      join(scratch, 'logs/audit.jsonl'),
      defaultAudit(),
    ])
      if (existsSync(f)) expect(readFileSync(f, 'utf8'), f).toBe(HISTORY);
  });

  it('apply PLANFILE with --report or --audit-log naming the plan file', async () => {
    const saved = await run(['plan', '--out', join(scratch, 'plan.json')]);
    expect(saved.code, saved.stderr).toBe(0);
    const plan = readFileSync(join(scratch, 'plan.json'), 'utf8');
    const before = host.connections;
    const asReport = await run([
      'apply',
      '--yes',
      '--report',
      join(scratch, 'plan.json'),
      join(scratch, 'plan.json'),
    ]);
    expect(asReport.stderr).toMatch(
      /cannot write --report .*plan\.json: it is the same file as the plan file/,
    );
    expect(asReport.code).toBe(64);
    const asAudit = await run([
      'apply',
      '--yes',
      '--audit-log',
      join(scratch, 'plan.json'),
      join(scratch, 'plan.json'),
    ]);
    expect(asAudit.stderr).toMatch(
      /cannot write the audit log .*plan\.json: it is the same file as the plan file/,
    );
    expect(asAudit.code).toBe(64);
    expect(readFileSync(join(scratch, 'plan.json'), 'utf8')).toBe(plan);
    untouched(before);
  });
});

describe('the plan file', () => {
  it('never follows a symlink planted at a temporary name (the old predictable one included)', async () => {
    const victim = join(scratch, 'victim');
    writeFileSync(victim, 'precious\n');
    symlinkSync(victim, join(scratch, `.${String(process.pid)}.kpfleet-plan.tmp`));
    const r = await run(['plan', '--out', join(scratch, 'plan.json')]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(lstatSync(join(scratch, 'plan.json')).isFile()).toBe(true);
    expect(JSON.parse(readFileSync(join(scratch, 'plan.json'), 'utf8'))).toMatchObject({
      format: 'kpfleet-plan',
    });
    // nothing else left behind: the planted link, the victim, the plan
    expect(readdirSync(scratch).sort()).toEqual(
      [`.${String(process.pid)}.kpfleet-plan.tmp`, 'plan.json', 'victim'].sort(),
    );
  });

  it('is written through a symlink the user owns, which stays a symlink', async () => {
    mkdirSync(join(scratch, 'shared'));
    symlinkSync(join(scratch, 'shared/current.json'), join(scratch, 'plan.json'));
    const r = await run(['plan', '--out', join(scratch, 'plan.json')]);
    expect(r.code, r.stderr).toBe(0);
    expect(lstatSync(join(scratch, 'plan.json')).isSymbolicLink()).toBe(true);
    expect(JSON.parse(readFileSync(join(scratch, 'shared/current.json'), 'utf8'))).toMatchObject({
      format: 'kpfleet-plan',
    });
  });

  it.skipIf(process.getuid?.() !== 0)(
    'refuses a symlink owned by another user, before any host is contacted',
    async () => {
      const victim = join(scratch, 'victim');
      writeFileSync(victim, 'precious\n');
      symlinkSync(victim, join(scratch, 'plan.json'));
      lchownSync(join(scratch, 'plan.json'), 65534, 65534);
      const before = host.connections;
      const r = await run(['plan', '--out', join(scratch, 'plan.json')]);
      expect(r.stderr).toMatch(
        /--out .*plan\.json: it is a symlink owned by another user \(uid 65534\)/,
      );
      expect(r.code).toBe(64);
      expect(readFileSync(victim, 'utf8')).toBe('precious\n');
      expect(lstatSync(join(scratch, 'plan.json')).isSymbolicLink()).toBe(true);
      untouched(before);
    },
  );
});

/**
 * A full disk, for real: the CLI (via tsx) in a private mount namespace where `full/` is a 16 KiB
 * tmpfs already filled. Creating an empty file still works there (the preflight passes); writing
 * the data fails with ENOSPC, as when a disk fills during a run.
 */
describe.skipIf(process.getuid?.() !== 0)('out of space after the preflight', () => {
  const FULL_DISK = [
    'm=$1; shift',
    'mount -t tmpfs -o size=16k,mode=0755 kpfleet-full "$m" || exit 90',
    'head -c 65536 /dev/zero > "$m/filler" 2>/dev/null',
    '"$@"; code=$?',
    'ls -A "$m" > "$m.ls"',
    'exit $code',
  ].join('\n');

  function runOnFullDisk(
    args: string[],
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const full = join(scratch, 'full');
    mkdirSync(full);
    const argv = ['-m', '--propagation', 'private', 'sh', '-c', FULL_DISK, 'sh', full];
    argv.push(join(ROOT, 'node_modules/.bin/tsx'), join(ROOT, 'src/cli/main.ts'), ...args);
    return new Promise((done, fail) => {
      const child = spawn('unshare', argv, {
        cwd: DIR,
        env: {
          ...process.env,
          NO_COLOR: '1',
          HOME: DIR,
          SSH_AUTH_SOCK: '',
          XDG_STATE_HOME: join(scratch, 'state'),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', fail);
      child.on('close', (code) => done({ code: code ?? 255, stdout, stderr }));
    });
  }
  /** What the full tmpfs held when the CLI had exited. */
  const leftOnDisk = (): string[] =>
    readFileSync(join(scratch, 'full.ls'), 'utf8').split('\n').filter(Boolean);
  const loaded = (): boolean => host.sim.readSysfs().patches[MOD]?.enabled === '1';

  it('plan --out: a clear error (exit 74), no temporary file left', async () => {
    const r = await runOnFullDisk(['plan', '--out', join(scratch, 'full/plan.json')]);
    expect(r.stderr).toMatch(
      /error: no space left on the file system of .*\/full while writing --out .*\/full\/plan\.json/,
    );
    expect(r.stderr).not.toContain('internal error');
    expect(r.code).toBe(74);
    expect(leftOnDisk()).toEqual(['filler']);
  });

  it('apply --report: the audit records are written as the host is changed and kept; exit 74', async () => {
    const audit = join(scratch, 'audit.jsonl');
    const r = await runOnFullDisk([
      'apply',
      '--yes',
      '--report',
      join(scratch, 'full/report.json'),
      '--audit-log',
      audit,
    ]);
    expect(r.stderr).toMatch(/no space left on the file system of .* while writing --report/);
    expect(r.code).toBe(74);
    expect(loaded()).toBe(true);
    const records = readFileSync(audit, 'utf8').trim().split('\n');
    expect(records.map((l) => JSON.parse(l) as { host: string; result: string })).toEqual([
      expect.objectContaining({ host: 'lab001', result: 'started' }),
      expect.objectContaining({ host: 'lab001', result: 'changed' }),
    ]);
    expect(leftOnDisk()).toEqual(['filler']);
  });

  it('the audit log: a loud error (exit 74) with the records on stderr; the run stops as on Ctrl-C, nothing sent; the report is written', async () => {
    const report = join(scratch, 'report.json');
    const r = await runOnFullDisk([
      'apply',
      '--yes',
      '--audit-log',
      join(scratch, 'full/audit.jsonl'),
      '--report',
      report,
    ]);
    expect(r.stderr).toMatch(
      /error: no space left on the file system of .* while writing the audit log .*full\/audit\.jsonl/,
    );
    expect(r.stderr).toMatch(
      /The audit records of this run from here on, not known to be in .*full\/audit\.jsonl/,
    );
    // the first record failed (the host's `started`, before its first change): the run stops
    // there, the host's first step not sent; every record of the run is on stderr, the error
    // said once
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('{'));
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual([
      expect.objectContaining({ host: 'lab001', result: 'started' }),
      expect.objectContaining({ host: 'lab001', result: 'interrupted' }),
    ]);
    expect(r.stderr.match(/^error: .*while writing the audit log/gm)).toHaveLength(1);
    expect(r.stderr).toContain('The run stopped because the audit log failed (no space left');
    expect(r.code).toBe(74);
    expect(loaded()).toBe(false);
    expect(JSON.parse(readFileSync(report, 'utf8'))).toMatchObject({
      interrupted: true,
      hosts: [{ host: 'lab001', outcome: 'interrupted' }],
    });
    expect(leftOnDisk().filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
