/**
 * The two jobs side by side on the real-SSH fleet (issue 8 §1), several rounds each, in one run:
 *
 * Facts/plan: `kpfleet plan` (the built CLI, as a user runs it; forks = hosts) against
 * - Ansible (`ansible-playbook`, Debian's) gathering the same data (`uname -r`, `kpatch list`)
 *   with forks 5 (its default) and forks 50;
 * - the floor: one raw ssh2 exec per host, all in parallel (`bench/floor.ts`), running those two
 *   commands, and again running kpfleet's own probe (so plan − that = kpfleet's own cost).
 *
 * Converge: load one patch on every host from scratch, upload included: `kpfleet apply --yes`
 * against Ansible's copy + command (`kpatch install`, `kpatch load`, with become), forks 5 and 50.
 * Before each run every host is put back to "never had the patch" (unloaded, uninstalled, the
 * uploaded copies removed), directly on the simulated hosts' state, outside any timing.
 *
 *   tsx bench/jobs.ts [--hosts 64] [--rounds 3]   → bench/results/jobs.json
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fleetDown, fleetUp } from '../test/fleet/fleet.ts';
import { TMP_BASE } from '../test/fleet/host-dir.ts';
import {
  build,
  EL9,
  ensureAnsible,
  machine,
  range,
  ROOT,
  sshdCounts,
  sshdLogOffsets,
  stats,
  timeKpfleet,
  writeProject,
  writeResult,
} from './lib.ts';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '3' },
  },
});
const N = Number(values.hosts);
const ROUNDS = Number(values.rounds);

ensureAnsible();
build();

const dir = join(TMP_BASE, `bench-jobs-${String(N)}`);
const fleet = await fleetUp({
  hosts: N,
  dir,
  subnet: 91,
  logLevel: 'VERBOSE', // logins and exec sessions are counted from each sshd's log
  simProfile: { TIME_SCALE: '0.01' },
});
const first = fleet.hosts[0];
if (!first) throw new Error('no hosts');

function ansible(playbook: string, forks: string): number {
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
      playbook,
    ],
    { cwd: dir, encoding: 'utf8', env: { ...process.env, ANSIBLE_NOCOLOR: '1' } },
  );
  if (a.status !== 0)
    throw new Error(`ansible-playbook ${playbook} failed: ${a.stdout.slice(-3000)}`);
  return (performance.now() - t0) / 1000;
}

function floor(probe: boolean): { seconds: number; cpuMs: number } {
  const f = JSON.parse(
    execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        join(ROOT, 'bench/floor.ts'),
        join(dir, 'state.json'),
        ...(probe ? ['--probe'] : []),
      ],
      { encoding: 'utf8' },
    ),
  ) as { seconds: number; cpuMs: number; ok: number };
  if (f.ok !== N) throw new Error(`floor reached ${String(f.ok)} of ${String(N)}`);
  return f;
}

const loadedOn = (h: (typeof fleet.hosts)[number]): boolean =>
  h.sim.readSysfs().patches['livepatch_cve']?.enabled === '1';

/** Every host back to "never had the patch", directly on the simulated state (not timed). */
async function reset(): Promise<void> {
  await Promise.all(
    fleet.hosts.map(async (h) => {
      const r = await h.sim.run(
        'kpatch force unload livepatch_cve >/dev/null 2>&1; kpatch uninstall livepatch_cve >/dev/null 2>&1; true',
      );
      if (r.code !== 0) throw new Error(`reset ${h.name}: ${r.stderr}`);
      rmSync(join(h.sim.root, 'home/kpfleet/livepatch-cve.ko'), { force: true });
      rmSync(join(h.sim.root, 'home/kpfleet/.kpfleet'), { recursive: true, force: true });
      if (Object.keys(h.sim.readSysfs().patches).length)
        throw new Error(`reset ${h.name}: still loaded`);
    }),
  );
}

