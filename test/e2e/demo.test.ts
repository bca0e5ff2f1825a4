/**
 * The demo and the README's tour (issue 9): `npm start` as a fresh clone runs it, and every line
 * of the README's tour, run as written against the demo hosts, exits as the README says.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HOSTS, startDemoFleet, UNMANAGED_ON } from '../../scripts/demo-fleet.ts';
import { TMP_BASE } from '../../lab/host-dir.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/kpfleet.js');
const scratch = mkdtempSync(join(TMP_BASE, 'demo-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A command line, in sh, in `cwd`, with `kpfleet` the built CLI (as the tour's alias makes it). */
function sh(
  line: string,
  cwd: string,
  env: Record<string, string> = {},
): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', `kpfleet() { node ${BIN} "$@"; }\n${line}`], {
      cwd,
      env: { ...process.env, SSH_AUTH_SOCK: '', NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ code: code ?? 255, out });
    });
  });
}

/** Processes whose command line mentions `text` (other than this test's own). */
function processesMentioning(text: string): string[] {
  const ps = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return ps.stdout
    .split('\n')
    .filter((l) => l.includes(text) && !l.includes('ps -eo'))
    .map((l) => l.trim());
}

describe('npm start', () => {
  it('runs validate → plan → apply → plan (empty) → status on the demo hosts and leaves nothing running', async () => {
    const project = join(scratch, 'start');
    // what `npm start` runs (package.json), in its own folder so a developer's demo is untouched
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.start).toBe('tsx scripts/demo.ts');
    const r = await sh(`npx tsx scripts/demo.ts --project ${project}`, ROOT);
    expect(r.code, r.out).toBe(0);
    const commands = [...r.out.matchAll(/^\$ kpfleet (.*)$/gm)].map((m) => m[1]);
    expect(commands).toEqual([
      'validate',
      'plan',
      'apply --yes --report report.json --audit-log audit.jsonl',
      'plan --detailed-exitcode',
      'status --out html:status.html',
    ]);
    // it ends with the coverage page, says where to open it, and names the exposed host
    expect(r.out).toContain(`file://${join(project, 'status.html')}`);
    expect(readFileSync(join(project, 'status.html'), 'utf8')).toMatch(/^<!doctype html>/i);
    expect(r.out).toMatch(/^batch04 +⚠ uncovered/m);
    expect(r.out).toMatch(/^db01 +✓ protected .* \d{4}-\d{2}-\d{2}$/m);
    // the plan shows what is special in the demo fleet: the unmanaged hotfix, the uncovered host
    expect(r.out).toMatch(/vendor_hotfix/);
    expect(r.out).toMatch(/batch04[^\n]*\n(?:[^\n]*\n){0,3}[^\n]*(uncovered|no declared patch)/i);
    expect(r.out).toMatch(/No changes/);
    expect(r.out).toMatch(/Done in \d+\.\d s\./);
    // the report says every changed host converged
    const report = JSON.parse(readFileSync(join(project, 'report.json'), 'utf8')) as {
      hosts: { host: string; outcome: string }[];
    };
    expect(report.hosts.filter((h) => h.outcome === 'changed')).toHaveLength(11);
    // nothing left: no simulated host's process, no lab folder
    expect(processesMentioning(join(project, '.lab'))).toEqual([]);
    expect(existsSync(join(project, '.lab'))).toBe(false);
  });
});

describe("the README's tour", () => {
  it('works as written against the demo hosts', async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const block = /<!-- tour:[^\n]*-->\s*```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    const lines = block.split('\n').filter((l) => l.trim() !== '');
    expect(lines.length).toBeGreaterThan(5);
    // the first line goes to the demo project and makes the alias: here, cwd and sh's function
    expect(lines[0]).toMatch(/^cd test\/\.tmp\/demo && alias kpfleet=/);

    const project = join(scratch, 'tour');
    const fleet = await startDemoFleet(project);
    try {
      // the state the tour starts from: after the demo (`npm start -- --stay`)
      const applied = await sh('kpfleet apply --yes --audit-log audit.jsonl', project);
      expect(applied.code, applied.out).toBe(0);
      const env = { XDG_STATE_HOME: join(project, 'state') }; // apply's default audit log
      for (const line of lines.slice(1)) {
        const r = await sh(line, project, env);
        const expected = /#\s*exit (\d+)/.exec(line)?.[1];
        expect(r.code, `${line}\n${r.out}`).toBe(expected === undefined ? 0 : Number(expected));
        if (line.startsWith('kpfleet validate')) expect(r.out).toMatch(/kpfleet\.yml:\d+:\d+/);
        if (line.includes('--out plan.json')) expect(r.out).toMatch(/vendor_hotfix/);
      }
      // the hotfix is gone from db02, and everything else still holds
      const db02 = fleet.lab.hosts[HOSTS.findIndex(([n]) => n === UNMANAGED_ON)];
      expect(db02?.sim.readSysfs().patches.vendor_hotfix).toBeUndefined();
      expect(Object.keys(db02?.sim.readSysfs().patches ?? {})).toEqual(['kpatch_cve_2024_1086']);
    } finally {
      await fleet.close();
    }
  });
});
