/**
 * Shards over real SSH (issue 19): the CLI in-process against the lab, each host a real SSH
 * server. `kpfleet plan --shard I/3 --out` in turn for each shard, then `kpfleet plan merge`,
 * gives the plan `kpfleet plan --out` makes of the whole fleet, host by host and in the same
 * order (everything but the shards and the date); `apply --check` takes the merged plan and a
 * shard's own.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runInProcess } from '../../cli-in-process.ts';
import { CVE, makePatchFile, writeProject } from '../../project.ts';
import { Lab } from '../../../lab/lab.ts';
import type { Plan } from '../../../src/plan/model.ts';

let lab: Lab;

const kpfleet = (args: string[]) =>
  runInProcess(args, {
    cwd: lab.dir,
    env: { HOME: lab.dir, XDG_STATE_HOME: join(lab.dir, 'state') },
  });
const read = (file: string): Plan => JSON.parse(readFileSync(join(lab.dir, file), 'utf8')) as Plan;

beforeAll(async () => {
  lab = await Lab.start({
    hosts: 9,
    profiles: ['rhel9', 'rhel8', 'upstream'],
    simProfile: { TIME_SCALE: '0.02' },
  });
  makePatchFile(lab.hosts[0], lab.dir, CVE);
  writeFileSync(join(lab.dir, 'inventory.ini'), readFileSync(lab.inventoryPath));
  // rhel9 hosts get the patch, rhel8 hosts run a kernel it does not fit, upstream ones none
  writeProject(lab.dir, {
    knownHosts: lab.knownHostsPath,
    rollout: ['forks: 3', 'waves: [100%]'],
    patches: [CVE],
    groups: { rhel9: { loaded: [CVE.name] }, rhel8: { loaded: [CVE.name] } },
  });
});
afterAll(async () => {
  await lab.close();
});

it('3 shards planned apart and merged are the plan of the whole fleet', async () => {
  const single = await kpfleet(['plan', '--out', 'single.json']);
  expect(single.code, single.stderr).toBe(0);
  const files: string[] = [];
  for (const i of [1, 2, 3]) {
    const file = `shard-${String(i)}.json`;
    const r = await kpfleet(['plan', '--shard', `${String(i)}/3`, '--out', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(read(file).shard).toEqual({ index: i, count: 3 });
    files.push(file);
  }
  const merged = await kpfleet(['plan', 'merge', ...files, '--out', 'merged.json']);
  expect(merged.code, merged.stderr).toBe(0);
  expect(merged.stdout).toContain('Plan saved to merged.json');
  const whole = read('single.json');
  const m = read('merged.json');
  expect(m.shards).toBe(3);
  expect(m.hosts.map((h) => h.host)).toEqual(whole.hosts.map((h) => h.host));
  expect(m.hosts.map((h) => ({ ...h, shard: undefined }))).toEqual(
    whole.hosts.map((h) => ({ ...h, shard: undefined })),
  );
  expect(m.summary).toEqual(whole.summary);
  expect(m.summary.changes).toBe(3);
  expect(m.summary.uncovered).toBe(3);

  const check = await kpfleet(['apply', '--check', 'merged.json']);
  expect(check.code, check.stdout + check.stderr).toBe(0);
  // a shard's own plan is a saved plan like any other
  const shard = await kpfleet(['apply', '--check', 'shard-2.json']);
  expect(shard.code, shard.stdout + shard.stderr).toBe(0);
});
