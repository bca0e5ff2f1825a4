/**
 * The controller's own cost (issue 20): the jobs of bench/jobs.ts against lab hosts in replay
 * mode (bench/lab-server.ts, its own process; lab/SPEC.md "Replay"), where each command runs for
 * real on one host and is replayed to the others, so the hosts cost next to nothing and what is
 * timed is the controller. Per host count, R rounds, each from a fresh host state:
 *
 * - facts: `kpfleet plan` (forks = hosts, as the floor), the raw-ssh2 floor (bench/floor.ts: plain
 *   `uname -r; kpatch list`, and kpfleet's probe), Ansible `raw` with `gather_facts: false` (its
 *   fastest mode) at forks 5 and 50;
 * - converge (one patch, upload included): `kpfleet apply --yes` against Ansible `raw` tasks at
 *   forks 5 and 50 (the module's bytes base64 in the command, checked by sha256sum, then `sudo -n
 *   kpatch install`, `sudo -n kpatch load`). `raw` cannot copy a file; `copy` would add a Python
 *   run per host, so this flatters Ansible.
 *
 * Wall seconds and controller CPU: kpfleet's process with its children (GNU time); Ansible's whole
 * process tree, its ControlPersist ssh masters included (they leave the tree: a cpuacct cgroup
 * holds them all); the floor's own CPU from its first connection to its last close (its key parsed
 * once, signing from a KeyObject, as kpfleet's transport does). Ansible runs
 * with its defaults (ControlMaster=auto, ControlPersist=60s, no pipelining: raw needs none) but
 * no `ssh -tt` (ANSIBLE_SSH_USETTY=False: the lab serves no pty, and OpenSSH gives up on a host
 * that refuses the pty it was told to force; raw needs none), host
 * keys checked against the lab's known_hosts; every connection is cut between runs, so each starts
 * from new logins. Each run is checked: plan sees a change on every host, apply reports every host
 * changed, Ansible's recap says ok and changed on every host, the shared host ends loaded.
 *
 * Ansible costs 0.2–0.25 s of CPU per host and task here, so at 1,000 hosts it runs at forks 5
 * only (the targets' reference; 3 minutes for the facts and 13 for the converge on two busy
 * cores), at forks 50 too on the smaller count; `0` runs no Ansible at that host count.
 *   tsx bench/replay.ts [--hosts 64,1000] [--rounds 3,1] [--ansible-forks 5+50,5]
 *   → bench/results/replay.json
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TMP_BASE } from '../lab/host-dir.ts';
import {
  ansiblePlaybook,
  build,
  ensureAnsible,
  machine,
  range,
  runFloor,
  startLabServer,
  stats,
  timeCommand,
  timeKpfleet,
  writeResult,
} from './lib.ts';
import type { LabCounts, LabServer, Spread } from './lib.ts';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '64,1000' },
    rounds: { type: 'string', default: '3,1' },
    'ansible-forks': { type: 'string', default: '5+50,5' },
  },
});
/** Per host count (the last one for the rest): rounds, and Ansible's forks settings. */
const HOSTS = values.hosts.split(',').map(Number);
const ROUNDS = values.rounds.split(',').map(Number);
const FORKS = values['ansible-forks'].split(',').map((f) => f.split('+').map(Number));

/** One timed run: wall seconds, controller CPU seconds. */
interface Sample {
  wall: number;
  cpu: number;
}
export const JOBS = [
  'kpfleetPlan',
  'floor',
  'floorProbe',
  'ansibleGather5',
  'ansibleGather50',
  'kpfleetApply',
  'kpfleetApplyOne',
  'ansibleConverge5',
  'ansibleConverge50',
] as const;
export type Job = (typeof JOBS)[number];
export interface ReplayJob {
  seconds: Spread;
  cpuSeconds: Spread;
  cpuMsPerHost: number;
}
type Range = { min: number; max: number };
/** Per host and run: connections, exec channels, SFTP sessions (older results: no `sftp`). */
export interface PerHost {
  connections: Range;
  execs: Range;
  sftp?: Range;
}
export interface ReplayRow {
  hosts: number;
  rounds: number;
  /** The jobs run at this host count (Ansible at forks 50 may not be). */
  jobs: Partial<Record<Job, ReplayJob>>;
  /** kpfleet's fixed cost: `validate` on the same project, CPU seconds (median). */
  validateCpuSeconds: number;
  /** Per host, per kpfleet run: connections and execs (from the lab). */
  plan: PerHost;
  apply: PerHost;
  /** Of all the commands the hosts were sent in the last round, how many ran for real. */
  realCommands: number;
  replayedCommands: number;
}

const CG_ROOT = '/sys/fs/cgroup/cpuacct';

