/**
 * `ssh -G` under an ssh config (issue 20): `kpfleet plan` on N lab hosts (replay mode,
 * bench/lab-server.ts, so the hosts cost next to nothing) three ways: `ssh_config: false` (no
 * file, one `ssh -G -F none`), the default (no `ssh_config`: ~/.ssh/config then
 * /etc/ssh/ssh_config, as ssh reads them for this user), and a user-style config file
 * (`ssh_config: PATH`, read with `ssh -F`, as a ~/.ssh/config would be; $HOME cannot stand in for
 * ~/.ssh/config, since ssh takes the passwd entry's). Each: CPU of the whole CLI with its ssh
 * children (median of the rounds, per host), and the `ssh -G` runs, counted by an `ssh` first on
 * PATH that logs each call and runs the real one (a `sh` per run: the count costs a little CPU).
 *   tsx bench/ssh-config.ts [--hosts 64,1000] [--rounds 3] → bench/results/ssh-config.json
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { build, machine, startLabServer, stats, timeKpfleet, writeResult } from './lib.ts';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '64,1000' },
    rounds: { type: 'string', default: '3' },
  },
});
const ROUNDS = Number(values.rounds);

/** A ~/.ssh/config as an operator might write one: a bastion, a domain, defaults for all. */
const USER_CONFIG = [
  'Host bastion',
  '  HostName 10.0.0.1',
  '  User jump',
  'Host *.prod.example.com',
  '  User deploy',
  '  IdentityFile ~/.ssh/id_ed25519',
  'Host *',
  '  ServerAliveInterval 30',
  '  HashKnownHosts yes',
  '  AddKeysToAgent no',
  '',
].join('\n');

const VARIANTS = {
  none: 'ssh_config: false',
  default: '',
  file: 'ssh_config: user_ssh_config',
} as const;
type Variant = keyof typeof VARIANTS;

const realSsh = spawnSync('sh', ['-c', 'command -v ssh'], { encoding: 'utf8' }).stdout.trim();
if (realSsh === '') throw new Error('no ssh on PATH');

build();
const rows: Record<string, unknown>[] = [];
for (const n of values.hosts.split(',').map(Number)) {
  const dir = mkdtempSync(join(tmpdir(), 'kpfleet-bench-sshcfg-'));
  const lab = await startLabServer(n, dir);
  try {
    const bin = join(dir, 'bin');
    const log = join(dir, 'ssh-g.log');
    mkdirSync(bin);
    writeFileSync(
      join(bin, 'ssh'),
      `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec '${realSsh}' "$@"\n`,
    );
    chmodSync(join(bin, 'ssh'), 0o755);
    writeFileSync(join(dir, 'user_ssh_config'), USER_CONFIG);
    const yml = readFileSync(join(dir, 'kpfleet.yml'), 'utf8');
    const runs: Record<Variant, { cpu: number[]; spawns: number[] }> = {
      none: { cpu: [], spawns: [] },
      default: { cpu: [], spawns: [] },
      file: { cpu: [], spawns: [] },
    };
    for (let r = 0; r < ROUNDS; r++) {
      for (const v of Object.keys(VARIANTS) as Variant[]) {
        const setting = VARIANTS[v];
        writeFileSync(
          join(dir, 'kpfleet.yml'),
          yml.replace(
            /^connection: .*$/m,
            `connection: { known_hosts: known_hosts${setting === '' ? '' : `, ${setting}`} }`,
          ),
        );
        rmSync(log, { force: true });
        const t = timeKpfleet(['plan', '--format', 'json'], dir, {
          PATH: `${bin}:${process.env.PATH ?? ''}`,
        });
        const summary = (JSON.parse(t.stdout) as { summary: { hosts: number; errors: number } })
          .summary;
        if (summary.hosts !== n || summary.errors !== 0)
          throw new Error(`plan (${v}) saw ${JSON.stringify(summary)}: ${t.stderr.slice(-2000)}`);
        runs[v].cpu.push(t.cpu);
        runs[v].spawns.push(
          existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).length : 0,
        );
        console.log(
          `${String(n)} hosts, ${v}: ${t.cpu.toFixed(2)} s CPU, ${String(runs[v].spawns.at(-1))} ssh -G`,
        );
      }
    }
    const row: Record<string, unknown> = { hosts: n };
    for (const v of Object.keys(VARIANTS) as Variant[]) {
      const cpu = stats(runs[v].cpu);
      row[v] = {
        cpuSeconds: cpu,
        cpuMsPerHost: (cpu.median * 1000) / n,
        sshGRuns: Math.max(...runs[v].spawns),
      };
    }
    rows.push(row);
  } finally {
    await lab.stop();
  }
}
writeResult('ssh-config.json', {
  when: new Date().toISOString(),
  machine: machine(),
  rounds: ROUNDS,
  rows,
});
