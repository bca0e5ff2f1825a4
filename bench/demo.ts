/**
 * The demo's own target (issue 9 §1): `npm start` finishes in under 30 seconds. Times the demo
 * script as `npm start` runs it, in a folder of its own, a few rounds.
 *   tsx bench/demo.ts [--rounds 3]  → bench/results/demo.json
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TMP_BASE } from '../lab/host-dir.ts';
import { build, ROOT, stats, writeResult } from './lib.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' } } });
build();
const seconds: number[] = [];
const dir = mkdtempSync(join(TMP_BASE, 'bench-demo-'));
try {
  for (let r = 0; r < Number(values.rounds); r++) {
    const t0 = performance.now();
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'scripts/demo.ts'), '--project', join(dir, 'demo')],
      { cwd: ROOT, encoding: 'utf8' },
    );
    if (run.status !== 0)
      throw new Error(`the demo failed: ${run.stdout.slice(-2000)}${run.stderr}`);
    seconds.push((performance.now() - t0) / 1000);
    console.log(`demo round ${String(r + 1)}: ${seconds.at(-1)?.toFixed(1) ?? ''} s`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
writeResult('demo.json', {
  when: new Date().toISOString(),
  rounds: seconds.length,
  seconds: stats(seconds),
  target: 30,
});
