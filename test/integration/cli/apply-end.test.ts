/**
 * Issue 18, "saying what happened", in-process against a lab host (real SSH, the simulator's
 * state): a stale saved plan ends with the host named and why, the command to run next and where
 * the report and audit log are, and no tick; the audit records and the report name the
 * configuration applied (its git commit from kpfleet.yml's repository, `-dirty` when a file of it
 * is not committed, and its fingerprint, also outside git); a plan that removes a patch says
 * which CVE that re-opens.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInProcess } from '../../cli-in-process.ts';
import { hasScript, typeAtPrompt } from '../../pty.ts';
import { CVE, makePatchFile, writeProject } from '../../project.ts';
import { Lab } from '../../../lab/lab.ts';
import type { LabHost } from '../../../lab/lab.ts';
import { TMP_BASE } from '../../../lab/host-dir.ts';

const LAB_DIR = join(TMP_BASE, `apply-end-${String(process.pid)}`);
const MAIN = new URL('../../../src/cli/main.ts', import.meta.url).pathname;

/** `kpfleet apply -c kpfleet.yml` on a pty (util-linux script); answers `no` once asked. */
function applyAnsweringNo(): Promise<{ code: number | null; out: string }> {
  const q = (x: string) => `'${x.replaceAll("'", "'\\''")}'`;
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', HOME: dir, SHELL: '/bin/sh' };
  env.XDG_STATE_HOME = join(dir, 'state');
  delete env.CI;
  return typeAtPrompt({
    command: [process.execPath, '--import', 'tsx', MAIN, 'apply', '-c', cfg].map(q).join(' '),
    // from the repository, where tsx is installed; the project by its absolute path
    cwd: new URL('../../../', import.meta.url).pathname,
    env,
    prompt: "Only 'yes' is accepted: ",
    keys: 'no\r',
    timeoutMs: 50_000,
  });
}

let lab: Lab;
let host: LabHost;
/** The project: in a temporary folder outside any git repository (until a test makes one). */
let dir: string;
let cfg: string;

const git = (...args: string[]): string =>
  execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@example.org', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  }).trim();

function project(state: 'loaded' | 'absent'): void {
  writeProject(dir, {
    knownHosts: lab.knownHostsPath,
    connectTimeout: null,
    rollout: ['forks: 1'],
    patches: [CVE],
    groups: { all: { [state]: [CVE.name] } },
  });
}

/** `kpfleet COMMAND -c kpfleet.yml ARGS…` in the project's folder, with a state folder of its own. */
const run = ([command = '', ...args]: string[]) =>
  runInProcess([command, '-c', cfg, ...args], {
    cwd: dir,
    env: { HOME: dir, XDG_STATE_HOME: join(dir, 'state') },
  });

interface AuditLine {
  host: string;
  result: string;
  configCommit: string | null;
  configFingerprint: string | null;
}
const audit = (path: string): AuditLine[] =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditLine);

beforeAll(async () => {
  rmSync(LAB_DIR, { recursive: true, force: true });
  lab = await Lab.start({
    hosts: 1,
    dir: join(LAB_DIR, 'lab'),
    simProfile: { TIME_SCALE: '0.01' },
  });
  host = lab.hosts[0] as LabHost;
  dir = mkdtempSync(join(tmpdir(), 'kpfleet-apply-end-'));
  cfg = join(dir, 'kpfleet.yml');
  makePatchFile(host, dir, CVE);
  writeFileSync(join(dir, 'inventory.ini'), readFileSync(lab.inventoryPath));
  project('loaded');
}, 60_000);

