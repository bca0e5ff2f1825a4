/**
 * The commands the end of an apply suggests (src/cli/next-steps.ts): pasted back, they select the
 * same hosts, the shard included, and after a wave they start the new plan's waves again at 1.
 */
import { describe, expect, it } from 'vitest';
import { nextSteps } from '../../../src/cli/next-steps.ts';

describe('nextSteps', () => {
  it('repeats the project and host options, quoted to paste', () => {
    const n = nextSteps({ config: 'prod dir/kpfleet.yml', limit: 'web*' }, undefined, {});
    expect(n.apply).toBe("kpfleet apply -c 'prod dir/kpfleet.yml' --limit 'web*'");
    expect(n.replan).toBeUndefined();
    expect(n.unlock).toBe("kpfleet unlock -c 'prod dir/kpfleet.yml' --limit HOST");
  });

  it('keeps the shard in use, whether it came from --shard or the environment', () => {
    const n = nextSteps({ limit: 'web*' }, 'shard-2.json', {}, { shard: { index: 2, count: 8 } });
    expect(n.apply).toBe("kpfleet apply --limit 'web*' --shard 2/8");
    expect(n.replan).toEqual({
      plan: "kpfleet plan --limit 'web*' --shard 2/8 --out shard-2.json",
      apply: "kpfleet apply --limit 'web*' --shard 2/8 shard-2.json",
    });
  });

  it('after a wave of a merged plan: plan the whole fleet again, then this shard from wave 1', () => {
    const n = nextSteps(
      { auditLog: 'audit.jsonl' },
      'plan.json',
      { report: 'r.json' },
      { shard: { index: 3, count: 4 }, wave: 2 },
    );
    expect(n.replan).toEqual({
      plan: 'kpfleet plan --out plan.json',
      apply: 'kpfleet apply --shard 3/4 --wave 1 --audit-log audit.jsonl plan.json',
    });
    expect(n.report).toBe('r.json');
  });

  it('after a wave without shards: the same, without --shard', () => {
    const n = nextSteps({}, 'plan.json', {}, { wave: 3 });
    expect(n.replan).toEqual({
      plan: 'kpfleet plan --out plan.json',
      apply: 'kpfleet apply --wave 1 plan.json',
    });
  });
});
