/**
 * Hosts that answer with too much (issue 14): the CLI in-process against the lab, each host a
 * real SSH server whose commands run for real. A host that prints more than the output cap
 * (8 MiB per exec) fails alone with E_OUTPUT_LIMIT, in facts and in apply (rolled back, unlocked,
 * reported and audited), while the other hosts of the same run carry on.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInProcess } from '../../cli-in-process.ts';
import { Lab } from '../../../lab/lab.ts';
import { lockHeld } from '../../../lab/sim-host.ts';
import type { LabHost } from '../../../lab/lab.ts';

const EL9 = '5.14.0-362.8.1.el9_3.x86_64';
const MOD = 'kpatch_cve_2024_1';
const FLOOD = 'head -c 67108864 /dev/zero'; // 64 MiB, 8 times the cap

let lab: Lab;

const kpfleet = (args: string[]) =>
  runInProcess(args, {
    cwd: lab.dir,
    env: { HOME: lab.dir, XDG_STATE_HOME: join(lab.dir, 'state') },
  });

/**
 * Puts a kpatch on the host's PATH that runs the simulator's, then floods its output when its
 * first word is `on` (after doing the real work, so the host's state changes as kpatch's would).
 */
function floodingKpatch(h: LabHost, on: string, flood = FLOOD): void {
  const link = join(h.dir, 'bin/kpatch');
  unlinkSync(link);
  writeFileSync(
    link,
    [
      '#!/bin/sh',
      '/run/kpsim-fleet/sim/bin/kpatch "$@"; rc=$?',
      `if [ "$1" = ${on} ]; then ${flood}; fi`,
      'exit $rc',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
}

function honestKpatch(h: LabHost): void {
  rmSync(join(h.dir, 'bin/kpatch'), { force: true });
  h.setKpatchInstalled(true);
}

beforeAll(async () => {
  lab = await Lab.start({ hosts: 3, simProfile: { TIME_SCALE: '0.02' } });
  const first = lab.hosts[0];
  if (!first) throw new Error('no lab host');
  const ko = join(lab.dir, 'kpatch-cve.ko');
  first.sim.makeModule(ko, { name: MOD, kernel: EL9, replace: false });
  const sha = createHash('sha256').update(readFileSync(ko)).digest('hex');
  writeFileSync(join(lab.dir, 'inventory.ini'), readFileSync(lab.inventoryPath));
  writeFileSync(
    join(lab.dir, 'kpfleet.yml'),
    [
      'inventory: inventory.ini',
      'connection:',
      `  known_hosts: ${lab.knownHostsPath}`,
      '  ssh_config: false',
      'rollout:',
      '  forks: 3',
      '  waves: [100%]',
      '  max_failures: 100%',
      // a host with /var/tmp/flood has a health check that prints 64 MiB
      `  health_check: 'if [ -e /var/tmp/flood ]; then ${FLOOD}; fi; true'`,
      'patches:',
      '  cve:',
      `    module: ${MOD}`,
      `    kernel: ${EL9}`,
      '    file: kpatch-cve.ko',
      `    sha256: ${sha}`,
      'groups:',
      '  rhel9:',
      '    loaded: [cve]',
      '',
    ].join('\n'),
  );
});
afterAll(async () => {
  await lab.close();
});

describe('a host that prints more than the output cap', () => {
  it('facts: that host is an E_OUTPUT_LIMIT error, the other host is read', async () => {
    const [a] = lab.hosts;
    if (!a) throw new Error('no lab host');
    floodingKpatch(a, 'list');
    try {
      const r = await kpfleet(['facts', '--json', '--limit', 'lab001,lab002']);
      expect(r.code, r.stderr).toBe(1);
      const hosts = (
        JSON.parse(r.stdout) as {
          hosts: {
            host: string;
            ok: boolean;
            error?: { code: string; message: string; step: string };
          }[];
        }
      ).hosts;
      const byName = new Map(hosts.map((h) => [h.host, h]));
      expect(byName.get('lab001')).toMatchObject({
        ok: false,
        error: { code: 'E_OUTPUT_LIMIT', step: 'facts' },
      });
      expect(byName.get('lab001')?.error?.message).toMatch(/facts printed more than 8 MiB/);
      expect(byName.get('lab002')).toMatchObject({ ok: true });
    } finally {
      honestKpatch(a);
    }
  });

  it('apply: a flooding step and a flooding health check fail their host alone, rolled back and unlocked', async () => {
    const [a, b, c] = lab.hosts;
    if (!a || !b || !c) throw new Error('no lab hosts');
    // printable bytes: a step's output passes through the host's shell when steps share an exec
    // (apply/batch.ts), which drops NUL bytes
    floodingKpatch(a, 'load', "head -c 67108864 /dev/zero | tr '\\0' x");
    writeFileSync(join(b.sim.root, 'var/tmp/flood'), '');
    // under the cap, but one line of 1 MiB: the step record keeps only its end
    floodingKpatch(c, 'install', "head -c 1048576 /dev/zero | tr '\\0' x");
    // the commands each host was sent, in order
    const sent = new Map<string, string[]>();
    lab.onExec = (h, command) => sent.set(h.name, [...(sent.get(h.name) ?? []), command]);
    try {
      const r = await kpfleet([
        'apply',
        '--yes',
        '--report',
        'report.json',
        '--audit-log',
        'audit.jsonl',
      ]);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      const report = JSON.parse(readFileSync(join(lab.dir, 'report.json'), 'utf8')) as {
        hosts: {
          host: string;
          outcome: string;
          message: string;
          steps: { label: string; ok: boolean; error?: string; output?: string }[];
        }[];
      };
      const by = new Map(report.hosts.map((h) => [h.host, h]));
      expect(by.get('lab001')?.outcome).toBe('failed');
      expect(by.get('lab001')?.message).toMatch(/kpatch load printed more than 8 MiB.*rolled back/);
      expect(by.get('lab002')?.outcome).toBe('failed');
      expect(by.get('lab002')?.message).toMatch(
        /health check failed: health check printed more than 8 MiB.*rolled back/,
      );
      expect(by.get('lab003')?.outcome).toBe('changed');
      const install = by.get('lab003')?.steps.find((s) => /install/i.test(s.label));
      expect(install?.output?.length).toBeLessThanOrEqual(4001);
      // rolled back: nothing loaded or installed where the run failed; every lock released
      for (const h of [a, b]) {
        expect(h.sim.readSysfs().patches[MOD]).toBeUndefined();
        expect(h.sim.readSysfs().installed).toEqual([]);
      }
      expect(c.sim.readSysfs().patches[MOD]?.enabled).toBe('1');
      for (const h of [a, b, c]) expect(lockHeld(h.sim.root)).toBe(false);
      // lab001's install + load exec did not come back (the cap): before its rollback undid
      // anything, the batch was stopped on the host (lock.ts stopBatchScript), and only there
      const stops = (h: string) =>
        (sent.get(h) ?? []).flatMap((cmd, k) =>
          cmd.includes('batch.stop') && !cmd.includes('kpatch') ? [k] : [],
        );
      const firstUndo = (sent.get('lab001') ?? []).findIndex((cmd) =>
        /kpatch (force )?unload|kpatch uninstall/.test(cmd),
      );
      expect(stops('lab001')).toHaveLength(1);
      expect(stops('lab001')[0]).toBeLessThan(firstUndo);
      expect([stops('lab002'), stops('lab003')]).toEqual([[], []]);
      const audit = readFileSync(join(lab.dir, 'audit.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { host: string; result: string; message: string });
      // each host's `started` record, then its end record, in the order the hosts ended
      const ends = audit.filter((x) => x.result !== 'started');
      expect(ends.map((x) => [x.host, x.result]).sort()).toEqual([
        ['lab001', 'failed'],
        ['lab002', 'failed'],
        ['lab003', 'changed'],
      ]);
      for (const h of ['lab001', 'lab002', 'lab003'])
        expect(audit.filter((x) => x.host === h).map((x) => x.result)[0], h).toBe('started');
      expect(ends.find((x) => x.host === 'lab001')?.message).toMatch(/printed more than 8 MiB/);
    } finally {
      lab.onExec = undefined;
      honestKpatch(a);
      honestKpatch(c);
      rmSync(join(b.sim.root, 'var/tmp/flood'), { force: true });
    }
  });

  it('apply: a flooding step alone (its exec did not come back) is stopped before its rollback', async () => {
    const [a] = lab.hosts;
    if (!a) throw new Error('no lab host');
    // the patch installed by hand, not loaded: the plan is its load alone, in an exec of its own
    mkdirSync(join(a.sim.root, 'var/tmp'), { recursive: true });
    copyFileSync(join(lab.dir, 'kpatch-cve.ko'), join(a.sim.root, 'var/tmp/kpatch-cve.ko'));
    const installed = await a.sim.run(['kpatch', 'install', '--', 'var/tmp/kpatch-cve.ko']);
    expect(installed.code, installed.stderr).toBe(0);
    floodingKpatch(a, 'load');
    const sent: string[] = [];
    lab.onExec = (h, command) => {
      if (h === a) sent.push(command);
    };
    try {
      const r = await kpfleet([
        'apply',
        '--yes',
        '--limit',
        'lab001',
        '--report',
        'report-alone.json',
      ]);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      const report = JSON.parse(readFileSync(join(lab.dir, 'report-alone.json'), 'utf8')) as {
        hosts: {
          outcome: string;
          message: string;
          steps: { label: string; rollback?: boolean }[];
        }[];
      };
      const host = report.hosts[0];
      expect(host?.steps.filter((s) => s.rollback !== true).map((s) => s.label)).toEqual([
        expect.stringMatching(/^\+ load cve /) as unknown,
      ]);
      expect(host?.outcome).toBe('failed');
      expect(host?.message).toMatch(
        /^\+ load cve .*kpatch load printed more than 8 MiB.*; rolled back$/,
      );
      // the load may still have run on the host: it was stopped there (lock.ts stopBatchScript)
      // before the rollback unloaded anything, once
      const stops = sent.flatMap((cmd, k) =>
        cmd.includes('batch.stop') && !cmd.includes('kpatch') ? [k] : [],
      );
      const load = sent.findIndex((cmd) => cmd.includes('kpatch load'));
      const firstUndo = sent.findIndex((cmd) => /kpatch (force )?unload/.test(cmd));
      expect(stops).toHaveLength(1);
      expect(load).toBeLessThan(stops[0] ?? -1);
      expect(stops[0]).toBeLessThan(firstUndo);
      // as before the run: installed, not loaded, the lock free
      expect(a.sim.readSysfs().patches[MOD]).toBeUndefined();
      expect(a.sim.readSysfs().installed).toEqual([{ kernel: EL9, file: 'kpatch-cve.ko' }]);
      expect(lockHeld(a.sim.root)).toBe(false);
    } finally {
      lab.onExec = undefined;
      honestKpatch(a);
      await a.sim.run(['kpatch', 'uninstall', '-k', EL9, MOD]);
    }
  });
});