afterAll(async () => {
  await lab.close();
  rmSync(LAB_DIR, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

describe('the end of an apply, and what it records', () => {
  it('a stale saved plan, outside git: the host named with its reason, no tick, the next command, the records; the audit names the fingerprint', async () => {
    const plan = join(dir, 'plan.json');
    expect((await run(['plan', '--out', plan])).code).toBe(0);
    // the host changes after the plan was made: another live patch appears
    const other = join(host.sim.root, 'sys/kernel/livepatch/livepatch_other');
    mkdirSync(other, { recursive: true });
    writeFileSync(join(other, 'enabled'), '1\n');
    writeFileSync(join(other, 'transition'), '0\n');
    const log = join(dir, 'audit.jsonl');
    const report = join(dir, 'report.json');
    let r;
    try {
      r = await run(['apply', '--yes', '--audit-log', log, '--report', report, plan]);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toContain(
      `  stale: ${host.name} — its facts changed since the plan was made (fingerprint differs): nothing was done; plan again`,
    );
    expect(r.stdout).toContain(
      `Next: kpfleet plan -c ${cfg} --out ${plan}, review it, then kpfleet apply -c ${cfg} --audit-log ${log} ${plan}`,
    );
    expect(r.stdout).toContain(`Report: ${report}`);
    expect(r.stdout).toContain(`Audit log: ${log}`);
    expect(r.stdout).not.toMatch(/[✔✓]/);
    const fingerprint = (
      JSON.parse(readFileSync(plan, 'utf8')) as { configFingerprint: { sha256: string } }
    ).configFingerprint.sha256;
    const records = audit(log);
    expect(records.map((x) => [x.host, x.result])).toEqual([[host.name, 'stale']]);
    expect(records[0]).toMatchObject({ configCommit: null, configFingerprint: fingerprint });
    expect(JSON.parse(readFileSync(report, 'utf8'))).toMatchObject({
      configFingerprint: fingerprint,
    });
    expect('configCommit' in (JSON.parse(readFileSync(report, 'utf8')) as object)).toBe(false);
  }, 60_000);

  it("in git: the commit of kpfleet.yml's repository, clean, then -dirty when a file of the configuration is not committed", async () => {
    git('init', '-q');
    writeFileSync(join(dir, '.gitignore'), 'state/\n*.json\n*.jsonl\n');
    git('add', '-A');
    git('commit', '-q', '-m', 'the fleet');
    const head = git('rev-parse', 'HEAD');
    const log = join(dir, 'audit-git.jsonl');
    const r = await run(['apply', '--yes', '--audit-log', log]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).not.toContain('Next:');
    expect(r.stdout).toContain(`Audit log: ${log}`);
    const records = audit(log);
    expect(records.length).toBeGreaterThan(0);
    for (const x of records) expect(x.configCommit).toBe(head);
    expect(records[0]?.configFingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
    // a host_vars file beside the inventory, not committed: the commit does not hold it
    mkdirSync(join(dir, 'host_vars'));
    writeFileSync(join(dir, 'host_vars', `${host.name}.yml`), 'note: not committed\n');
    const report = join(dir, 'check.json');
    const check = await run(['apply', '--check', '--report', report]);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(JSON.parse(readFileSync(report, 'utf8'))).toMatchObject({
      configCommit: `${head}-dirty`,
    });
    rmSync(join(dir, 'host_vars'), { recursive: true });
    expect(existsSync(join(dir, '.git'))).toBe(true);
  }, 60_000);

  it('a plan that unloads the CVE patch says what it removes and which CVE that re-opens', async () => {
    project('absent');
    const text = await run(['plan']);
    expect(text.stdout).toContain(`Removes: ${CVE.module} on 1 host`);
    expect(text.stdout).toContain('Reopens: CVE-2024-1086 on 1 host');
    expect(text.stdout).toContain('⚠ reopens CVE-2024-1086: no patch left on the host fixes it');
    const json = await run(['plan', '--format', 'json']);
    expect(JSON.parse(json.stdout)).toMatchObject({
      summary: {
        removes: [{ name: CVE.module, hosts: 1 }],
        reopens: [{ name: 'CVE-2024-1086', hosts: 1 }],
      },
      hosts: [{ host: host.name, reopens: ['CVE-2024-1086'] }],
    });
    const md = await run(['plan', '--format', 'markdown']);
    expect(md.stdout).toContain('**Reopens:** `CVE-2024-1086` on 1 host');
  }, 60_000);

  it.runIf(hasScript)(
    "apply's prompt says what it removes and what that re-opens, in plain lines",
    async () => {
      const r = await applyAnsweringNo();
      const out = r.out.replaceAll('\r\n', '\n');
      expect(out).toContain(
        "On 1 host: 1 removal (2 changes in all).\nThis reopens CVE-2024-1086 on 1 host.\nApply these changes? Only 'yes' is accepted: ",
      );
      expect(out).toContain('Apply cancelled; nothing was changed.');
      expect(r.code, out).toBe(0);
    },
    60_000,
  );
});
