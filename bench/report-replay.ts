/**
 * The part of docs/benchmarks.md that bench/replay.ts measured (bench/results/replay.json): the
 * controllers alone, against lab hosts in replay mode, and issue 20's targets on them, each said
 * met or not met with its measured ratio.
 */
import type { Job, ReplayJob, ReplayRow } from './replay.ts';

export interface ReplayResult {
  when: string;
  rows: ReplayRow[];
}

const f2 = (x: number) => x.toFixed(2);
const once = (r: { min: number; max: number }) =>
  r.min === r.max ? String(r.min) : `${String(r.min)}–${String(r.max)}`;

const LABELS: Record<Job, string> = {
  kpfleetPlan: '`kpfleet plan` (forks = hosts)',
  floor: 'floor: one raw ssh2 exec per host (`uname -r; kpatch list`)',
  floorProbe: "floor running kpfleet's probe",
  ansibleGather5: 'Ansible `raw`, `gather_facts: false`, forks 5',
  ansibleGather50: 'Ansible `raw`, forks 50',
  kpfleetApply: '`kpfleet apply --yes`',
  kpfleetApplyOne:
    "… on one host alone (`--limit`): every command real, in turn: the hosts' latency the apply's wall holds",
  ansibleConverge5: 'Ansible `raw` upload + install + load, forks 5',
  ansibleConverge50: 'Ansible `raw` converge, forks 50',
};

/** "met" or "not met", with the measured value. */
const judged = (value: number, met: boolean, unit = '×') =>
  `${f2(value)}${unit} | ${met ? 'met' : '**not met**'}`;

function table(r: ReplayRow): string[] {
  const row = (job: Job, against?: ReplayJob) => {
    const j = r.jobs[job];
    if (!j) return [];
    const vs = against ? `${f2(j.seconds.median / against.seconds.median)}×` : '1×';
    return [
      `| ${LABELS[job]} | ${f2(j.seconds.median)} | ${f2(j.seconds.min)}–${f2(j.seconds.max)} | ${f2(j.cpuSeconds.median)} | ${job === 'kpfleetApplyOne' ? '—' : f2(j.cpuMsPerHost)} | ${vs} |`,
    ];
  };
  const plan = r.jobs.kpfleetPlan;
  const apply = r.jobs.kpfleetApply;
  return [
    `### ${String(r.hosts)} hosts, ${String(r.rounds)} round${r.rounds === 1 ? '' : 's'}`,
    '',
    "| Job | wall median (s) | min–max (s) | controller CPU (s) | CPU / host (ms) | wall ÷ kpfleet's |",
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...row('kpfleetPlan'),
    ...row('floor', plan),
    ...row('floorProbe', plan),
    ...row('ansibleGather5', plan),
    ...row('ansibleGather50', plan),
    ...row('kpfleetApply'),
    ...row('kpfleetApplyOne', apply),
    ...row('ansibleConverge5', apply),
    ...row('ansibleConverge50', apply),
    '',
    `Per host and run (the lab's counts): plan ${once(r.plan.connections)} connection(s), ${once(r.plan.execs)} exec(s); apply ${once(r.apply.connections)} connection(s), ${once(r.apply.execs)} exec(s)${r.apply.sftp ? `, ${once(r.apply.sftp)} SFTP session(s)` : ''}. Of the apply's ${String(r.realCommands + r.replayedCommands)} commands, ${String(r.realCommands)} ran for real (one host's worth), the rest were replayed. kpfleet's fixed cost (\`validate\` on the same project): ${f2(r.validateCpuSeconds)} s of CPU.`,
    '',
  ];
}

