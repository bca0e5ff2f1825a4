/**
 * `kpfleet status --format json` in-process against the lab: the report written in pieces
 * (`statusJsonParts`) reaches stdout and an `--out json:` file whole, in order and alike, and is
 * the JSON of the report it holds (2-space, a final newline) byte for byte.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runInProcess } from '../../cli-in-process.ts';
import { writeOnePatchProject } from './apply-in-lab.ts';
import { Lab } from '../../../lab/lab.ts';
import { safeData } from '../../../src/report/safe-text.ts';
import type { StatusReport } from '../../../src/status/model.ts';

const EL9 = '5.14.0-362.8.1.el9_3.x86_64';
const MOD = 'kpatch_cve_2024_1';

let lab: Lab;

beforeAll(async () => {
  lab = await Lab.start({ hosts: 3 });
  const first = lab.hosts[0];
  if (!first) throw new Error('no lab host');
  writeOnePatchProject(lab, first, {
    module: MOD,
    file: 'kpatch-cve.ko',
    cves: 'CVE-2024-0001',
    replace: false,
  });
});
afterAll(async () => {
  await lab.close();
});

it('status --format json: stdout and --out json: are one report’s JSON, byte for byte', async () => {
  const r = await runInProcess(['status', '--format', 'json', '--out', 'json:status.json'], {
    cwd: lab.dir,
    env: { HOME: lab.dir, XDG_STATE_HOME: join(lab.dir, 'state') },
  });
  // no host has its patch loaded yet: each is exposed
  expect(r.code, r.stderr).toBe(1);
  const report = JSON.parse(r.stdout) as StatusReport;
  expect(report.hosts.map((h) => [h.host, h.state, h.kernel])).toEqual([
    ['lab001', 'exposed', EL9],
    ['lab002', 'exposed', EL9],
    ['lab003', 'exposed', EL9],
  ]);
  expect(report.summary.cves).toEqual({ mitigated: 0, exposed: 3, unknown: 0 });
  expect(r.stdout).toBe(JSON.stringify(safeData(report), null, 2) + '\n');
  expect(readFileSync(join(lab.dir, 'status.json'), 'utf8')).toBe(r.stdout);
});
