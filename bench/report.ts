/**
 * docs/benchmarks.md from the latest results in bench/results/ (jobs.json, scale.json,
 * fleet-up.json): the machine, the versions, each job side by side, the targets and whether they
 * hold. What the numbers mean and where the time goes is written in the "Findings" part, which is
 * kept from the file as it is (everything below its heading), so a bench run only renews numbers.
 *   tsx bench/report.ts
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readResult, ROOT, stats } from './lib.ts';
import type { Measured, ScaleRow, Spread } from './lib.ts';
import { replaySection } from './report-replay.ts';
import type { ReplayResult } from './report-replay.ts';
import type { Sharded } from './sharded.ts';

type Range = { min: number; max: number };
/** Issue 20's target for a one-patch converge, per host (`apply --yes`, its plan's read included). */
const CONVERGE_TARGET = { logins: 1, sessions: 4 };
interface Run {
  seconds: Spread;
  ownCpuSeconds: number;
  machineCpuSeconds: number;
  peakRssMb?: number;
}
interface Jobs {
  when: string;
  machine: Record<string, string | number>;
  hosts: number;
  rounds: number;
  plan: {
    runs: Record<'kpfleetPlan' | 'floor' | 'floorProbe' | 'ansibleForks5' | 'ansibleForks50', Run>;
    cpuMsPerHost: Record<
      'kpfleetPlan' | 'kpfleetPlanBeyondValidate' | 'floor' | 'floorProbe',
      number
    >;
    validateCpuSeconds: number;
    loginsPerHost: Range;
    execsPerHost: Range;
    /** exec + SFTP channels (results written before issue 20 have only execs) */
    sessionsPerHost?: Range;
  };
  converge: {
    runs: Record<'kpfleetApply' | 'ansibleForks5' | 'ansibleForks50', Run>;
    cpuMsPerHost: { kpfleetApply: number };
    /** `kpfleet apply --yes`'s, per host (each sshd's log); absent in results before issue 20 */
    loginsPerHost?: Range;
    sessionsPerHost?: Range;
    execsPerHost?: Range;
    sftpPerHost?: Range;
  };
}
interface Scale {
  when: string;
  forks?: number;
  rows: ScaleRow[];
  rssFit: { mbFixed: number; kbPerHost: number; worstRelativeMiss: number };
  /** Issue 19's targets on the 10,000-host lab run. */
  targets?: {
    hosts: number;
    peakRssMb: number;
    cpuMsPerHost: number;
    measured: { peakRssMb: number; cpuMsPerHost: number };
    rssMet: boolean;
    cpuMet: boolean;
    /** The 10,000-host plan's runs: this build's, and the baseline's in the same rounds. */
    cpuRounds?: {
      current: number[];
      baseline?: { ref: string; commit: string; msPerHost: number[]; peakRssMb: number[] };
    };
    baselineCpuMsPerHost?: number;
    cpuVsBaseline?: number;
  };
  sharded?: Sharded;
}
interface FleetUp {
  when: string;
  rows: { hosts: number; upSeconds: number[]; reachedLast: boolean }[];
}

const jobs = readResult('jobs.json') as Jobs | undefined;
const scale = readResult('scale.json') as Scale | undefined;
const fleetUp = readResult('fleet-up.json') as FleetUp | undefined;
const replay = readResult('replay.json') as ReplayResult | undefined;
interface StatusCost {
  wallSeconds: number;
  cpuSeconds: number;
  cpuMsPerHost: number;
  peakRssMb: number;
}
const status = readResult('status.json') as
  | {
      when: string;
      hosts: number;
      rounds: number;
      plan: StatusCost;
      status: StatusCost;
      html?: { bytes: number; wallSeconds: number; cpuSeconds: number; peakRssMb: number };
      targets: { cpuWithinPlan: boolean; rssWithinPlan: boolean };
    }
  | undefined;
const hostile = readResult('hostile.json') as
  | {
      when: string;
      rounds: number;
      targetMs: number;
      rows: { input: string; bytes: number; ms: Spread; result: string; was?: string }[];
    }
  | undefined;
const demo = readResult('demo.json') as
  { rounds: number; seconds: Spread; target: number } | undefined;