function targets(r: ReplayRow): string[] {
  const j = r.jobs;
  const n = String(r.hosts);
  const out: string[] = [];
  const plan = j.kpfleetPlan;
  const apply = j.kpfleetApply;
  if (plan && j.floorProbe && j.floor) {
    const x = plan.seconds.median / j.floorProbe.seconds.median;
    const y = plan.seconds.median / j.floor.seconds.median;
    out.push(
      `| plan ≤ 1.15× the floor running the same probe (wall), ${n} hosts | ${judged(x, x <= 1.15)} |`,
      `| … the floor running \`uname -r; kpatch list\` only | ${judged(y, y <= 1.15)} |`,
    );
  }
  if (plan && j.ansibleGather5) {
    const x = j.ansibleGather5.seconds.median / plan.seconds.median;
    out.push(
      `| plan ≥ 12× faster than Ansible forks 5 (wall), ${n} hosts | ${judged(x, x >= 12)} |`,
    );
  }
  if (apply && j.ansibleConverge5) {
    const x = j.ansibleConverge5.seconds.median / apply.seconds.median;
    out.push(
      `| apply ≥ 10× faster than Ansible forks 5 (wall), ${n} hosts | ${judged(x, x >= 10)} |`,
    );
  }
  if (plan && j.floorProbe) {
    const x = plan.cpuMsPerHost / j.floorProbe.cpuMsPerHost;
    const beyond = (plan.cpuSeconds.median - r.validateCpuSeconds) / r.hosts;
    const xb = (beyond * 1000) / j.floorProbe.cpuMsPerHost;
    out.push(
      `| kpfleet plan CPU per host ≤ 1.3× the floor's (same probe), ${n} hosts: ${f2(plan.cpuMsPerHost)} vs ${f2(j.floorProbe.cpuMsPerHost)} ms | ${judged(x, x <= 1.3)} |`,
      `| … beyond kpfleet's start-up (\`validate\`, not part of the target) | ${f2(xb)}× | ${xb <= 1.3 ? 'would be met' : 'would not be met'} |`,
    );
  }
  return out;
}

/** The replay section of docs/benchmarks.md. */
export function replaySection(result: ReplayResult): string[] {
  return [
    `## The controller alone: hosts in replay mode (measured ${result.when})`,
    '',
    'The same jobs against lab hosts in replay mode (`bench/replay.ts`; lab/SPEC.md "Replay"): every',
    'host has its own SSH server side (listener, host key, handshake, authentication, channels, SFTP)',
    'in the lab process, but all share one state, and each command runs for real once, on the first',
    "host that sends it; the others get that run's recorded answer. The hosts cost next to nothing,",
    "so these numbers are the controllers' own cost (the wall time still holds one host's real run",
    'of each command). "Controller CPU": kpfleet\'s process with its children; Ansible\'s whole',
    "process tree, its ControlPersist ssh masters included (a cpuacct cgroup); the floor's own",
    "CPU from its first connection to its last close. The floor's wall and CPU leave its start-up",
    "out; kpfleet's and Ansible's hold theirs, as a user waits for them. The floor parses its key",
    'once and signs from a KeyObject, as kpfleet does (before 2026-12-05 20:40 UTC it gave ssh2 the',
    "key's bytes, and ssh2 parsed them and OpenSSL decoded the key's PEM at every connection: 0.4 ms",
    'of CPU a host that kpfleet does not spend, which flattered its CPU ratio). Ansible runs with its',
    'defaults (ControlMaster=auto, ControlPersist=60s, no pipelining) but no `ssh -tt` (the lab',
    "serves no pty; raw needs none), host keys checked against the lab's known_hosts, every",
    "connection cut between runs. Its converge is three `raw` tasks (the module's bytes base64 in",
    'the command, checked by `sha256sum -c`; `sudo -n kpatch install`; `sudo -n kpatch load`):',
    '`raw` cannot copy a file, and `copy` would add a Python run per host, so this flatters Ansible.',
    'Every run is checked: plan sees a change on every host, apply reports every host changed,',
    "Ansible's recap says ok (and changed) on every host, the shared host ends with the patch loaded.",
    '',
    ...result.rows.flatMap(table),
    '### Targets (issue 20), on this table',
    '',
    '| Target | measured | |',
    '| --- | ---: | --- |',
    ...result.rows.flatMap(targets),
    '',
  ];
}
