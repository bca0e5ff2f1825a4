/**
 * The sharded GitHub Actions workflow (examples/.github/workflows/kpfleet-sharded.yml): every
 * kpfleet command line is one the real CLI parser accepts; the job graph is plan (a matrix of
 * shards) → merge → wave 1 → gate 1 → wave 2 → … with one wave per entry of the example's
 * rollout.waves, each wave needing the gate before it and running only once that gate succeeded
 * (the `if:` conditions compared whole); each gate runs whatever its wave's jobs did, downloads
 * the merged plan and the report of every shard of waves 1..K by exact name, and its script,
 * run here with a stub `kpfleet`, calls `report merge --plan … --wave K` with exactly those
 * reports; no artifact is downloaded by pattern; no `run:` script holds a `${{ }}` expression;
 * secrets only through inputs and env; the merge and gate jobs hold no key, and only the wave
 * jobs, behind the production environment, hold the key that can change hosts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  action,
  EXAMPLES,
  expectCliAccepts,
  shardedWorkflow as w,
  stubKpfleet,
  workflowCommands,
  type Job,
} from './example-files.ts';

const commands = workflowCommands(w);
const waves = (
  parse(readFileSync(join(EXAMPLES, 'kpfleet.yml'), 'utf8')) as { rollout: { waves: unknown[] } }
).rollout.waves.length;
const needs = (j?: Job) => [j?.needs ?? []].flat();
const job = (name: string): Job => {
  const j = w.jobs[name];
  if (j === undefined) throw new Error(`no job ${name}`);
  return j;
};
const shards = (j: Job) => j.strategy?.matrix?.shard ?? [];
const N = shards(job('plan')).length;
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
const downloads = (j: Job) =>
  j.steps.filter((s) => s.uses?.startsWith('actions/download-artifact'));
const waveIf = (k: number) =>
  k === 1
    ? "${{ !cancelled() && needs.merge.result == 'success' }}"
    : `\${{ !cancelled() && needs.gate-${String(k - 1)}.result == 'success' }}`;
const gateIf = (k: number) => `\${{ always() && needs.wave-${String(k)}.result != 'skipped' }}`;

/**
 * The artifacts a gate job downloads when its WAVE is k: each download step runs unless its `if:`
 * is exactly `env.WAVE >= m` with m > k (any other condition fails the test).
 */
function gateDownloads(gate: Job, k: number): string[] {
  return downloads(gate)
    .filter((s) => {
      if (s.if === undefined) return true;
      const m = /^env\.WAVE >= ([0-9]+)$/.exec(s.if);
      expect(m, `download condition ${s.if}`).not.toBeNull();
      return k >= Number(m?.[1]);
    })
    .map((s) => s.with?.name ?? '');
}

const tmp = mkdtempSync(join(tmpdir(), 'kpfleet-gate-'));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const stub = stubKpfleet(tmp);

/** Runs a gate's report-merge step as a runner does (`bash -e`), with the stub `kpfleet` on PATH. */
function runGateStep(gate: Job, wave: number, stubExit: number) {
  const step = gate.steps.find((s) => s.run?.includes('kpfleet report merge'));
  if (step?.run === undefined) throw new Error('no report merge step');
  writeFileSync(join(tmp, 'step.sh'), step.run);
  stub.reset();
  const env = Object.fromEntries(
    Object.entries(step.env ?? {}).map(([k, v]) => [
      k,
      v.replace('${{ runner.temp }}', '/runner/temp'),
    ]),
  );
  const r = spawnSync('bash', ['-e', join(tmp, 'step.sh')], {
    cwd: tmp,
    encoding: 'utf8',
    env: {
      PATH: `${stub.bin}:${process.env.PATH ?? ''}`,
      WAVE: String(wave),
      STUB_EXIT: String(stubExit),
      GITHUB_STEP_SUMMARY: join(tmp, 'summary'),
      ...env,
    },
  });
  return { status: r.status, argv: stub.argv(), stdout: r.stdout };
}

