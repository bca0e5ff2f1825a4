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
 * uploaded copies removed), directly on the simulated hosts' state, outside any timing. Logins and
 * sessions per host (exec and SFTP channels) are counted from each sshd's log for the plan and for
 * the converge (issue 20: one login, four sessions per host for a one-patch converge).
 *
 *   tsx bench/jobs.ts [--hosts 64] [--rounds 3]   → bench/results/jobs.json
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fleetDown, fleetUp } from '../lab/fleet.ts';
import { TMP_BASE } from '../lab/host-dir.ts';
import { sshdCounts, sshdLogOffsets } from '../lab/sshd-log.ts';
import {
  ansiblePlaybook,
  build,
  EL9,
  ensureAnsible,
  machine,
  machineCpuSeconds,
  range,
  runFloor,
  stats,
  timeCommand,
  timeKpfleet,
  writeProject,
  writeResult,
} from './lib.ts';
import type { Timed } from './lib.ts';

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

function ansible(playbook: string, forks: string): Timed {
  const a = timeCommand(ansiblePlaybook(playbook, Number(forks), join(dir, 'known_hosts')), dir, {
    ANSIBLE_NOCOLOR: '1',
  });
  if (a.status !== 0)
    throw new Error(`ansible-playbook ${playbook} failed: ${a.stdout.slice(-3000)}`);
  return a;
}

/** Runs of one thing: wall, own CPU, the machine's CPU meanwhile, peak RSS. */
class Series {
  wall: number[] = [];
  cpu: number[] = [];
  machineCpu: number[] = [];
  rssMb: number[] = [];
  add(t: { wall: number; cpu: number; machineCpu: number; rssMb?: number }): void {
    this.wall.push(t.wall);
    this.cpu.push(t.cpu);
    this.machineCpu.push(t.machineCpu);
    if (t.rssMb !== undefined) this.rssMb.push(t.rssMb);
  }
  summary() {
    return {
      seconds: stats(this.wall),
      ownCpuSeconds: stats(this.cpu).median,
      machineCpuSeconds: stats(this.machineCpu).median,
      ...(this.rssMb.length ? { peakRssMb: Math.max(...this.rssMb) } : {}),
    };
  }
}

function floor(probe: boolean): { wall: number; cpu: number; machineCpu: number } {
  const m0 = machineCpuSeconds();
  const f = runFloor(join(dir, 'state.json'), N, probe);
  // its own CPU from the first connection to the last close (start-up excluded)
  return { wall: f.seconds, cpu: f.cpuMs / 1000, machineCpu: machineCpuSeconds() - m0 };
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

  const plan = new Series();
  const apply = new Series();
  const floorPlain = new Series();
  const floorProbe = new Series();
  const gather = { '5': new Series(), '50': new Series() };
  const converge = { '5': new Series(), '50': new Series() };
  const validateCpu: number[] = [];
  const hostDirs = fleet.hosts.map((h) => h.dir);
  const logins: number[] = [];
  const execs: number[] = [];
  const sessions: number[] = [];
  // the converge's, per host: every host changes (one patch: upload, install, load)
  const applied = {
    logins: [] as number[],
    sessions: [] as number[],
    execs: [] as number[],
    sftp: [] as number[],
  };
  const last = (x: Series) => x.wall.at(-1)?.toFixed(2) ?? '';
  for (let r = 0; r < ROUNDS; r++) {
    await reset(); // the previous round's converge left the patch loaded
    // kpfleet's fixed cost: the same CLI reading the same project, no SSH
    validateCpu.push(timeKpfleet(['validate'], dir).cpu);
    const offsets = sshdLogOffsets(hostDirs);
    const t = timeKpfleet(['plan', '--format', 'json'], dir);
    const counted = sshdCounts(hostDirs, offsets);
    logins.push(...counted.logins);
    execs.push(...counted.execs);
    sessions.push(...counted.sessions);
    const p = JSON.parse(t.stdout) as { summary: { hosts: number; changes: number } };
    if (p.summary.changes !== N) throw new Error(`plan saw ${JSON.stringify(p.summary)}`);
    plan.add(t);
    floorPlain.add(floor(false));
    floorProbe.add(floor(true));
    for (const forks of ['5', '50'] as const) gather[forks].add(ansible('gather.yml', forks));

    await reset();
    const applyOffsets = sshdLogOffsets(hostDirs);
    const a = timeKpfleet(['apply', '--yes', '--audit-log', join(dir, 'audit.jsonl')], dir);
    const c = sshdCounts(hostDirs, applyOffsets);
    applied.logins.push(...c.logins);
    applied.execs.push(...c.execs);
    applied.sessions.push(...c.sessions);
    applied.sftp.push(...c.subsystems);
    if (a.status !== 0)
      throw new Error(
        `kpfleet apply exited ${String(a.status)}: ${a.stdout.slice(-3000)}${a.stderr}`,
      );
    const loaded = fleet.hosts.filter(loadedOn);
    if (loaded.length !== N)
      throw new Error(`kpfleet apply: ${String(loaded.length)} of ${String(N)} hosts loaded`);
    apply.add(a);
    for (const forks of ['5', '50'] as const) {
      await reset();
      converge[forks].add(ansible('converge.yml', forks));
      const ok = fleet.hosts.filter(loadedOn);
      if (ok.length !== N)
        throw new Error(`ansible converge: ${String(ok.length)} of ${String(N)} hosts loaded`);
    }
    console.log(
      `round ${String(r + 1)}: plan ${last(plan)} s, floor ${last(floorPlain)} s (probe ${last(floorProbe)} s), ` +
        `ansible gather -f5 ${last(gather['5'])} s, -f50 ${last(gather['50'])} s; apply ${last(apply)} s, ` +
        `ansible converge -f5 ${last(converge['5'])} s, -f50 ${last(converge['50'])} s`,
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
      runs: {
        kpfleetPlan: plan.summary(),
        floor: floorPlain.summary(),
        floorProbe: floorProbe.summary(),
        ansibleForks5: gather['5'].summary(),
        ansibleForks50: gather['50'].summary(),
      },
      cpuMsPerHost: {
        kpfleetPlan: perHostMs(plan.cpu),
        kpfleetPlanBeyondValidate: ((stats(plan.cpu).median - fixedCpu) * 1000) / N,
        floor: perHostMs(floorPlain.cpu),
        floorProbe: perHostMs(floorProbe.cpu),
      },
      validateCpuSeconds: fixedCpu,
      loginsPerHost: range(logins),
      execsPerHost: range(execs),
      sessionsPerHost: range(sessions),
    },
    converge: {
      runs: {
        kpfleetApply: apply.summary(),
        ansibleForks5: converge['5'].summary(),
        ansibleForks50: converge['50'].summary(),
      },
      cpuMsPerHost: { kpfleetApply: perHostMs(apply.cpu) },
      // `kpfleet apply --yes` (no plan file): its plan's read included
      loginsPerHost: range(applied.logins),
      sessionsPerHost: range(applied.sessions),
      execsPerHost: range(applied.execs),
      sftpPerHost: range(applied.sftp),
    },
  };
  writeResult('jobs.json', out);
  console.log(JSON.stringify(out, null, 2));
} finally {
  await fleetDown(dir);
}
