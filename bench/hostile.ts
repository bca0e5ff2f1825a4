/**
 * Hostile host output (issue 14): how long kpfleet's facts parser and kernel glob matcher take on
 * the three inputs that once held the event loop for seconds (80 KB of blank lines: 5.3 s; 1 MB
 * of `kpatch list` lines: 15 s; a 100 KB `uname -r` against a `**` glob: 0.84 s), and on parser
 * inputs 8 MiB large (the most one exec may print). In process, no hosts.
 *   tsx bench/hostile.ts [--rounds 5]  → bench/results/hostile.json
 */
import { parseArgs } from 'node:util';
import { kernelMatches } from '../src/config/kernel-match.ts';
import { parseFacts } from '../src/facts/parse/facts.ts';
import { SECTION_MARK } from '../src/facts/probe.ts';
import { EL9, stats, writeResult } from './lib.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });

function probe(changes: Record<string, string>): string {
  const sections: Record<string, string> = {
    probe: '3',
    uname: `${EL9}\nx86_64`,
    'os-release': 'ID="rhel"\nVERSION_ID="9.3"',
    cmdline: 'ro quiet',
    tainted: '0',
    'kpatch-version': '0.9.7\nrc=0',
    'kpatch-force': 'rc=0',
    'kpatch-list': 'Loaded patch modules:\n\nInstalled patch modules:\nrc=0',
    livepatch: 'present',
    tasks: '',
    kernels: EL9,
    modules: '',
    installed: '',
    'rpm-installed': '',
    service: 'enabled\nrc=0',
    packages: '',
    end: '',
    ...changes,
  };
  return Object.entries(sections)
    .map(([name, body]) => `\n${SECTION_MARK} ${name}\n${body}`)
    .join('\n');
}

const loaded = (bytes: number): string => {
  const lines: string[] = [];
  for (let i = 0, n = 0; n < bytes; i++) {
    const line = `kpatch_m${String(i)} [enabled]`;
    lines.push(line);
    n += line.length + 1;
  }
  return `Loaded patch modules:\n${lines.join('\n')}\n\nInstalled patch modules:\nrc=0`;
};

const outcome = (stdout: string): string => {
  const r = parseFacts(stdout);
  return r.ok ? 'read' : `refused (${r.kind})`;
};
const matched = (release: string): string =>
  kernelMatches(['**x', '**.el9**'], release) ? 'matched' : 'no match';

const MiB = 1024 * 1024;
/** Each input is made before it is timed; `run` is what kpfleet does with it. */
const cases: {
  input: string;
  bytes: number;
  was?: string;
  make: () => string;
  run: (text: string) => string;
}[] = [
  ...[80 * 1024, 8 * MiB].map((bytes) => ({
    input: 'blank lines inside os-release',
    bytes,
    ...(bytes === 80 * 1024 ? { was: '5.3 s' } : {}),
    make: () => probe({ 'os-release': `ID=rhel${'\n'.repeat(bytes)}VERSION_ID=9` }),
    run: outcome,
  })),
  ...[MiB, 8 * MiB].map((bytes) => ({
    input: '`kpatch list` loaded lines',
    bytes,
    ...(bytes === MiB ? { was: '15 s' } : {}),
    make: () => probe({ 'kpatch-list': loaded(bytes) }),
    run: outcome,
  })),
  {
    input: '`uname -r` through the facts parser',
    bytes: 100 * 1024,
    make: () => probe({ uname: `5.14.0-${'a'.repeat(100 * 1024)}\nx86_64` }),
    run: outcome,
  },
  {
    // what the plan did with such a release before it was refused (kernel: globs)
    input: '`uname -r` against `**x`, `**.el9**` (the matcher alone)',
    bytes: 100 * 1024,
    was: '0.84 s',
    make: () => 'a'.repeat(100 * 1024),
    run: matched,
  },
];

const rows = cases.map((c) => {
  const text = c.make();
  const ms: number[] = [];
  let result = '';
  for (let r = 0; r < Number(values.rounds); r++) {
    const t0 = performance.now();
    result = c.run(text);
    ms.push(performance.now() - t0);
  }
  console.log(`${c.input}, ${String(c.bytes)} bytes: ${stats(ms).median.toFixed(1)} ms, ${result}`);
  return {
    input: c.input,
    bytes: c.bytes,
    ms: stats(ms),
    result,
    ...(c.was ? { was: c.was } : {}),
  };
});

writeResult('hostile.json', {
  when: new Date().toISOString(),
  rounds: Number(values.rounds),
  targetMs: 100,
  rows,
});