describe('examples/.github/workflows/kpfleet-sharded.yml', () => {
  it('only runs kpfleet commands and options the CLI accepts', async () => {
    expect(commands.length).toBeGreaterThanOrEqual(4);
    for (const { job: name, argv } of commands) await expectCliAccepts(argv, name);
    expect(commands.map((c) => c.argv.slice(0, 2).join(' '))).toEqual(
      expect.arrayContaining(['plan --login-user', 'plan merge', 'apply --wave', 'report merge']),
    );
  });

  it('plans as a matrix of N shards, each uploading its plan, then merges them', () => {
    expect(N).toBeGreaterThan(1);
    expect(shards(job('plan'))).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    const plan = job('plan').steps.find((s) => s.run?.includes('kpfleet plan'));
    expect(plan?.env?.SHARD).toBe(`\${{ matrix.shard }}/${String(N)}`);
    expect(plan?.run).toContain('--shard "$SHARD" --out "$OUT"');
    expect(job('plan').steps.some((s) => s.uses?.startsWith('actions/upload-artifact'))).toBe(true);
    expect(needs(job('merge'))).toEqual(['plan']);
    const merge = commands.find((c) => c.job === 'merge')?.argv ?? [];
    expect(merge.slice(0, 2)).toEqual(['plan', 'merge']);
    expect(merge).toEqual(expect.arrayContaining(['--out', 'plan.json']));
  });

  it("the merge job downloads each shard's plan by its exact name and merges exactly those files", () => {
    const merge = job('merge');
    expect(downloads(merge).map((d) => d.with?.name)).toEqual(
      range(N).map((i) => `kpfleet-plan-shard-${String(i)}`),
    );
    for (const d of downloads(merge))
      expect(d.with?.path).toBe('${{ runner.temp }}/kpfleet-shards');
    const argv = commands.find((c) => c.job === 'merge')?.argv ?? [];
    expect(argv.filter((a) => a.includes('plan-shard'))).toEqual(
      range(N).map((i) => `"$SHARDS/plan-shard-${String(i)}.json"`),
    );
    // and that is the file each plan job uploads under that name
    const upload = job('plan').steps.find((s) => s.uses?.startsWith('actions/upload-artifact'));
    expect(upload?.with).toMatchObject({
      name: 'kpfleet-plan-shard-${{ matrix.shard }}',
      path: 'plan-shard-${{ matrix.shard }}.json',
    });
  });

  it('no artifact is downloaded by a pattern, and no run: script holds a ${{ }} expression', () => {
    for (const [name, j] of Object.entries(w.jobs)) {
      for (const d of downloads(j)) {
        expect(d.with?.name, name).toMatch(/^kpfleet-[a-z0-9-]+$/);
        expect(Object.keys(d.with ?? {}).sort(), name).toEqual(['name', 'path']);
      }
      for (const s of j.steps) expect(s.run ?? '', `${name}: ${s.name ?? ''}`).not.toContain('${{');
    }
  });

  it('one matrix job per wave of rollout.waves, each needing the gate before it; a gate after each; the if: conditions exactly', () => {
    const waveJobs = Object.keys(w.jobs).filter((n) => n.startsWith('wave-'));
    expect(waveJobs).toEqual(range(waves).map((k) => `wave-${String(k)}`));
    expect(Object.keys(w.jobs).filter((n) => n.startsWith('gate-'))).toEqual(
      range(waves).map((k) => `gate-${String(k)}`),
    );
    for (let k = 1; k <= waves; k++) {
      const wave = job(`wave-${String(k)}`);
      const gate = job(`gate-${String(k)}`);
      expect(wave.env?.WAVE, `wave ${String(k)}`).toBe(String(k));
      expect(gate.env?.WAVE, `gate ${String(k)}`).toBe(String(k));
      expect(shards(wave)).toEqual(shards(job('plan')));
      expect(wave.strategy?.['fail-fast']).toBe(false);
      expect(needs(wave)).toEqual(k === 1 ? ['merge'] : ['merge', `gate-${String(k - 1)}`]);
      // wave 1 only after the merge succeeded; wave K+1 only after gate K ran and succeeded
      expect(wave.if, `wave ${String(k)}`).toBe(waveIf(k));
      expect(needs(gate)).toEqual([`wave-${String(k)}`]);
      // the gate judges whatever its wave did, failed shards included; not a wave never started
      expect(gate.if, `gate ${String(k)}`).toBe(gateIf(k));
    }
  });

  it('each wave job applies wave K of its shard of the merged plan, with --yes and a report kept always', () => {
    const step = job('wave-2').steps.find((s) => s.run?.includes('kpfleet apply'));
    expect(step?.env?.SHARD).toBe(`\${{ matrix.shard }}/${String(N)}`);
    const argv = commands.find((c) => c.job === 'wave-2')?.argv ?? [];
    expect(argv).toEqual(
      expect.arrayContaining([
        '--wave',
        '"$WAVE"',
        '--shard',
        '"$SHARD"',
        '--yes',
        '--report',
        '"$REPORT"',
      ]),
    );
    expect(argv.at(-1)).toBe('"$SAVED/plan.json"');
    const upload = job('wave-2').steps.find((s) => s.uses?.startsWith('actions/upload-artifact'));
    expect(upload?.if).toBe('always()');
    expect(upload?.with?.name).toBe('kpfleet-report-w${{ env.WAVE }}-s${{ matrix.shard }}');
  });

  it("each gate downloads the merged plan and every shard's report of waves 1..K by exact name", () => {
    const upload = job('wave-1').steps.find((s) => s.uses?.startsWith('actions/upload-artifact'));
    const reportPath = (upload?.with?.path ?? '').split('\n')[0] ?? '';
    expect(reportPath).toBe(
      '${{ runner.temp }}/kpfleet-out/report-w${{ env.WAVE }}-s${{ matrix.shard }}.json',
    );
    for (let k = 1; k <= waves; k++) {
      const gate = job(`gate-${String(k)}`);
      const expected = range(k).flatMap((m) =>
        range(N).map((i) => `kpfleet-report-w${String(m)}-s${String(i)}`),
      );
      expect(gateDownloads(gate, k), `gate ${String(k)}`).toEqual(['kpfleet-plan', ...expected]);
      const paths = new Set(downloads(gate).map((d) => d.with?.path));
      expect([...paths].sort()).toEqual([
        '${{ runner.temp }}/kpfleet-plan',
        '${{ runner.temp }}/kpfleet-reports',
      ]);
    }
  });

  it('each gate runs report merge --plan <the merged plan> --wave K with exactly the reports of waves 1..K, and fails its job when kpfleet says no', () => {
    for (let k = 1; k <= waves; k++) {
      const gate = job(`gate-${String(k)}`);
      const step = gate.steps.find((s) => s.run?.includes('kpfleet report merge'));
      expect(step?.env).toEqual({
        SAVED: '${{ runner.temp }}/kpfleet-plan',
        REPORTS: '${{ runner.temp }}/kpfleet-reports',
      });
      const ok = runGateStep(gate, k, 0);
      expect(ok.status, `gate ${String(k)}`).toBe(0);
      const reports = range(k).flatMap((m) =>
        range(N).map((i) => `/runner/temp/kpfleet-reports/report-w${String(m)}-s${String(i)}.json`),
      );
      expect(ok.argv).toEqual([
        'report',
        'merge',
        '--plan',
        '/runner/temp/kpfleet-plan/plan.json',
        '--wave',
        String(k),
        '--out',
        'merged-report.json',
        ...reports,
      ]);
      expect(ok.stdout).toContain('stub kpfleet');
      for (const code of [1, 64]) expect(runGateStep(gate, k, code).status).toBe(code);
    }
    // the old stand-in for completeness is gone: kpfleet checks it against the plan
    for (const [name, j] of Object.entries(w.jobs))
      for (const s of j.steps) expect(s.run ?? '', name).not.toMatch(/\bls\b/);
  });

  it('passes secrets only through env and inputs; merge and gates hold no key; only the wave jobs, behind production, hold the deploy key', () => {
    for (const [name, j] of Object.entries(w.jobs)) {
      for (const s of j.steps)
        expect(s.run ?? '', `${name}: ${s.name ?? ''}`).not.toMatch(/secrets\.|inputs\./);
      const setup = j.steps.find((s) => s.uses === './.github/actions/setup-kpfleet');
      expect(setup, name).toBeDefined();
      const key = setup?.with?.['ssh-key'];
      if (name.startsWith('wave-')) {
        expect(j.environment, name).toBe('production');
        expect(key, name).toBe('${{ secrets.KPFLEET_SSH_KEY }}');
        expect(j.steps.at(-1)?.run, name).toContain('ssh-agent -k');
      } else if (name === 'plan') {
        expect(j.environment, name).toBeUndefined();
        expect(key, name).toBe('${{ secrets.KPFLEET_SSH_KEY_READONLY }}');
        expect(j.steps.at(-1)?.run, name).toContain('ssh-agent -k');
      } else {
        // merge and the gates contact no host: no key, no secret of any kind
        expect(name).toMatch(/^(merge|gate-[0-9]+)$/);
        expect(j.environment, name).toBeUndefined();
        expect(Object.keys(setup?.with ?? {}).sort(), name).toEqual([
          'kpfleet-sha256',
          'kpfleet-tarball',
        ]);
        expect(JSON.stringify(j), name).not.toContain('secrets.');
      }
    }
    for (const c of commands.filter((x) => x.job === 'plan'))
      expect(c.argv.join(' ')).toContain('--login-user kpfleet-ro');
    expect(Object.keys(w.on)).not.toContain('pull_request_target');
  });

  it('the setup action starts no ssh-agent when it is given no key', () => {
    const ssh = action.runs.steps.find((s) => s.run?.includes('ssh-add'));
    expect(ssh?.if).toBe("inputs.ssh-key != ''");
  });

  it("its header says to restrict production's deployment branches to main, and to recover with a new run", () => {
    const text = readFileSync(join(EXAMPLES, '.github/workflows/kpfleet-sharded.yml'), 'utf8');
    const header = text.slice(0, text.indexOf('\nname:'));
    expect(header).toMatch(/deployment\s+branches\s+to\s+`main`/);
    expect(header).toMatch(/start a NEW run/);
    expect(header).toMatch(/do not "re-run failed jobs"/);
  });
});