try {
  writeProject(dir, (ko) => first.sim.makeModule(ko, { name: 'livepatch_cve', kernel: EL9 }), {
    forks: N,
  });
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
  // what an Ansible role for this does: copy the module up, install it, load it
  writeFileSync(
    join(dir, 'converge.yml'),
    [
      '- hosts: all',
      '  gather_facts: false',
      '  become: true',
      '  tasks:',
      '    - name: upload the patch module',
      '      copy: { src: livepatch-cve.ko, dest: /home/kpfleet/livepatch-cve.ko, mode: "0644" }',
      '    - name: install it for the running kernel',
      '      command: kpatch install /home/kpfleet/livepatch-cve.ko',
      '      environment: { PATH: "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" }',
      '    - name: load it',
      '      command: kpatch load livepatch-cve.ko',
      '      args: { chdir: /home/kpfleet }',
      '      environment: { PATH: "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" }',
      '',
    ].join('\n'),
  );

  const plan = { wall: [] as number[], cpu: [] as number[], rssMb: [] as number[] };
  const apply = { wall: [] as number[], cpu: [] as number[], rssMb: [] as number[] };
  const floorPlain = { wall: [] as number[], cpuMs: [] as number[] };
  const floorProbe = { wall: [] as number[], cpuMs: [] as number[] };
  const validateCpu: number[] = [];
  const hostDirs = fleet.hosts.map((h) => h.dir);
  const logins: number[] = [];
  const execs: number[] = [];
  const gather: Record<string, number[]> = { '5': [], '50': [] };
  const converge: Record<string, number[]> = { '5': [], '50': [] };
  for (let r = 0; r < ROUNDS; r++) {
    // kpfleet's fixed cost: the same CLI reading the same project, no SSH
    validateCpu.push(timeKpfleet(['validate'], dir).cpu);
    const offsets = sshdLogOffsets(hostDirs);
    const t = timeKpfleet(['plan', '--format', 'json'], dir);
    const counted = sshdCounts(hostDirs, offsets);
    logins.push(...counted.logins);
    execs.push(...counted.execs);
    const p = JSON.parse(t.stdout) as { summary: { hosts: number; changes: number } };
    if (p.summary.changes !== N) throw new Error(`plan saw ${JSON.stringify(p.summary)}`);
    plan.wall.push(t.wall);
    plan.cpu.push(t.cpu);
    plan.rssMb.push(t.rssMb);
    for (const [into, probe] of [
      [floorPlain, false],
      [floorProbe, true],
    ] as const) {
      const f = floor(probe);
      into.wall.push(f.seconds);
      into.cpuMs.push(f.cpuMs);
    }
    for (const forks of ['5', '50']) gather[forks]?.push(ansible('gather.yml', forks));

    await reset();
    const a = timeKpfleet(['apply', '--yes'], dir);
    if (a.status !== 0)
      throw new Error(
        `kpfleet apply exited ${String(a.status)}: ${a.stdout.slice(-3000)}${a.stderr}`,
      );
    const loaded = fleet.hosts.filter(loadedOn);
    if (loaded.length !== N)
      throw new Error(`kpfleet apply: ${String(loaded.length)} of ${String(N)} hosts loaded`);
    apply.wall.push(a.wall);
    apply.cpu.push(a.cpu);
    apply.rssMb.push(a.rssMb);
    for (const forks of ['5', '50']) {
      await reset();
      converge[forks]?.push(ansible('converge.yml', forks));
      const ok = fleet.hosts.filter(loadedOn);
      if (ok.length !== N)
        throw new Error(`ansible converge: ${String(ok.length)} of ${String(N)} hosts loaded`);
    }
    console.log(
      `round ${String(r + 1)}: plan ${t.wall.toFixed(2)} s, floor ${floorPlain.wall.at(-1)?.toFixed(2) ?? ''} s ` +
        `(probe ${floorProbe.wall.at(-1)?.toFixed(2) ?? ''} s), ansible gather -f5 ${gather['5']?.at(-1)?.toFixed(1) ?? ''} s, ` +
        `-f50 ${gather['50']?.at(-1)?.toFixed(1) ?? ''} s; apply ${a.wall.toFixed(2)} s, ansible converge ` +
        `-f5 ${converge['5']?.at(-1)?.toFixed(1) ?? ''} s, -f50 ${converge['50']?.at(-1)?.toFixed(1) ?? ''} s`,
    );
  }

  const perHostMs = (cpuS: number[]) => (stats(cpuS).median * 1000) / N;
  const fixedCpu = stats(validateCpu).median;
  const out = {
    when: new Date().toISOString(),
    machine: machine(),
    hosts: N,
    rounds: ROUNDS,
    plan: {
      seconds: {
        kpfleetPlan: stats(plan.wall),
        floor: stats(floorPlain.wall),
        floorProbe: stats(floorProbe.wall),
        ansibleForks5: stats(gather['5'] ?? []),
        ansibleForks50: stats(gather['50'] ?? []),
      },
      cpuMsPerHost: {
        kpfleetPlan: perHostMs(plan.cpu),
        kpfleetPlanBeyondValidate: ((stats(plan.cpu).median - fixedCpu) * 1000) / N,
        floor: stats(floorPlain.cpuMs).median / N,
        floorProbe: stats(floorProbe.cpuMs).median / N,
      },
      validateCpuSeconds: fixedCpu,
      peakRssMb: stats(plan.rssMb).max,
      loginsPerHost: range(logins),
      execsPerHost: range(execs),
    },
    converge: {
      seconds: {
        kpfleetApply: stats(apply.wall),
        ansibleForks5: stats(converge['5'] ?? []),
        ansibleForks50: stats(converge['50'] ?? []),
      },
      cpuMsPerHost: { kpfleetApply: perHostMs(apply.cpu) },
      peakRssMb: stats(apply.rssMb).max,
    },
  };
  writeResult('jobs.json', out);
  console.log(JSON.stringify(out, null, 2));
} finally {
  await fleetDown(dir);
}
