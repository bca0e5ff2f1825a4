/**
 * The machine's own programs that some tests hand kpfleet's output to (promtool, Debian's Python
 * and its OpenMetrics parser, Chromium). Where one is installed, its tests run. Where it is not,
 * `npm test` on a fresh machine still passes: those tests are skipped, and a note names the Debian
 * package that would run them. Under CI (the variable CI set, as .ci/run sets it, which installs
 * them all) nothing is skipped: a missing program fails its tests, naming the package.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CHROMIUM } from './chromium.ts';
import { PYTHON } from './run.ts';

const noted = new Set<string>();
/** Whether each program is here, asked once per test file's process. */
const found = new Map<string, boolean>();

/** True when the tests that need `what` (Debian package `pkg`) are to be skipped here. */
export function lacking(what: string, present: () => boolean, pkg: string): boolean {
  if (process.env.CI !== undefined && process.env.CI !== '') return false;
  let here = found.get(what);
  if (here === undefined) {
    here = present();
    found.set(what, here);
  }
  if (here) return false;
  if (!noted.has(what)) {
    noted.add(what);
    process.stderr.write(
      `note: ${what} is not on this machine: its tests are skipped (apt-get install ${pkg}; CI runs them)\n`,
    );
  }
  return true;
}

const runs = (cmd: string, args: string[]): boolean => spawnSync(cmd, args).status === 0;

export const lacks = {
  get promtool(): boolean {
    return lacking('promtool', () => runs('promtool', ['--version']), 'prometheus');
  },
  get prometheusClient(): boolean {
    return lacking(
      `${PYTHON}'s prometheus_client`,
      () => runs(PYTHON, ['-c', 'import prometheus_client']),
      'python3-prometheus-client',
    );
  },
  get python(): boolean {
    return lacking(PYTHON, () => runs(PYTHON, ['-c', 'import csv, json']), 'python3');
  },
  get chromium(): boolean {
    return lacking(CHROMIUM, () => existsSync(CHROMIUM), 'chromium');
  },
};