/** Ansible's CPU, all of its processes (a cpuacct cgroup), or its own tree's (GNU time). */
function ansible(dir: string, playbook: string, forks: number, n: number): Sample {
  const cg = join(CG_ROOT, `kpfleet-bench-${String(process.pid)}`);
  const useCg = existsSync(CG_ROOT);
  if (useCg) mkdirSync(cg, { recursive: true });
  const argv = ansiblePlaybook(playbook, forks, join(dir, 'known_hosts'));
  const a = timeCommand(
    useCg ? ['sh', '-c', `echo $$ >'${cg}/cgroup.procs' && exec "$@"`, 'sh', ...argv] : argv,
    dir,
    // the lab serves no pty (lab/SPEC.md) and raw needs none: no `ssh -tt`
    {
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_SSH_CONTROL_PATH_DIR: join(dir, 'cp'),
      ANSIBLE_SSH_USETTY: 'False',
    },
  );
  const cpu = useCg ? Number(readFileSync(join(cg, 'cpuacct.usage'), 'utf8')) / 1e9 : a.cpu;
  if (a.status !== 0)
    throw new Error(
      `ansible-playbook ${playbook}: ${a.stdout.slice(-3000)}${a.stderr.slice(-2000)}`,
    );
  // the recap: every host ok, changed as the playbook says, nothing failed or unreachable
  const expect = playbook === 'gather.yml' ? 'ok=1 +changed=0 ' : 'ok=3 +changed=3 ';
  const good = new RegExp(`^\\S+ +: ${expect}+unreachable=0 +failed=0 `, 'gm');
  const hosts = (a.stdout.match(good) ?? []).length;
  if (hosts !== n)
    throw new Error(`ansible ${playbook}: ${String(hosts)} of ${String(n)} hosts as expected`);
  return { wall: a.wall, cpu };
}

