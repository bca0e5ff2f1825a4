/**
 * The fault matrix (issue 15 point 7): each row of rows.ts on the real-SSH fleet, with the built
 * CLI. A row has two hosts of its own, both in the same state: one gets the fault, the other none.
 * Recorded: the faulted host's outcome and message, the exit code, the other host's outcome,
 * whether anything was left half-changed once the fault is cleared (the host's state compared
 * with the state before the run and with the other host's, which is as asked), and whether a
 * rerun converges (`apply` exit 0, then `plan --detailed-exitcode` exit 0). Each row's
 * expectation is asserted; when every row ran, docs/reliability.md is written (report.ts).
 */
import { spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { EL9, kpfleetIn, writeProject } from '../project.ts';
import { fleetDown, fleetUp } from '../../lab/fleet.ts';
import type { Fleet, FleetHost } from '../../lab/fleet.ts';
import { inventoryText, knownHostsLine, TMP_BASE } from '../../lab/host-dir.ts';
import { lockHeld } from '../../lab/sim-host.ts';
import { writeReliability } from './report.ts';
import { ROWS } from './rows.ts';
import type { Result, Row } from './rows.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/kpfleet.js');
const DIR = join(TMP_BASE, `faults-${String(process.pid)}`);
const MOD = 'livepatch_cve_2024_1086';
const KO = 'livepatch-cve-2024-1086.ko';
/** The kpatch-patch package of rows with `patch: 'rpm'` (docs/kpatch-behaviour.md §4.3), in each host's repository. */
const RPM = {
  name: 'kpatch-patch-5_14_0-362_8_1',
  spec: 'kpatch-patch-5_14_0-362_8_1-1-1',
  mod: 'kpatch_5_14_0_362_8_1_1_1',
  ko: 'kpatch-5_14_0-362_8_1-1-1.ko',
};
type Patch = 'file' | 'rpm';
const SUBNET = 100;
let fleet: Fleet;
const results = new Map<number, Result>();

interface Report {
  hosts: { host: string; outcome: string; message: string }[];
}

const kpfleet = (dir: string, args: string[]) => kpfleetIn(dir)(args);

function readReport(dir: string, file: string): Report {
  const path = join(dir, file);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Report) : { hosts: [] };
}

const outcomeOf = (r: Report, host: string): string =>
  r.hosts.find((h) => h.host === host)?.outcome ?? '(none)';

/** A row's folder: its kpfleet.yml asks `goal` of its two hosts. */
function project(dir: string, hosts: FleetHost[], goal: 'loaded' | 'absent', patch: Patch): void {
  mkdirSync(join(dir, 'patches'), { recursive: true });
  copyFileSync(join(DIR, KO), join(dir, 'patches', KO));
  writeFileSync(
    join(dir, 'inventory.ini'),
    inventoryText(
      hosts.map((h) => h.state),
      fleet.state.key,
    ),
  );
  copyFileSync(fleet.state.knownHosts, join(dir, 'known_hosts'));
  writeProject(dir, {
    connection: ['command_timeout: 10s'],
    patches: [
      patch === 'rpm'
        ? { name: 'cve-2024-1086', module: RPM.mod, rpm: RPM.spec }
        : { name: 'cve-2024-1086', module: MOD, file: `patches/${KO}` },
    ],
    groups: { rhel9: { [goal]: ['cve-2024-1086'] } },
  });
}

/**
 * What of a host a run may change or leave behind, without names or times: the patch in sysfs,
 * resident modules, installed files, the staging folder, the lock, the rollback copies.
 */
/** Whether the klp manager's store holds `<mod>.ko` for some kernel. */
function klpStored(h: FleetHost, mod: string): boolean {
  const root = join(h.sim.root, 'var/lib/kpfleet/klp');
  return existsSync(root) && readdirSync(root).some((k) => existsSync(join(root, k, `${mod}.ko`)));
}

