/**
 * Steps sent in one exec are each timed from when the host began it (issue 20's review: each
 * carried the whole exec's duration): the report of a converge whose load waits for its slow
 * transition says the install took little and the load the rest. The CLI in-process against
 * one lab host (the simulator's transition made slow, TRANSITION_SECONDS).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../../../src/cli/main.ts';
import type { CliIo } from '../../../src/cli/io.ts';
import { Lab } from '../../../lab/lab.ts';
import { makePatchFile, writeProject } from '../../project.ts';

let lab: Lab;
beforeAll(async () => {
  lab = await Lab.start({ hosts: 1, simProfile: { TIME_SCALE: '1', TRANSITION_SECONDS: '1.5' } });
});
afterAll(async () => {
  await lab.close();
});

it('the install and the load of one exec each have their own duration', async () => {
  const dir = lab.dir;
  const patch = { name: 'slow', module: 'livepatch_slow', file: 'patches/slow.ko' };
  makePatchFile(lab.hosts[0], dir, patch);
  writeFileSync(join(dir, 'inventory.ini'), readFileSync(lab.inventoryPath));
  writeProject(dir, {
    knownHosts: lab.knownHostsPath,
    patches: [patch],
    groups: { all: { loaded: ['slow'] } },
  });
  let out = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (out += s) },
    env: { NO_COLOR: '1', HOME: dir, XDG_STATE_HOME: join(dir, 'state') },
    cwd: dir,
  };
  expect(await runCli(['apply', '--yes', '--report', 'report.json'], io), out).toBe(0);
  const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as {
    hosts: { steps: { change: { action: string }; durationMs: number }[] }[];
  };
  const took = (action: string) =>
    report.hosts[0]?.steps.find((s) => s.change.action === action)?.durationMs ?? -1;
  // the transition alone is over a second; the install is a copy
  expect(took('load'), out).toBeGreaterThanOrEqual(800);
  expect(took('install'), out).toBeGreaterThanOrEqual(0);
  expect(took('install'), out).toBeLessThan(took('load') / 2);
}, 60_000);
