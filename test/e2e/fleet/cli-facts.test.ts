/**
 * `kpfleet facts` (the built CLI) against the real-SSH fleet: kpfleet.yml + the fleet's Ansible
 * inventory, strict host keys, one exec per host, and exit code 4 naming the host when a host is
 * unreachable or its key is refused (issue 4 §3, issue 5 §4).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runBuilt } from '../../cli-built.ts';
import { fleetDown, fleetUp } from '../../../lab/fleet.ts';
import type { Fleet } from '../../../lab/fleet.ts';
import { TMP_BASE } from '../../../lab/host-dir.ts';

const DIR = join(TMP_BASE, `e2e-cli-facts-${String(process.pid)}`);
let fleet: Fleet;

const kpfleet = (args: string[]) => runBuilt(args, { cwd: DIR });

function project(knownHosts: string): void {
  writeFileSync(
    join(DIR, 'kpfleet.yml'),
    `inventory: inventory.ini\nconnection:\n  known_hosts: ${knownHosts}\n  ssh_config: false\n  connect_timeout: 3s\n`,
  );
}

beforeAll(async () => {
  fleet = await fleetUp({
    hosts: 3,
    dir: DIR,
    subnet: 86,
    profiles: ['rhel9', 'rhel8', 'upstream'],
    simProfile: { TIME_SCALE: '0.01' },
  });
}, 120_000);
afterAll(async () => {
  await fleetDown(DIR);
});

it('reads every host of the inventory, as JSON', async () => {
  project('known_hosts');
  const r = await kpfleet(['facts', '--json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout) as {
    hosts: { host: string; ok: boolean; facts: { kernel: string; kpatch: { version: string } } }[];
  };
  expect(out.hosts.map((h) => [h.host, h.ok, h.facts.kernel, h.facts.kpatch.version])).toEqual([
    ['h001', true, '5.14.0-362.8.1.el9_3.x86_64', '0.9.7'],
    ['h002', true, '4.18.0-477.10.1.el8_8.x86_64', '0.9.7'],
    ['h003', true, '6.14.0-1.fc42.x86_64', '0.9.11'],
  ]);
});

it('--limit, and the text form', async () => {
  project('known_hosts');
  const r = await kpfleet(['facts', '--limit', 'rhel8']);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^h002 {2}4\.18\.0-477\.10\.1\.el8_8\.x86_64 x86_64 {2}kpatch 0\.9\.7/);
  expect(r.stdout).toMatch(/1 host$/m);
});

it('an unknown host key is refused: exit 4, naming the host and the fingerprint; other hosts still read', async () => {
  const partial = join(DIR, 'known_hosts.partial');
  writeFileSync(
    partial,
    readFileSync(fleet.state.knownHosts, 'utf8').split('\n').slice(1).join('\n'),
  );
  project(partial);
  const r = await kpfleet(['facts']);
  expect(r.code).toBe(4);
  expect(r.stdout).toMatch(
    /^h001 {2}E_HOST_KEY: 127\.86\.0\.1 is not in known_hosts \(.*known_hosts\.partial\); it offered ssh-ed25519 SHA256:/m,
  );
  expect(r.stdout).toMatch(/^h002 {2}4\.18\.0/m);
});

it('an unreachable host: exit 4, the others are read', async () => {
  project('known_hosts');
  const h = fleet.host('h003');
  h.hang();
  try {
    const r = await kpfleet(['facts', '--json']);
    expect(r.code).toBe(4);
    const out = JSON.parse(r.stdout) as {
      hosts: { host: string; ok: boolean; error?: { code: string } }[];
    };
    expect(out.hosts.map((x) => [x.host, x.ok, x.error?.code])).toEqual([
      ['h001', true, undefined],
      ['h002', true, undefined],
      ['h003', false, 'E_UNREACHABLE'],
    ]);
  } finally {
    h.resume();
  }
});
