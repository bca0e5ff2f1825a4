/**
 * A file name that starts with `-` (issue 14): it once reached `kpatch uninstall` where kpatch's
 * getopt read it as options, and the rollback broke. The CLI in-process against the lab: a
 * rollback that uninstalls `-kpatch-dash.ko`, and a planned removal of an unmanaged
 * `-vendor-fix.ko`, both on the kpatch simulator (lab/SPEC.md), which reads arguments as
 * kpatch does.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runInProcess } from '../../cli-in-process.ts';
import { Lab } from '../../../lab/lab.ts';

const EL9 = '5.14.0-362.8.1.el9_3.x86_64';
let lab: Lab;

const kpfleet = (args: string[]) =>
  runInProcess(args, {
    cwd: lab.dir,
    env: { HOME: lab.dir, XDG_STATE_HOME: join(lab.dir, 'state') },
  });

beforeAll(async () => {
  lab = await Lab.start({ hosts: 2, simProfile: { TIME_SCALE: '0.02' } });
  const [a, b] = lab.hosts;
  if (!a || !b) throw new Error('no lab hosts');
  mkdirSync(join(lab.dir, 'patches'), { recursive: true });
  const ko = join(lab.dir, 'patches/-kpatch-dash.ko');
  a.sim.makeModule(ko, { name: 'kpatch_dash', kernel: EL9, replace: false });
  const sha = createHash('sha256').update(readFileSync(ko)).digest('hex');
  // a vendor's module installed by hand on lab002, under a name that starts with `-`
  b.sim.makeModule(join(b.sim.root, 'var/tmp/-vendor-fix.ko'), {
    name: 'vendor_fix',
    kernel: EL9,
    replace: false,
  });
  const r = await b.sim.run(['kpatch', 'install', '--', 'var/tmp/-vendor-fix.ko']);
  if (r.code !== 0) throw new Error(`kpatch install: ${r.stderr}`);
  writeFileSync(join(lab.dir, 'inventory.ini'), readFileSync(lab.inventoryPath));
  writeFileSync(
    join(lab.dir, 'kpfleet.yml'),
    [
      'inventory: inventory.ini',
      'connection:',
      `  known_hosts: ${lab.knownHostsPath}`,
      '  ssh_config: false',
      'rollout:',
      '  forks: 2',
      '  waves: [100%]',
      '  max_failures: 100%',
      "  health_check: 'test ! -e /var/tmp/unhealthy'",
      'patches:',
      '  dash:',
      '    module: kpatch_dash',
      `    kernel: ${EL9}`,
      '    file: patches/-kpatch-dash.ko',
      `    sha256: ${sha}`,
      'groups:',
      '  rhel9:',
      '    loaded: [dash]',
      '    unmanaged: remove',
      '',
    ].join('\n'),
  );
});
afterAll(async () => {
  await lab.close();
});

it('a rollback uninstalls -kpatch-dash.ko, and an unmanaged -vendor-fix.ko is removed as planned', async () => {
  const [a, b] = lab.hosts;
  if (!a || !b) throw new Error('no lab hosts');
  mkdirSync(join(a.sim.root, 'var/tmp'), { recursive: true });
  writeFileSync(join(a.sim.root, 'var/tmp/unhealthy'), '');
  const r = await kpfleet(['apply', '--yes', '--report', 'report.json']);
  expect(r.code, r.stdout + r.stderr).toBe(1);
  const report = JSON.parse(readFileSync(join(lab.dir, 'report.json'), 'utf8')) as {
    hosts: {
      host: string;
      outcome: string;
      message: string;
      steps: { label: string; ok: boolean; rollback?: boolean; error?: string }[];
    }[];
  };
  const by = new Map(report.hosts.map((h) => [h.host, h]));
  // lab001: installed and loaded, the health check failed, and the rollback took it all back
  const one = by.get('lab001');
  expect(one?.outcome, JSON.stringify(one)).toBe('failed');
  expect(one?.message).toMatch(/health check failed.*rolled back/);
  expect(one?.steps.filter((s) => s.rollback === true).every((s) => s.ok)).toBe(true);
  expect(a.sim.readSysfs().installed).toEqual([]);
  expect(a.sim.readSysfs().patches.kpatch_dash).toBeUndefined();
  // lab002: the unmanaged module's file is gone, the declared patch loaded
  const two = by.get('lab002');
  expect(two?.outcome, JSON.stringify(two)).toBe('changed');
  expect(b.sim.readSysfs().installed).toEqual([{ kernel: EL9, file: '-kpatch-dash.ko' }]);
  expect(existsSync(join(b.sim.root, `var/lib/kpatch/${EL9}/-vendor-fix.ko`))).toBe(false);
  expect(b.sim.readSysfs().patches.kpatch_dash?.enabled).toBe('1');
});
