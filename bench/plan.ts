/**
 * The facts/plan job side by side (issue 8 §1, first part), on the real-SSH fleet, several rounds
 * each, in one run:
 * - `kpfleet plan` (the built CLI, as a user runs it; forks = hosts), with its own CPU time and
 *   peak RSS (GNU time);
 * - Ansible (`ansible-playbook`, Debian's) gathering the same data (`uname -r`, `kpatch list`) with
 *   forks 5 (its default) and forks 50;
 * - the floor: one raw ssh2 exec per host, all in parallel (`bench/floor.ts`).
 *   tsx bench/plan.ts [--hosts 64] [--rounds 3]
 * Writes bench/results/plan.json and prints a table; docs/benchmarks.md holds the latest.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fleetDown, fleetUp } from '../test/fleet/fleet.ts';
import { TMP_BASE } from '../test/fleet/host-dir.ts';

const ROOT = new URL('../', import.meta.url).pathname;
const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '3' },
  },
});
const N = Number(values.hosts);
const ROUNDS = Number(values.rounds);
const EL9 = '5.14.0-362.8.1.el9_3.x86_64';

if (spawnSync('ansible-playbook', ['--version']).status !== 0) {
  console.log('installing Ansible (Debian package) for the comparison');
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'ansible'], {
    stdio: 'inherit',
  });
}
execFileSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: 'inherit' });

const dir = join(TMP_BASE, `bench-plan-${String(N)}`);
const fleet = await fleetUp({ hosts: N, dir, subnet: 91, simProfile: { TIME_SCALE: '0.01' } });
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)] ?? NaN, min: s[0] ?? NaN, max: s.at(-1) ?? NaN };
};

try {
  // the project: one patch declared for every host
  const ko = join(dir, 'livepatch-cve.ko');
  fleet.hosts[0]?.sim.makeModule(ko, { name: 'livepatch_cve', kernel: EL9 });
  const sha = createHash('sha256').update(readFileSync(ko)).digest('hex');
  writeFileSync(
    join(dir, 'kpfleet.yml'),
    [
      'inventory: inventory.ini',
      'connection: { known_hosts: known_hosts, ssh_config: false }',
      `rollout: { forks: ${String(Math.min(N, 1000))} }`,
      'patches:',
      `  cve: { module: livepatch_cve, kernel: ${EL9}, file: livepatch-cve.ko, sha256: ${sha} }`,
      'groups:',
      '  all: { loaded: [cve] }',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'gather.yml'),
    [
      '- hosts: all',
      '  gather_facts: false',
      '  tasks:',
      '    - name: kernel and kpatch list',
      '      shell: uname -r; PATH=$PATH:/usr/sbin kpatch list',
      '      changed_when: false',
      '',
    ].join('\n'),
  );

  const kpfleet = { wall: [] as number[], cpu: [] as number[], rssMb: [] as number[] };
  const floor: number[] = [];
  const ansible: Record<string, number[]> = { '5': [], '50': [] };
  for (let r = 0; r < ROUNDS; r++) {
    // kpfleet plan: wall, CPU (user+sys) and peak RSS of the whole CLI process
    const t = spawnSync(
      '/usr/bin/time',
      [
        '-f',
        '%e %U %S %M',
        process.execPath,
        join(ROOT, 'bin/kpfleet.js'),
        'plan',
        '--format',
        'json',
      ],
      {
        cwd: dir,
        encoding: 'utf8',
        env: { ...process.env, SSH_AUTH_SOCK: '' },
        maxBuffer: 1 << 30,
      },
    );
    const [e = '', u = '', s = '', m = ''] = t.stderr.trim().split('\n').at(-1)?.split(' ') ?? [];
    const plan = JSON.parse(t.stdout) as { summary: { hosts: number; changes: number } };
    if (plan.summary.changes !== N) throw new Error(`plan saw ${JSON.stringify(plan.summary)}`);
    kpfleet.wall.push(Number(e));
    kpfleet.cpu.push(Number(u) + Number(s));
    kpfleet.rssMb.push(Number(m) / 1024);

    const f = JSON.parse(
      execFileSync(
        process.execPath,
        ['--import', 'tsx', join(ROOT, 'bench/floor.ts'), join(dir, 'state.json')],
        {
          encoding: 'utf8',
        },
      ),
    ) as { seconds: number; ok: number };
    if (f.ok !== N) throw new Error(`floor reached ${String(f.ok)} of ${String(N)}`);
    floor.push(f.seconds);

    for (const forks of ['5', '50']) {
      const t0 = performance.now();
      const a = spawnSync(
        'ansible-playbook',
        [
          '-i',
          'inventory.ini',
          '-f',
          forks,
          '--ssh-common-args',
          `-o UserKnownHostsFile=${join(dir, 'known_hosts')} -o StrictHostKeyChecking=yes`,
          'gather.yml',
        ],
        { cwd: dir, encoding: 'utf8', env: { ...process.env, ANSIBLE_NOCOLOR: '1' } },
      );
      if (a.status !== 0) throw new Error(`ansible-playbook failed: ${a.stdout.slice(-2000)}`);
      ansible[forks]?.push((performance.now() - t0) / 1000);
    }
    console.log(
      `round ${String(r + 1)}: kpfleet plan ${String(kpfleet.wall.at(-1))} s, floor ${floor.at(-1)?.toFixed(2) ?? ''} s, ansible -f5 ${ansible['5']?.at(-1)?.toFixed(1) ?? ''} s, -f50 ${ansible['50']?.at(-1)?.toFixed(1) ?? ''} s`,
    );
  }

  const k = stats(kpfleet.wall);
  const fl = stats(floor);
  const a5 = stats(ansible['5'] ?? []);
  const a50 = stats(ansible['50'] ?? []);
  const cpuPerHostMs = (stats(kpfleet.cpu).median * 1000) / N;
  const out = {
    when: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
    },
    versions: {
      ansible: execFileSync('ansible', ['--version'], { encoding: 'utf8' }).split('\n')[0],
      openssh: spawnSync('ssh', ['-V'], { encoding: 'utf8' }).stderr.trim(),
    },
    hosts: N,
    rounds: ROUNDS,
    seconds: { kpfleetPlan: k, floor: fl, ansibleForks5: a5, ansibleForks50: a50 },
    kpfleet: { cpuPerHostMs, peakRssMb: stats(kpfleet.rssMb).max },
    ratios: {
      planOverFloor: k.median / fl.median,
      ansible5OverPlan: a5.median / k.median,
      ansible50OverPlan: a50.median / k.median,
    },
    targets: { planOverFloorMax: 1.15, ansible5OverPlanMin: 12, cpuPerHostMsMax: 8 },
  };
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/plan.json'), JSON.stringify(out, null, 2) + '\n');
  console.log(JSON.stringify(out, null, 2));
  const f2 = (x: number) => x.toFixed(2);
  const row = (name: string, v: { median: number; min: number; max: number }, ratio: string) =>
    `| ${name} | ${f2(v.median)} | ${f2(v.min)}–${f2(v.max)} | ${ratio} |`;
  const ok = (b: boolean) => (b ? 'met' : '**missed**');
  writeFileSync(
    join(ROOT, 'docs/benchmarks.md'),
    [
      '# Benchmarks',
      '',
      'Written by `npm run bench` (`bench/plan.ts`); the raw numbers are in',
      '`bench/results/plan.json`. Converge-job and scale benchmarks (issue 8) are not written yet.',
      '',
      `Machine: ${String(out.machine.cpus)} cores, ${String(out.machine.memoryGiB)} GiB, Node ${out.machine.node}; ${out.versions.ansible ?? ''}; ${out.versions.openssh}. Measured ${out.when}.`,
      '',
      `## Facts and plan: ${String(N)} hosts on the real-SSH fleet, ${String(ROUNDS)} rounds`,
      '',
      'Everything gathers `uname -r` and `kpatch list` from every host over real OpenSSH; host keys',
      'checked strictly. kpfleet also reads the rest of the facts and computes the plan.',
      '',
      '| What | median (s) | min–max (s) | vs kpfleet plan |',
      '| --- | ---: | ---: | ---: |',
      row('`kpfleet plan` (built CLI, forks = hosts)', k, '1×'),
      row(
        'floor: one raw ssh2 exec per host, all parallel',
        fl,
        `${f2(k.median / fl.median)}× faster than plan`,
      ),
      row(
        'Ansible `ansible-playbook`, forks 5 (default)',
        a5,
        `${f2(a5.median / k.median)}× slower`,
      ),
      row('Ansible, forks 50', a50, `${f2(a50.median / k.median)}× slower`),
      '',
      '| Target | Value | |',
      '| --- | ---: | --- |',
      `| plan ≤ 1.15× the floor | ${f2(out.ratios.planOverFloor)}× | ${ok(out.ratios.planOverFloor <= 1.15)} |`,
      `| plan ≥ 12× faster than Ansible forks 5 | ${f2(out.ratios.ansible5OverPlan)}× | ${ok(out.ratios.ansible5OverPlan >= 12)} |`,
      `| ≤ 8 ms kpfleet CPU per host (whole CLI process) | ${f2(cpuPerHostMs)} ms | ${ok(cpuPerHostMs <= 8)} |`,
      `| peak RSS of the CLI | ${f2(out.kpfleet.peakRssMb)} MB | |`,
      '',
    ].join('\n'),
  );
  // the table as Prettier formats it, so format:check stays green after a bench run
  execFileSync('npx', ['prettier', '--write', 'docs/benchmarks.md'], {
    cwd: ROOT,
    stdio: 'ignore',
  });
} finally {
  await fleetDown(dir);
}