function hostState(h: FleetHost, patch: Patch): Record<string, string> {
  const [mod, ko] = patch === 'rpm' ? [RPM.mod, RPM.ko] : [MOD, KO];
  const s = h.sim.readSysfs();
  const p = s.patches[mod];
  const listing = (rel: string): string => {
    const path = join(h.sim.root, rel);
    // an empty staging or rollback folder holds nothing of a run
    return existsSync(path) && readdirSync(path).length > 0 ? '[not empty]' : 'none';
  };
  return {
    sysfs: p ? `enabled=${p.enabled} transition=${p.transition}` : 'none',
    module: s.modules[mod] ? 'resident' : 'none',
    // in kpatch's store, or in the klp manager's as <module>.ko (a host without kpatch is a klp
    // host: the "kpatch missing" row, docs/klp-behaviour.md §K.1)
    installed: s.installed.some((i) => i.file === ko) || klpStored(h, mod) ? 'yes' : 'no',
    // the kpatch-patch package, in the simulator's rpm database (rpm rows only)
    ...(patch === 'rpm'
      ? { package: existsSync(join(h.sim.root, 'var/lib/kpsim/rpmdb', RPM.name)) ? 'yes' : 'no' }
      : {}),
    staging: listing('home/kpfleet/.kpfleet/stage'),
    // held now (src/apply/lock.ts), or an older kpfleet's lock folder
    lock:
      lockHeld(h.sim.root) || existsSync(join(h.sim.root, 'var/lib/kpfleet/lock'))
        ? 'held'
        : 'none',
    // the crash guard's records (a load the host went down in)
    records: listing('var/lib/kpfleet/loading'),
    rollback: listing('var/lib/kpfleet/rollback'),
  };
}

/** A host as asked, with nothing of a run left on it. */
const CLEAN = { staging: 'none', lock: 'none', rollback: 'none', records: 'none' };
function goalState(goal: 'loaded' | 'absent', patch: Patch): Record<string, string> {
  const pkg = patch === 'rpm' ? { package: goal === 'loaded' ? 'yes' : 'no' } : {};
  return goal === 'loaded'
    ? { sysfs: 'enabled=1 transition=0', module: 'resident', installed: 'yes', ...pkg, ...CLEAN }
    : { sysfs: 'none', module: 'none', installed: 'no', ...pkg, ...CLEAN };
}

function differences(a: Record<string, string>, b: Record<string, string>): string[] {
  return Object.keys(a)
    .filter((k) => a[k] !== b[k])
    .map((k) => `${k}: ${a[k] ?? ''}`);
}

/** Host names, addresses, times and ids out of a message, so the document is the same each run. */
function normalise(text: string, names: [string, string]): string {
  return text
    .replaceAll(names[0], 'HOST')
    .replaceAll(names[1], 'OTHER')
    .replace(/127\.\d+\.\d+\.\d+/g, 'ADDR')
    .replace(/SHA256:[A-Za-z0-9+/=]+/g, 'SHA256:KEY')
    .replace(/\S*\/known_hosts:\d+/g, 'known_hosts:N')
    .replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, 'TIME')
    .replace(/\b[0-9a-f]{12,}\b/g, 'ID')
    .replace(/\b\d+(\.\d+)?\s?(ms|s)\b/g, 'N $2')
    .replace(/\s+/g, ' ')
    .trim();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!what()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(50);
  }
}

/** A new ed25519 key for the host's sshd, which re-reads it on SIGHUP. */
async function changeHostKey(h: FleetHost): Promise<string> {
  const key = join(h.dir, 'ssh_host_ed25519_key');
  rmSync(key, { force: true });
  rmSync(`${key}.pub`, { force: true });
  await new Promise<void>((done, fail) =>
    spawn('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', h.name, '-f', key]).on(
      'close',
      (c) => (c === 0 ? done() : fail(new Error('ssh-keygen failed'))),
    ),
  );
  process.kill(h.state.pid, 'SIGHUP');
  await sleep(500);
  return knownHostsLine(h.address, h.state.port, readFileSync(`${key}.pub`, 'utf8'));
}