const startup = readResult('startup.json') as
  | {
      when: string;
      command: string;
      rounds: number;
      current: { cpuMs: Spread; wallMs: Spread };
      baseline?: { ref: string; cpuMs: Spread; wallMs: Spread };
      bareNode?: { cpuMs: Spread };
      aboveNodeCpuMs?: Spread;
      targetCpuMs: number;
      met: boolean;
    }
  | undefined;

const f2 = (x: number) => x.toFixed(2);
const f1 = (x: number) => x.toFixed(1);
const ok = (b: boolean) => (b ? 'met' : '**missed**');
const spread = (v: Spread) => `${f2(v.median)} | ${f2(v.min)}–${f2(v.max)}`;
/** median, min–max, own CPU, the machine's CPU meanwhile */
const cells = (r: Run) =>
  `${spread(r.seconds)} | ${f2(r.ownCpuSeconds)} | ${f2(r.machineCpuSeconds)}`;
const once = (r: Range) => (r.min === r.max ? String(r.min) : `${String(r.min)}–${String(r.max)}`);
/** A per-host count against its target (at most `target` on every host): "met" or "not met (N)". */
const atMost = (r: Range, target: number) => (r.max <= target ? 'met' : `not met (${once(r)})`);

const out: string[] = [
  '# Benchmarks',
  '',
  'Written by `npm run bench` (`bench/run.ts`: `jobs.ts`, `replay.ts`, `scale.ts`, `ssh-config.ts`, `status.ts`, `fleet-up.ts`, `demo.ts`, `startup.ts`,',
  '`hostile.ts`, then `report.ts`); the raw numbers are in `bench/results/*.json`. Everything runs on one machine:',
  'kpfleet, Ansible, the floor script and every simulated host share its cores, so host-side',
  'work (sshd, the probe, kpatch) competes with the client being measured. Medians of the rounds,',
  'with min–max.',
  '',
  'Which table answers what: the real-sshd tables ("Facts and plan", "Converge" and their',
  'targets) are end to end on this machine, where the simulated hosts (one OpenSSH sshd, sudo and',
  'kpatch per host) share the two cores with the controller: they say how a run goes here, and',
  'their wall-time ratios mostly measure the hosts. The replay table ("The controller alone") runs',
  'the same jobs against hosts that cost next to nothing: it says what each controller costs by',
  "itself, and issue 20's targets are judged there.",
  '',
  ...provenance(),
];

/**
 * Which commit each result file was measured on (written with it since 2026-12-05; older files
 * say nothing), whether that checkout had changes, and the machine's load when it was written.
 */
function provenance(): string[] {
  const rows: string[] = [];
  for (const name of readdirSync(join(ROOT, 'bench/results')).sort()) {
    if (!name.endsWith('.json')) continue;
    const r = readResult(name) as { when?: string; measured?: Measured } | undefined;
    const m = r?.measured;
    rows.push(
      m
        ? `| \`${name}\` | \`${m.commit.slice(0, 12)}\`${m.changed > 0 ? ` (+${String(m.changed)} changed files)` : ''} | ${r.when ?? ''} | ${f2(m.load1m)} |`
        : `| \`${name}\` | not recorded | ${r?.when ?? ''} | |`,
    );
  }
  return [
    "Measured on (the load: the 1-minute load average when the file was written, the bench's own simulated hosts included; this machine has 2 cores):",
    '',
    '| Result | commit | written | load |',
    '| --- | --- | --- | ---: |',
    ...rows,
    '',
  ];
}

