/**
 * Start-up (issue 20, "a fast start"): the CPU (user + system) and wall time of
 * `kpfleet validate -c examples/kpfleet.yml`, the built CLI as a user runs it
 * (`node bin/kpfleet.js`, under GNU time: its CPU is printed in hundredths of a second), the
 * median of R rounds after one run not counted (the files in the page cache). `validate` reads
 * the example project and contacts no host: what it costs is what every command costs before
 * its first host. Alternated round by round with a build of `--baseline` (kpfleet before issue
 * 20; '' for none), so that both see the same machine. Target: a median of at most 150 ms of CPU.
 * Each round also times a bare `node -e 0`: what Node itself costs on this machine at that moment
 * (110 ms on a loaded machine, 50 on an idle one), so that kpfleet's own part can be read apart
 * from the machine's load.
 *   tsx bench/startup.ts [--rounds 7] [--baseline REF]  → bench/results/startup.json
 */
import { parseArgs } from 'node:util';
import {
  build,
  buildBaseline,
  machine,
  ROOT,
  stats,
  timeCommand,
  timeKpfleet,
  writeResult,
} from './lib.ts';
import type { Spread, Timed } from './lib.ts';

/** The commit before issue 20's first change. */
const BASELINE_REF = '49ad3c6';
const ARGS = ['validate', '-c', 'examples/kpfleet.yml'];
const TARGET_CPU_MS = 150;

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    baseline: { type: 'string', default: BASELINE_REF },
  },
});

function validateOnce(bin?: string): Timed {
  const t = timeKpfleet(ARGS, ROOT, {}, bin);
  if (t.status !== 0 || !t.stdout.includes('examples/kpfleet.yml is valid'))
    throw new Error(`kpfleet ${ARGS.join(' ')} exited ${String(t.status)}: ${t.stderr}`);
  return t;
}

interface Rounds {
  cpuMs: number[];
  wallMs: number[];
  peakRssMb: number[];
}
const rounds = (): Rounds => ({ cpuMs: [], wallMs: [], peakRssMb: [] });
function record(r: Rounds, t: Timed): void {
  r.cpuMs.push(Math.round(t.cpu * 1000));
  r.wallMs.push(Math.round(t.wall * 1000));
  r.peakRssMb.push(t.rssMb);
}
const summary = (r: Rounds): Record<keyof Rounds, Spread> & { runs: number[] } => ({
  runs: r.cpuMs,
  cpuMs: stats(r.cpuMs),
  wallMs: stats(r.wallMs),
  peakRssMb: stats(r.peakRssMb),
});

build();
const built = values.baseline === '' ? undefined : buildBaseline(values.baseline);
if (typeof built === 'string') console.log(built);
const baseline = typeof built === 'string' ? undefined : built;

const current = rounds();
const base = rounds();
const bareNode = rounds();
/** Per round, the current build's CPU above bare Node's. */
const aboveNodeMs: number[] = [];
try {
  validateOnce();
  if (baseline) validateOnce(baseline.bin);
  for (let r = 0; r < Number(values.rounds); r++) {
    // who goes first changes each round: neither build always runs on the warmer machine
    const order = r % 2 === 0 ? (['current', 'base'] as const) : (['base', 'current'] as const);
    for (const which of order) {
      if (which === 'current') record(current, validateOnce());
      else if (baseline) record(base, validateOnce(baseline.bin));
    }
    record(bareNode, timeCommand([process.execPath, '-e', '0'], ROOT));
    aboveNodeMs.push((current.cpuMs.at(-1) ?? 0) - (bareNode.cpuMs.at(-1) ?? 0));
  }
} finally {
  baseline?.remove();
}

const now = summary(current);
const out = {
  when: new Date().toISOString(),
  machine: machine(),
  command: `kpfleet ${ARGS.join(' ')}`,
  rounds: current.cpuMs.length,
  current: now,
  ...(baseline
    ? { baseline: { ref: baseline.ref, commit: baseline.commit, ...summary(base) } }
    : {}),
  bareNode: { command: 'node -e 0', ...summary(bareNode) },
  aboveNodeCpuMs: stats(aboveNodeMs),
  targetCpuMs: TARGET_CPU_MS,
  met: now.cpuMs.median <= TARGET_CPU_MS,
};
writeResult('startup.json', out);
console.log(JSON.stringify(out, null, 2));