/**
 * The host's next load takes about 3 s, inside kpatch's own wait (15 + 60 simulated s at
 * TIME_SCALE 0.1), so a run is seen holding the host while it loads.
 */
function slowLoad(h: FleetHost): void {
  h.sim.setProfile({ TIME_SCALE: 0.1 });
  h.fault('stall', '30');
}

const loadInProgress = (h: FleetHost): boolean =>
  h.sim.readSysfs().patches[MOD]?.transition === '1';

async function runRow(row: Row, index: number): Promise<Result> {
  const host = fleet.hosts[2 * index];
  const other = fleet.hosts[2 * index + 1];
  if (!host || !other) throw new Error('fleet too small');
  const names: [string, string] = [host.name, other.name];
  const dir = join(DIR, `row${String(index)}`);
  const start = row.start ?? 'bare';
  const patch = row.patch ?? 'file';
  if (patch === 'rpm')
    for (const h of [host, other]) h.sim.addPackage({ version: '1', release: '1' });
  if (start === 'loaded') {
    project(dir, [host, other], 'loaded', patch);
    const r = await kpfleet(dir, ['apply', '--yes']);
    if (r.code !== 0) throw new Error(`setting up ${row.fault}: ${r.output}`);
  }
  project(dir, [host, other], start === 'loaded' ? 'absent' : 'loaded', patch);
  const before = hostState(host, patch);
  let note: string | undefined;
  let first: { code: number | null } = { code: null };

  switch (row.special) {
    case 'host-key': {
      const plan = await kpfleet(dir, ['plan', '--out', 'plan.json']);
      if (plan.code !== 0) throw new Error(plan.output);
      const line = await changeHostKey(host);
      first = await kpfleet(dir, ['apply', '--yes', '--report', 'first.json', 'plan.json']);
      // the operator checks the new key and records it; then runs again
      const known = readFileSync(join(dir, 'known_hosts'), 'utf8')
        .split('\n')
        .filter((l) => l && !l.startsWith(`${host.address} `));
      writeFileSync(join(dir, 'known_hosts'), [...known, line, ''].join('\n'));
      break;
    }
    case 'concurrent': {
      // a run holds the host (its load takes 3 s) when a second run for it starts; the second
      // applies a plan saved before the first began, so it reaches the host's lock
      const saved = await kpfleet(dir, ['plan', '--limit', host.name, '--out', 'second.plan.json']);
      if (saved.code !== 0) throw new Error(saved.output);
      slowLoad(host);
      const a = kpfleet(dir, ['apply', '--yes', '--report', 'first.json']);
      await until(() => loadInProgress(host), 120_000);
      const b = await kpfleet(dir, [
        'apply',
        '--yes',
        '--report',
        'second.json',
        '--audit-log',
        'second.jsonl',
        'second.plan.json',
      ]);
      first = await a;
      note = `second run: exit ${String(b.code)}, ${outcomeOf(readReport(dir, 'second.json'), host.name)}`;
      break;
    }
    case 'killed': {
      slowLoad(host);
      const child = spawn(process.execPath, [BIN, 'apply', '--yes', '--report', 'first.json'], {
        cwd: dir,
        env: {
          ...process.env,
          NO_COLOR: '1',
          SSH_AUTH_SOCK: '',
          XDG_STATE_HOME: join(dir, 'state'),
        },
        stdio: 'ignore',
      });
      const closed = new Promise<number | null>((r) =>
        child.on('close', (c, s) => r(c ?? (s ? 128 + 9 : null))),
      );
      await until(() => loadInProgress(host), 120_000);
      child.kill('SIGKILL');
      first = { code: await closed };
      await until(() => !loadInProgress(host), 120_000);
      break;
    }
    case 'hang-during-load': {
      slowLoad(host);
      const a = kpfleet(dir, ['apply', '--yes', '--report', 'first.json']);
      await until(() => loadInProgress(host), 120_000);
      host.hang();
      first = await a;
      break;
    }
    case undefined:
      row.inject?.(host);
      first = await kpfleet(dir, ['apply', '--yes', '--report', 'first.json']);
  }
  const report = readReport(dir, 'first.json');
  const mine = report.hosts.find((h) => h.host === host.name);
  if (row.clear) row.clear(host);
  else host.clearFaults();
  // a transition the fault left running completes or is reversed by kpatch's own time (a host
  // that was stopped mid-load finishes its transition once resumed)
  await sleep(300);
  // once resumed, the host finishes what it was doing: the load's transition, and the step that
  // ran it (sent with the install in one exec, apply/batch.ts), which then removes its record
  if (row.special === 'hang-during-load')
    await until(
      () =>
        !loadInProgress(host) && !existsSync(join(host.sim.root, 'var/lib/kpfleet/loading', MOD)),
      60_000,
    );
  const after = hostState(host, patch);
  const goal = goalState(start === 'loaded' ? 'absent' : 'loaded', patch);
  const halfChanged =
    differences(after, before).length === 0 || differences(after, goal).length === 0
      ? []
      : differences(after, goal);

  const rerun = await kpfleet(dir, ['apply', '--yes', '--report', 'rerun.json']);
  const plan = await kpfleet(dir, ['plan', '--detailed-exitcode']);
  const converged =
    rerun.code === 0 && plan.code === 0 && differences(hostState(host, patch), goal).length === 0;
  const rerunReport = readReport(dir, 'rerun.json');
  const otherOutcome =
    row.special === 'killed'
      ? `no report (killed); rerun: ${outcomeOf(rerunReport, other.name)}`
      : outcomeOf(report, other.name);
  return {
    outcome: mine?.outcome ?? '(not in the report)',
    message: normalise(mine?.message ?? '', names),
    exit: first.code,
    other: otherOutcome,
    rerunOutcome: outcomeOf(rerunReport, host.name),
    rerunExit: rerun.code,
    converged,
    halfChanged,
    ...(note ? { note: normalise(note, names) } : {}),
  };
}

