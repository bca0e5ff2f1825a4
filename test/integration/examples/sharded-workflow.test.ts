/**
 * The sharded GitHub Actions workflow (examples/.github/workflows/kpfleet-sharded.yml): every
 * kpfleet command line is one the real CLI parser accepts; the job graph is plan (a matrix of
 * shards) → merge → wave 1 → gate 1 → wave 2 → … with one wave per entry of the example's
 * rollout.waves, each wave needing the gate before it and running only once that gate succeeded;
 * each gate runs whatever its wave's jobs did and reads every report so far; secrets only
 * through inputs and env; only the wave jobs, behind the production environment, hold the key
 * that can change hosts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  EXAMPLES,
  expectCliAccepts,
  shardedWorkflow as w,
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

  it('one matrix job per wave of rollout.waves, each needing the gate before it; a gate after each', () => {
    const waveJobs = Object.keys(w.jobs).filter((n) => n.startsWith('wave-'));
    expect(waveJobs).toEqual(Array.from({ length: waves }, (_, i) => `wave-${String(i + 1)}`));
    for (let k = 1; k <= waves; k++) {
      const wave = job(`wave-${String(k)}`);
      const gate = job(`gate-${String(k)}`);
      expect(wave.env?.WAVE, `wave ${String(k)}`).toBe(String(k));
      expect(gate.env?.WAVE, `gate ${String(k)}`).toBe(String(k));
      expect(shards(wave)).toEqual(shards(job('plan')));
      expect(wave.strategy?.['fail-fast']).toBe(false);
      if (k === 1) expect(needs(wave)).toEqual(['merge']);
      else {
        expect(needs(wave)).toEqual(['merge', `gate-${String(k - 1)}`]);
        // not merely "not failed": only a gate that ran and succeeded lets the wave start
        expect(wave.if).toContain(`needs.gate-${String(k - 1)}.result == 'success'`);
        expect(wave.if).toContain('!cancelled()');
      }
      expect(needs(gate)).toEqual([`wave-${String(k)}`]);
      expect(gate.if).toContain('always()');
      expect(gate.if).toContain(`needs.wave-${String(k)}.result != 'skipped'`);
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

  it('each gate merges every report so far and fails its job when the next wave must not start', () => {
    const gate = job('gate-2');
    const download = gate.steps.find((s) => s.uses?.startsWith('actions/download-artifact'));
    expect(download?.with).toMatchObject({ pattern: 'kpfleet-report-w*', 'merge-multiple': true });
    const run = gate.steps.find((s) => s.run?.includes('kpfleet report merge'))?.run ?? '';
    expect(run).toContain('"$REPORTS"/report-w*.json');
    expect(run).toMatch(/exit "\$code"\s*$/);
    // a wave none of whose jobs left a report: refused by the step itself
    expect(run).toContain('report-w"$WAVE"-s*.json');
  });

  it('passes secrets only through env and inputs; only the wave jobs, behind production, hold the deploy key', () => {
    for (const [name, j] of Object.entries(w.jobs)) {
      for (const s of j.steps)
        expect(s.run ?? '', `${name}: ${s.name ?? ''}`).not.toMatch(/secrets\.|inputs\./);
      const key = j.steps.find((s) => s.uses === './.github/actions/setup-kpfleet')?.with?.[
        'ssh-key'
      ];
      if (name.startsWith('wave-')) {
        expect(j.environment, name).toBe('production');
        expect(key, name).toBe('${{ secrets.KPFLEET_SSH_KEY }}');
      } else {
        expect(j.environment, name).toBeUndefined();
        expect(key, name).toBe('${{ secrets.KPFLEET_SSH_KEY_READONLY }}');
      }
      expect(j.steps.at(-1)?.run, name).toContain('ssh-agent -k');
    }
    for (const c of commands.filter((x) => x.job === 'plan'))
      expect(c.argv.join(' ')).toContain('--login-user kpfleet-ro');
    expect(Object.keys(w.on)).not.toContain('pull_request_target');
  });
});