if (jobs) {
  const m = jobs.machine;
  const p = jobs.plan;
  const c = jobs.converge;
  const planOverFloor = p.runs.kpfleetPlan.seconds.median / p.runs.floor.seconds.median;
  const planOverProbeFloor = p.runs.kpfleetPlan.seconds.median / p.runs.floorProbe.seconds.median;
  const a5 = p.runs.ansibleForks5.seconds.median / p.runs.kpfleetPlan.seconds.median;
  const a50 = p.runs.ansibleForks50.seconds.median / p.runs.kpfleetPlan.seconds.median;
  const c5 = c.runs.ansibleForks5.seconds.median / c.runs.kpfleetApply.seconds.median;
  const c50 = c.runs.ansibleForks50.seconds.median / c.runs.kpfleetApply.seconds.median;
  // the converge's logins and sessions per host (results written before issue 20 have none)
  const counted =
    c.loginsPerHost && c.sessionsPerHost && c.execsPerHost && c.sftpPerHost
      ? {
          logins: c.loginsPerHost,
          sessions: c.sessionsPerHost,
          execs: c.execsPerHost,
          sftp: c.sftpPerHost,
        }
      : undefined;
  const head = [
    '| What | median (s) | min–max (s) | own CPU (s) | machine CPU (s) | vs kpfleet |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  out.push(
    `Machine: ${String(m.cpus)} × ${String(m.cpuModel)}, ${String(m.memoryGiB)} GiB; Node ${String(m.node)};`,
    `${String(m.ansible)}; ${String(m.openssh)}. Jobs measured ${jobs.when}.`,
    '',
    '"Own CPU" is the measured process with its children (for Ansible: the controller and its ssh',
    'clients); "machine CPU" is everything the machine ran meanwhile, the simulated hosts\' sshd,',
    "sudo, shells and kpatch included: work that a real fleet does on each host's own CPU.",
    '',
    `## Facts and plan: ${String(jobs.hosts)} hosts on the real-sshd fleet, ${String(jobs.rounds)} rounds`,
    '',
    'Each gathers at least `uname -r` and `kpatch list` from every host over real OpenSSH, host',
    'keys checked strictly. kpfleet runs its whole probe (every fact the planner reads) and plans.',
    '',
    ...head,
    `| \`kpfleet plan\` (built CLI, forks = hosts) | ${cells(p.runs.kpfleetPlan)} | 1× |`,
    `| floor: one raw ssh2 exec per host, all parallel | ${cells(p.runs.floor)} | plan is ${f2(planOverFloor)}× |`,
    `| floor running kpfleet's probe instead | ${cells(p.runs.floorProbe)} | plan is ${f2(planOverProbeFloor)}× |`,
    `| Ansible \`ansible-playbook\`, forks 5 (default) | ${cells(p.runs.ansibleForks5)} | ${f2(a5)}× slower |`,
    `| Ansible, forks 50 | ${cells(p.runs.ansibleForks50)} | ${f2(a50)}× slower |`,
    '',
    '| CPU per host (ms) | |',
    '| --- | ---: |',
    `| kpfleet plan, whole CLI process | ${f2(p.cpuMsPerHost.kpfleetPlan)} |`,
    `| kpfleet plan beyond \`kpfleet validate\` (${f2(p.validateCpuSeconds)} s: start-up, config, inventory) | ${f2(p.cpuMsPerHost.kpfleetPlanBeyondValidate)} |`,
    `| floor, connections only (start-up excluded) | ${f2(p.cpuMsPerHost.floor)} |`,
    `| floor running the probe | ${f2(p.cpuMsPerHost.floorProbe)} |`,
    '',
    `Logins per host: ${once(p.loginsPerHost)}; facts execs per host: ${once(p.execsPerHost)} (each sshd's log). Peak RSS: ${f1(p.runs.kpfleetPlan.peakRssMb ?? NaN)} MB.`,
    '',
    `## Converge: load one patch on ${String(jobs.hosts)} hosts from scratch, upload included`,
    '',
    'Before each run every host is put back to "never had the patch". kpfleet: `kpfleet apply',
    '--yes` (facts, plan, upload, install, load, verification, lock). Ansible: `copy` then',
    '`command: kpatch install` and `command: kpatch load`, with become, as a role would.',
    '',
    ...head,
    `| \`kpfleet apply --yes\` | ${cells(c.runs.kpfleetApply)} | 1× |`,
    `| Ansible copy + command, forks 5 | ${cells(c.runs.ansibleForks5)} | ${f2(c5)}× slower |`,
    `| Ansible, forks 50 | ${cells(c.runs.ansibleForks50)} | ${f2(c50)}× slower |`,
    '',
    `kpfleet apply CPU per host: ${f2(c.cpuMsPerHost.kpfleetApply)} ms; peak RSS ${f1(c.runs.kpfleetApply.peakRssMb ?? NaN)} MB.`,
    '',
    ...(counted
      ? [
          `Per host, from each sshd's log, \`kpfleet apply --yes\` with its plan's read: logins ${once(counted.logins)}; sessions ${once(counted.sessions)} (exec ${once(counted.execs)}, SFTP ${once(counted.sftp)}).`,
          '',
        ]
      : []),
  );
  if (scale) {
    out.push(
      `## Scale: plan over many hosts (measured ${scale.when})`,
      '',
      `\`kpfleet plan --format json\` with rollout.forks ${String(scale.forks ?? '?')} (the default).`,
      'The sshd fleet is real OpenSSH per host. The lab (`bench/lab-server.ts`, its own process)',
      'serves each host with a real SSH server (own host key, handshake, authentication, channel)',
      'but replays the probe output of one real run, so the host side costs nothing and what is',
      'measured is kpfleet.',
      '',
      '| Where | hosts | up (s) | plan wall (s) | kpfleet CPU / host (ms) | peak RSS (MB) | logins / host | execs / host |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...scale.rows.map(
        (r) =>
          `| ${r.where} | ${String(r.hosts)} | ${f1(r.upSeconds)} | ${f2(r.wallSeconds)} | ${f2(r.cpuMsPerHost)} | ${f1(r.peakRssMb)} | ${once(r.loginsPerHost)} | ${once(r.execsPerHost)} |`,
      ),
      '',
      `Peak RSS on the lab against hosts (least squares): ${f1(scale.rssFit.mbFixed)} MB + ${f1(scale.rssFit.kbPerHost)} KB per host; the worst point is ${f1(scale.rssFit.worstRelativeMiss * 100)}% off the line.`,
      '',
      ...cpuRoundsSection(scale),
      ...(scale.sharded ? shardedSection(scale.sharded) : []),
    );
  }
  if (status) {
    const row = (what: string, r: StatusCost) =>
      `| ${what} | ${f2(r.wallSeconds)} | ${f2(r.cpuSeconds)} | ${f2(r.cpuMsPerHost)} | ${f1(r.peakRssMb)} |`;
    out.push(
      `## Status beside plan (measured ${status.when})`,
      '',
      `\`kpfleet status --format json\` and \`kpfleet plan --format json\` over the same ${String(status.hosts)} lab hosts (replay mode), alternated, median of ${String(status.rounds)} rounds each (\`bench/status.ts\`).`,
      '',
      '| Command | wall (s) | kpfleet CPU (s) | CPU / host (ms) | peak RSS (MB) |',
      '| --- | ---: | ---: | ---: | ---: |',
      row('plan', status.plan),
      row('status', status.status),
      ...(status.html
        ? [
            `| status, also writing the HTML page (${f1(status.html.bytes / 1_048_576)} MB) | ${f2(status.html.wallSeconds)} | ${f2(status.html.cpuSeconds)} | ${f2((status.html.cpuSeconds * 1000) / status.hosts)} | ${f1(status.html.peakRssMb)} |`,
          ]
        : []),
      '',
      `Status within plan's CPU (10% slack): ${ok(status.targets.cpuWithinPlan)}; within plan's peak RSS: ${ok(status.targets.rssWithinPlan)}.`,
      '',
    );
  }
  const t = scale?.targets;
  const largest = scale?.rows.reduce<ScaleRow | undefined>(
    (a, r) => (a && a.hosts >= r.hosts ? a : r),
    undefined,
  );
  const onePerHost = [
    { loginsPerHost: p.loginsPerHost, execsPerHost: p.sessionsPerHost ?? p.execsPerHost },
    ...(scale?.rows ?? []),
  ].every(
    (r) =>
      r.loginsPerHost.min === 1 &&
      r.loginsPerHost.max === 1 &&
      r.execsPerHost.min === 1 &&
      r.execsPerHost.max === 1,
  );
  out.push(
    '## Targets',
    '',
    '| Target | Value | |',
    '| --- | ---: | --- |',
    `| plan ≤ 1.15× the floor (${String(jobs.hosts)} hosts) | ${f2(planOverFloor)}× | ${ok(planOverFloor <= 1.15)} |`,
    `| … against the floor running the same probe | ${f2(planOverProbeFloor)}× | ${ok(planOverProbeFloor <= 1.15)} |`,
    `| plan ≥ 12× faster than Ansible forks 5 | ${f2(a5)}× | ${ok(a5 >= 12)} |`,
    `| … Ansible forks 5's own CPU ÷ kpfleet plan's (the controllers alone) | ${f2(p.runs.ansibleForks5.ownCpuSeconds / p.runs.kpfleetPlan.ownCpuSeconds)}× | ${ok(p.runs.ansibleForks5.ownCpuSeconds / p.runs.kpfleetPlan.ownCpuSeconds >= 12)} |`,
    `| apply ≥ 10× faster than Ansible (forks 5) | ${f2(c5)}× | ${ok(c5 >= 10)} |`,
    `| … Ansible forks 5's own CPU ÷ kpfleet apply's (the controllers alone) | ${f2(c.runs.ansibleForks5.ownCpuSeconds / c.runs.kpfleetApply.ownCpuSeconds)}× | ${ok(c.runs.ansibleForks5.ownCpuSeconds / c.runs.kpfleetApply.ownCpuSeconds >= 10)} |`,
    `| ≤ 8 ms kpfleet CPU per host, ${String(jobs.hosts)} hosts (start-up included) | ${f2(p.cpuMsPerHost.kpfleetPlan)} ms | ${ok(p.cpuMsPerHost.kpfleetPlan <= 8)} |`,
    ...(largest
      ? [
          `| ≤ 8 ms kpfleet CPU per host, ${String(largest.hosts)} hosts (${largest.where}) | ${f2(largest.cpuMsPerHost)} ms | ${ok(largest.cpuMsPerHost <= 8)} |`,
        ]
      : []),
    ...(t
      ? [
          `| peak RSS ≤ ${String(t.peakRssMb)} MB at ${String(t.hosts)} lab hosts, Node's defaults | ${f1(t.measured.peakRssMb)} MB | ${ok(t.rssMet)} |`,
          ...(t.cpuVsBaseline !== undefined && t.cpuRounds?.baseline
            ? [
                `| CPU per host at ${String(t.hosts)} lab hosts no worse than before issue 19 (medians, ${String(t.cpuRounds.current.length)} alternated rounds with \`${t.cpuRounds.baseline.ref}\`) | ${f2(t.measured.cpuMsPerHost)} vs ${f2(t.baselineCpuMsPerHost ?? NaN)} ms: ${f2(t.cpuVsBaseline)}× | ${ok(t.cpuVsBaseline <= 1)} |`,
                `| … the ${String(t.cpuMsPerHost)} ms the issue quotes (that code, the day it was filed) | ${f2(t.measured.cpuMsPerHost)} ms | ${t.measured.cpuMsPerHost <= t.cpuMsPerHost ? 'met' : `not today: the baseline itself took ${f2(t.baselineCpuMsPerHost ?? NaN)}`} |`,
              ]
            : [
                `| kpfleet CPU per host ≤ ${String(t.cpuMsPerHost)} ms at ${String(t.hosts)} lab hosts (median of ${String(t.cpuRounds?.current.length ?? 1)} runs; no baseline ran) | ${f2(t.measured.cpuMsPerHost)} ms | ${ok(t.cpuMet)} |`,
              ]),
        ]
      : []),
    ...(scale?.sharded
      ? [
          `| ${String(scale.sharded.hosts)} hosts as ${String(scale.sharded.shards)} shards, merged: every host exactly once | ${shardedHeld(scale.sharded)} | ${ok(shardedOk(scale.sharded))} |`,
        ]
      : []),
    ...(scale
      ? [
          `| peak RSS per added host (least squares; 26 KB before plans streamed) | ${f1(scale.rssFit.kbPerHost)} KB | ${ok(scale.rssFit.kbPerHost <= 26)} |`,
        ]
      : []),
    `| one connection and one facts exec per host | ${onePerHost ? 'every host, every run' : 'not always'} | ${ok(onePerHost)} |`,
    ...(counted
      ? [
          `| converge: ${String(CONVERGE_TARGET.logins)} login per host (\`apply --yes\`, plan included) | ${once(counted.logins)} | ${atMost(counted.logins, CONVERGE_TARGET.logins)} |`,
          `| converge: ${String(CONVERGE_TARGET.sessions)} sessions per host, one patch (exec + SFTP) | ${once(counted.sessions)} | ${atMost(counted.sessions, CONVERGE_TARGET.sessions)} |`,
        ]
      : [
          '| converge: 1 login and 4 sessions per host | not measured | not met (jobs.json predates the count) |',
        ]),
    '',
  );
}