beforeAll(async () => {
  fleet = await fleetUp({
    hosts: 2 * ROWS.length,
    dir: join(DIR, 'fleet'),
    subnet: SUBNET,
    profiles: ['rhel9'],
    simProfile: { TIME_SCALE: '0.01' },
  });
  fleet.hosts[0]?.sim.makeModule(join(DIR, KO), {
    name: MOD,
    kernel: EL9,
    cves: ['CVE-2024-1086'],
  });
}, 300_000);

afterAll(async () => {
  await fleetDown(join(DIR, 'fleet'));
  if (results.size === ROWS.filter((r) => r.inject || r.special).length)
    writeReliability(ROWS, results);
  rmSync(DIR, { recursive: true, force: true });
}, 1120_000);

ROWS.forEach((row, index) => {
  const title = `${row.fault} at ${row.phase}`;
  if (!row.inject && !row.special) {
    if (row.expect.kind !== 'pending')
      throw new Error(`${title}: a row without a fault must be pending`);
    it.skip(`${title} (pending: needs ${row.expect.needs})`, () => undefined);
    return;
  }
  it.concurrent(
    title,
    async () => {
      const r = await runRow(row, index);
      results.set(index, r);
      const shown = JSON.stringify(r, null, 2);
      const e = row.expect;
      if (e.kind === 'converges') {
        expect(r.halfChanged, shown).toEqual([]);
        expect(r.other, shown).toBe('changed');
        expect(r.converged, shown).toBe(true);
      } else if (e.kind === 'limit') {
        expect(e.holds(r), shown).toBe(true);
      } else {
        expect(e.today?.(r), shown).toBe(true);
      }
    },
    180_000,
  );
});
