/**
 * The example infrastructure repository's GitHub Actions workflow (issue 9 §2): what it runs is
 * what kpfleet accepts. Every `kpfleet` command line in it is checked against the CLI's own
 * option parser (`<command> --help` of the real program), and the workflow does what its comment
 * promises: plan as markdown on pull requests, a saved plan applied with --yes on main, a nightly
 * --detailed-exitcode drift check; secrets reach commands only through env or inputs.
 */
import { describe, expect, it } from 'vitest';
import { action, expectCliAccepts, workflow, workflowCommands, type Job } from './example-files.ts';

const commands = workflowCommands(workflow);

describe('examples/.github/workflows/kpfleet.yml', () => {
  it('runs on pull requests, on pushes to main, and nightly', () => {
    expect(Object.keys(workflow.on)).toEqual(
      expect.arrayContaining(['pull_request', 'push', 'schedule']),
    );
    expect(workflow.on.push).toMatchObject({ branches: ['main'] });
  });

  it('only runs kpfleet commands and options the CLI accepts', async () => {
    expect(commands.length).toBeGreaterThanOrEqual(4);
    for (const { job, argv } of commands) await expectCliAccepts(argv, job);
  });

  it('posts the plan as markdown on pull requests and saves it for apply', () => {
    const plan = commands.find((c) => c.job === 'plan' && c.argv[0] === 'plan')?.argv ?? [];
    expect(plan).toEqual(expect.arrayContaining(['--format', 'markdown', '--out', 'plan.json']));
    const steps = workflow.jobs.plan?.steps ?? [];
    expect(steps.some((s) => s.run?.includes('gh pr comment') && s.run.includes('plan.md'))).toBe(
      true,
    );
    expect(steps.some((s) => s.uses?.startsWith('actions/upload-artifact'))).toBe(true);
    expect(commands.some((c) => c.job === 'plan' && c.argv[0] === 'validate')).toBe(true);
  });

  it('applies exactly the saved plan, with --yes, on main, after the environment approves', () => {
    const apply = workflow.jobs.apply;
    expect(apply?.if).toContain("github.ref == 'refs/heads/main'");
    expect(apply?.needs).toBe('plan');
    expect(apply?.environment).toBe('production');
    expect(apply?.steps.some((s) => s.uses?.startsWith('actions/download-artifact'))).toBe(true);
    const argv = commands.find((c) => c.job === 'apply')?.argv ?? [];
    expect(argv[0]).toBe('apply');
    expect(argv).toContain('--yes');
    expect(argv.at(-1)).toBe('"$SAVED/plan.json"');
  });

  it('apply reads the saved plan and writes its records outside the checkout (the artifact comes from a runner pull requests use)', () => {
    const steps = workflow.jobs.apply?.steps ?? [];
    const download = steps.find((s) => s.uses?.startsWith('actions/download-artifact'));
    expect(download?.with?.path).toBe('${{ runner.temp }}/kpfleet-plan');
    const run = steps.find((s) => s.run?.includes('kpfleet apply'));
    expect(run?.env).toEqual({
      SAVED: '${{ runner.temp }}/kpfleet-plan',
      OUT: '${{ runner.temp }}/kpfleet-out',
    });
    const argv = commands.find((c) => c.job === 'apply')?.argv ?? [];
    expect(argv).toEqual(
      expect.arrayContaining([
        '--report',
        '"$OUT/report.json"',
        '--audit-log',
        '"$OUT/audit.jsonl"',
      ]),
    );
  });

  it('checks drift nightly with --detailed-exitcode and fails the job on drift', () => {
    const drift = workflow.jobs.drift;
    expect(drift?.if).toContain("github.event_name == 'schedule'");
    const argv = commands.find((c) => c.job === 'drift')?.argv ?? [];
    expect(argv).toEqual(expect.arrayContaining(['plan', '--detailed-exitcode']));
    const last = drift?.steps.find((s) => s.name === 'fail on drift or exposure');
    expect(last?.env).toMatchObject({
      DRIFT: '${{ steps.drift.outputs.code }}',
      STATUS: '${{ steps.status.outputs.code }}',
    });
    expect(last?.run).toMatch(/exit "\$code"/);
  });

  it('writes the status page and the OpenVEX document nightly, keeps both as artifacts, even on drift', () => {
    const steps = workflow.jobs.drift?.steps ?? [];
    const status = commands.find((c) => c.job === 'drift' && c.argv[0] === 'status')?.argv ?? [];
    expect(status).toEqual(
      expect.arrayContaining(['--out', 'html:status.html', '--out', 'openvex:kpfleet.vex.json']),
    );
    const upload = steps.find((s) => s.uses?.startsWith('actions/upload-artifact'));
    expect(upload?.if).toBe('always()');
    expect(String(upload?.with?.path)).toMatch(/status\.html\s+kpfleet\.vex\.json/);
    expect(steps.find((s) => s.run?.includes('kpfleet status'))?.if).toBe('always()');
  });

  it('passes secrets only through env and inputs, never inside a script', () => {
    for (const step of [
      ...Object.values(workflow.jobs).flatMap((j) => j.steps),
      ...action.runs.steps,
    ]) {
      expect(step.run ?? '', step.name ?? step.uses ?? '').not.toMatch(/secrets\.|inputs\./);
    }
    const setup = Object.values(workflow.jobs).flatMap((j) =>
      j.steps.filter((s) => s.uses === './.github/actions/setup-kpfleet'),
    );
    expect(setup).toHaveLength(Object.keys(workflow.jobs).length);
  });

  it('a pull request cannot reach production: only the environment-protected apply job holds the key that can change hosts', () => {
    // issue 14 §2, docs/security.md "Pull requests"
    expect(Object.keys(workflow.on)).not.toContain('pull_request_target');
    const keyOf = (j: Job) =>
      j.steps.find((s) => s.uses === './.github/actions/setup-kpfleet')?.with?.['ssh-key'];
    for (const [name, job] of Object.entries(workflow.jobs)) {
      if (job.environment === 'production') {
        expect(keyOf(job), name).toBe('${{ secrets.KPFLEET_SSH_KEY }}');
      } else {
        expect(keyOf(job), name).toBe('${{ secrets.KPFLEET_SSH_KEY_READONLY }}');
        expect(JSON.stringify(job), name).not.toContain('secrets.KPFLEET_SSH_KEY }}');
      }
    }
    expect(Object.values(workflow.jobs).filter((j) => j.environment === 'production')).toEqual([
      workflow.jobs.apply,
    ]);
    // every command that reads hosts outside production logs in as the user without sudo
    const reads = commands.filter(
      (c) => workflow.jobs[c.job]?.environment !== 'production' && c.argv[0] !== 'validate',
    );
    expect(reads.length).toBeGreaterThanOrEqual(2);
    for (const c of reads) expect(c.argv.join(' '), c.job).toContain('--login-user kpfleet-ro');
    // an ssh config in the repository may never run commands here (docs/security.md)
    for (const c of commands) expect(c.argv, c.job).not.toContain('--trust-ssh-config');
    // plan and apply never share a runner; pull requests from forks never run
    const labels = (j?: Job) => [j?.['runs-on'] ?? []].flat();
    expect(labels(workflow.jobs.apply)).not.toEqual(labels(workflow.jobs.plan));
    expect(workflow.jobs.plan?.if).toContain(
      'github.event.pull_request.head.repo.full_name == github.repository',
    );
  });
});