if (replay) out.push(...replaySection(replay));

if (fleetUp) {
  out.push(
    '## The test fleet itself',
    '',
    ...fleetUp.rows.map(
      (r) =>
        `- ${String(r.hosts)} hosts up in ${r.upSeconds.map(f1).join(', ')} s (target for 64: 20 s); the last host answers \`sudo kpatch list\`: ${r.reachedLast ? 'yes' : '**no**'}.`,
    ),
    '',
  );
}

if (demo) {
  out.push(
    '## The demo',
    '',
    `\`npm start\` (12 lab hosts: validate → plan → apply → plan): ${f1(demo.seconds.median)} s median, ${f1(demo.seconds.min)}–${f1(demo.seconds.max)} s over ${String(demo.rounds)} rounds (target: under ${String(demo.target)} s): ${ok(demo.seconds.max < demo.target)}.`,
    '',
  );
}

if (startup) {
  const ms = (x: Spread) => `${x.median.toFixed(0)} ms (${x.min.toFixed(0)}–${x.max.toFixed(0)})`;
  const b = startup.baseline;
  out.push(
    '## Start-up',
    '',
    `\`${startup.command}\`, the built CLI, median of ${String(startup.rounds)} rounds (${startup.when}): CPU (user + system) ${ms(startup.current.cpuMs)}, wall ${ms(startup.current.wallMs)}` +
      (b
        ? `; kpfleet before issue 20 (${b.ref}) in the same rounds: CPU ${ms(b.cpuMs)}, wall ${ms(b.wallMs)}`
        : '') +
      (startup.bareNode && startup.aboveNodeCpuMs
        ? `; a bare \`node -e 0\` in the same rounds: CPU ${ms(startup.bareNode.cpuMs)}, so kpfleet's own part ${ms(startup.aboveNodeCpuMs)}`
        : '') +
      `. Target: at most ${String(startup.targetCpuMs)} ms of CPU: ${ok(startup.met)}.`,
    '',
  );
}