/** The cgroup emptied (the masters end once the lab cut their connections) and removed. */
async function dropCgroup(): Promise<void> {
  const cg = join(CG_ROOT, `kpfleet-bench-${String(process.pid)}`);
  for (let i = 0; i < 100 && existsSync(cg); i++) {
    try {
      rmdirSync(cg);
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function floor(dir: string, n: number, probe: boolean): Sample {
  const f = runFloor(join(dir, 'state.json'), n, probe);
  return { wall: f.seconds, cpu: f.cpuMs / 1000 };
}

/** The playbooks: facts by `raw`, and the converge as `raw` tasks. */
function writePlaybooks(dir: string): void {
  const ko = readFileSync(join(dir, 'livepatch-cve.ko'));
  const sha = createHash('sha256').update(ko).digest('hex');
  const path = '/home/kpfleet/livepatch-cve.ko';
  const play = (tasks: string[]) =>
    ['- hosts: all', '  gather_facts: false', '  tasks:', ...tasks, ''].join('\n');
  writeFileSync(
    join(dir, 'gather.yml'),
    play([
      '    - name: kernel and kpatch list',
      '      raw: uname -r; PATH=$PATH:/usr/sbin kpatch list',
      '      changed_when: false',
    ]),
  );
  writeFileSync(
    join(dir, 'converge.yml'),
    play([
      '    - name: upload the patch module, its bytes in the command (raw cannot copy), checked',
      `      raw: "echo ${ko.toString('base64')} | base64 -d >${path}.part && echo '${sha}  ${path}.part' | sha256sum -c --quiet && mv -f ${path}.part ${path}"`,
      '    - name: install it for the running kernel',
      `      raw: sudo -n kpatch install ${path}`,
      '    - name: load it',
      '      raw: cd /home/kpfleet && sudo -n kpatch load livepatch-cve.ko',
    ]),
  );
}

async function measure(n: number, rounds: number, ansibleForks: number[]): Promise<ReplayRow> {
  const dir = join(TMP_BASE, `bench-replay-${String(n)}`);
  const lab: LabServer = await startLabServer(n, dir);
  const samples = Object.fromEntries(JOBS.map((j) => [j, [] as Sample[]])) as Record<Job, Sample[]>;
  const validateCpu: number[] = [];
  const perRun = { plan: [] as LabCounts[], apply: [] as LabCounts[] };
  let last: LabCounts | undefined;
  try {
    // the same parallelism as the floor (every host at once; kpfleet allows up to 1,000)
    const yml = join(dir, 'kpfleet.yml');
    writeFileSync(
      yml,
      readFileSync(yml, 'utf8').replace(/^rollout: .*$/m, `rollout: { forks: ${String(n)} }`),
    );
    writePlaybooks(dir);
    const firstHost =
      (JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { hosts: { name: string }[] })
        .hosts[0]?.name ?? '';
    const timed = (job: Job, s: Sample) => {
      samples[job].push(s);
      return s.wall.toFixed(2);
    };
    for (let r = 0; r < rounds; r++) {
      const said: string[] = [];
      await lab.reset();
      await lab.counts();
      validateCpu.push(timeKpfleet(['validate'], dir).cpu);
      const p = timeKpfleet(['plan', '--format', 'json'], dir);
      const planned = (JSON.parse(p.stdout) as { summary: { changes: number } }).summary;
      if (p.status !== 0 || planned.changes !== n)
        throw new Error(`plan: exit ${String(p.status)}, ${JSON.stringify(planned)}`);
      perRun.plan.push(await lab.counts());
      said.push(`plan ${timed('kpfleetPlan', p)} s`);
      said.push(`floor ${timed('floor', floor(dir, n, false))} s`);
      said.push(`floor probe ${timed('floorProbe', floor(dir, n, true))} s`);
      for (const forks of ansibleForks) {
        await lab.reset();
        const job = forks === 5 ? 'ansibleGather5' : 'ansibleGather50';
        said.push(
          `ansible raw -f${String(forks)} ${timed(job, ansible(dir, 'gather.yml', forks, n))} s`,
        );
        await lab.reset(); // ends the masters
        await dropCgroup();
      }

      await lab.reset();
      await lab.counts();
      rmSync(join(dir, 'report.json'), { force: true });
      const a = timeKpfleet(
        ['apply', '--yes', '--report', 'report.json', '--audit-log', 'audit.jsonl'],
        dir,
      );
      const outcomes = (
        JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as {
          hosts: { outcome: string }[];
        }
      ).hosts.filter((h) => h.outcome === 'changed').length;
      if (a.status !== 0 || outcomes !== n)
        throw new Error(
          `apply: exit ${String(a.status)}, ${String(outcomes)} of ${String(n)} changed: ${a.stdout.slice(-2000)}`,
        );
      last = await lab.counts();
      if (!last.loaded) throw new Error('apply: the shared host has no patch loaded');
      perRun.apply.push(last);
      said.push(`apply ${timed('kpfleetApply', a)} s`);
      // the same apply on one host alone: every command real, one after another: the hosts'
      // latency that the wall above holds (a real fleet's hosts work at once, as here)
      await lab.reset();
      const one = timeKpfleet(
        ['apply', '--yes', '--limit', firstHost, '--audit-log', 'audit.jsonl'],
        dir,
      );
      if (one.status !== 0 || !(await lab.counts()).loaded)
        throw new Error(
          `apply on ${firstHost}: exit ${String(one.status)}: ${one.stdout.slice(-2000)}`,
        );
      said.push(`apply on one host ${timed('kpfleetApplyOne', one)} s`);
      for (const forks of ansibleForks) {
        await lab.reset();
        const job = forks === 5 ? 'ansibleConverge5' : 'ansibleConverge50';
        said.push(
          `ansible converge -f${String(forks)} ${timed(job, ansible(dir, 'converge.yml', forks, n))} s`,
        );
        if (!(await lab.counts()).loaded) throw new Error('ansible converge: no patch loaded');
        await lab.reset();
        await dropCgroup();
      }
      console.log(`${String(n)} hosts, round ${String(r + 1)}: ${said.join(', ')}`);
    }
  } finally {
    await lab.stop();
    await dropCgroup();
  }
  const jobs = Object.fromEntries(
    JOBS.filter((j) => samples[j].length > 0).map((j) => {
      const cpu = stats(samples[j].map((s) => s.cpu));
      return [
        j,
        {
          seconds: stats(samples[j].map((s) => s.wall)),
          cpuSeconds: cpu,
          cpuMsPerHost: (cpu.median * 1000) / n,
        },
      ];
    }),
  ) as Partial<Record<Job, ReplayJob>>;
  const per = (cs: LabCounts[]) => ({
    connections: range(cs.flatMap((c) => c.connections)),
    execs: range(cs.flatMap((c) => c.execs)),
    sftp: range(cs.flatMap((c) => c.subsystems)),
  });
  return {
    hosts: n,
    rounds,
    jobs,
    validateCpuSeconds: stats(validateCpu).median,
    plan: per(perRun.plan),
    apply: per(perRun.apply),
    realCommands: last?.real ?? 0,
    replayedCommands: last?.replayed ?? 0,
  };
}

ensureAnsible();
build();
const rows: ReplayRow[] = [];
for (const [i, n] of HOSTS.entries()) {
  const rounds = ROUNDS[i] ?? ROUNDS.at(-1) ?? 1;
  const forks = (FORKS[i] ?? FORKS.at(-1) ?? [5]).filter((f) => f === 5 || f === 50);
  rows.push(await measure(n, rounds, forks));
}
const out = { when: new Date().toISOString(), machine: machine(), rows };
writeResult('replay.json', out);
console.log(JSON.stringify(out, null, 2));