if (hostile) {
  const size = (b: number) =>
    b >= 1024 * 1024 ? `${String(b / 1024 / 1024)} MiB` : `${String(b / 1024)} KiB`;
  const worst = Math.max(...hostile.rows.map((r) => r.ms.max));
  out.push(
    '## Hostile host output',
    '',
    `What one host's answer costs the facts parser and the kernel glob matcher, in process (${String(hostile.rounds)} rounds, ${hostile.when}); "before": the time the issue measured on the old code.`,
    '',
    '| Input | size | median (ms) | min–max (ms) | before | what kpfleet does |',
    '| --- | ---: | ---: | ---: | ---: | --- |',
    ...hostile.rows.map(
      (r) =>
        `| ${r.input} | ${size(r.bytes)} | ${f1(r.ms.median)} | ${f1(r.ms.min)}–${f1(r.ms.max)} | ${r.was ?? ''} | ${r.result} |`,
    ),
    '',
    `Every input under ${String(hostile.targetMs)} ms: ${ok(worst < hostile.targetMs)}.`,
    '',
  );
}

/** Whether the shards, and the merged plan, held every host once; the merge may be missing. */
/** The 10,000-host plan run again and again, alternating with the baseline's build. */
function cpuRoundsSection(scale: Scale): string[] {
  const r = scale.targets?.cpuRounds;
  if (!r) return [];
  const list = (xs: readonly number[]) => xs.map(f2).join(', ');
  const cur = stats(r.current);
  const lines = [
    `CPU per host at ${String(scale.targets?.hosts ?? '?')} lab hosts, run by run (this build: the counted run above, then one per round): ${list(r.current)} ms; median ${f2(cur.median)}, range ${f2(cur.min)}–${f2(cur.max)}.`,
  ];
  if (r.baseline) {
    const b = stats(r.baseline.msPerHost);
    const rss = stats(r.baseline.peakRssMb);
    lines.push(
      '',
      `The baseline, kpfleet before issue 19 (\`${r.baseline.ref}\`, built beside this one), in the same rounds on the same lab, each round's order swapped: ${list(r.baseline.msPerHost)} ms; median ${f2(b.median)}, range ${f2(b.min)}–${f2(b.max)}; its peak RSS ${f1(rss.min)}–${f1(rss.max)} MB.`,
    );
  }
  return [...lines, ''];
}

function shardedOk(s: Sharded): boolean {
  return s.shardsHoldEachHostOnce && 'eachHostOnce' in s.merge && s.merge.eachHostOnce;
}
function shardedHeld(s: Sharded): string {
  const shards = s.shardsHoldEachHostOnce ? 'shards: yes' : 'shards: **no**';
  if (!('eachHostOnce' in s.merge)) return `${shards}; merged: not run`;
  return `${shards}; merged: ${s.merge.eachHostOnce && s.merge.shardsRecorded ? 'yes' : '**no**'}`;
}

function shardedSection(s: Sharded): string[] {
  const m = s.merge;
  return [
    `### ${s.hosts.toLocaleString('en')} lab hosts as ${String(s.shards)} shards`,
    '',
    `One process per shard, one after another (\`kpfleet plan --shard I/${String(s.shards)} --out shard-I.json\`, text on stdout), then \`kpfleet plan merge shard-*.json --out merged.json\`. The lab (${f1(s.labUpSeconds)} s to start) lists all ${s.hosts.toLocaleString('en')} hosts in the inventory and serves one shard's at a time (\`bench/sharded.ts\`).`,
    '',
    '| Run | hosts | wall (s) | kpfleet CPU (s) | CPU / host (ms) | peak RSS (MB) |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    `| load the project only (\`plan --limit\` one host) | 1 | ${f2(s.load.wallSeconds)} | ${f2(s.load.cpuSeconds)} | | ${f1(s.load.peakRssMb)} |`,
    ...s.runs.map(
      (r) =>
        `| shard ${String(r.index)}/${String(s.shards)} | ${String(r.hosts)} | ${f2(r.wallSeconds)} | ${f2(r.cpuSeconds)} | ${f2(r.cpuMsPerHost)} | ${f1(r.peakRssMb)} |`,
    ),
    'eachHostOnce' in m
      ? `| plan merge | ${String(m.hosts)} | ${f2(m.wallSeconds)} | ${f2(m.cpuSeconds)} | | ${f1(m.peakRssMb)} |`
      : `| plan merge | not run: ${m.missing} | | | | |`,
    '',
    `Every host in exactly one shard's plan, the one its name hashes to: ${ok(s.shardsHoldEachHostOnce)}. ` +
      ('eachHostOnce' in m
        ? `The merged plan holds ${String(m.hosts)} hosts, each once: ${ok(m.eachHostOnce)}; each with its shard, and the shard count: ${ok(m.shardsRecorded)}.`
        : 'The merge was not run.'),
    '',
  ];
}

// the written analysis is kept as it is
const FINDINGS = '## Findings';
const file = join(ROOT, 'docs/benchmarks.md');
let findings = `${FINDINGS}\n\n(none written yet)\n`;
try {
  const old = readFileSync(file, 'utf8');
  const at = old.indexOf(`\n${FINDINGS}\n`);
  if (at >= 0) findings = old.slice(at + 1);
} catch {
  // first run
}
writeFileSync(file, out.join('\n') + '\n' + findings);
// the tables and results as Prettier formats them, so format:check stays green after a bench run
execFileSync('npx', ['prettier', '--write', 'docs/benchmarks.md', 'bench/results/'], {
  cwd: ROOT,
  stdio: 'ignore',
});
console.log('docs/benchmarks.md written');
