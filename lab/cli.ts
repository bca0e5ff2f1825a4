/**
 * `npm run fleet -- up --hosts N [--profiles rhel9,rhel8] [--sudo password] [--dir D]`,
 * `npm run fleet -- down [--dir D]`, `npm run fleet -- status [--dir D]`.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_FLEET_DIR, fleetDown, fleetStatus, fleetUp, readState } from './fleet.ts';
import type { SudoMode } from './fleet.ts';
import { isProfileName, PROFILES } from './profiles.ts';
import type { ProfileName } from './profiles.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    hosts: { type: 'string', default: '8' },
    dir: { type: 'string', default: DEFAULT_FLEET_DIR },
    profiles: { type: 'string', default: 'rhel9' },
    sudo: { type: 'string', default: 'nopasswd' },
    subnet: { type: 'string', default: '77' },
    'time-scale': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

const usage = `usage: npm run fleet -- up [--hosts N] [--profiles ${Object.keys(PROFILES).join(',')}] [--sudo nopasswd|password|kpatch-only] [--time-scale F] [--dir D]
       npm run fleet -- status [--dir D]
       npm run fleet -- down [--dir D]`;

async function main(): Promise<number> {
  const [command] = positionals;
  if (values.help === true || command === undefined) {
    console.log(usage);
    return command === undefined && values.help !== true ? 64 : 0;
  }
  const dir = values.dir;
  switch (command) {
    case 'up': {
      const hosts = Number(values.hosts);
      const profiles = values.profiles.split(',');
      const bad = profiles.filter((p) => !isProfileName(p));
      if (
        !Number.isInteger(hosts) ||
        hosts < 1 ||
        bad.length ||
        !['nopasswd', 'password', 'kpatch-only'].includes(values.sudo)
      ) {
        console.error(usage);
        return 64;
      }
      const started = Date.now();
      const fleet = await fleetUp({
        hosts,
        dir,
        profiles: profiles as ProfileName[],
        sudo: values.sudo as SudoMode,
        subnet: Number(values.subnet),
        ...(values['time-scale'] !== undefined
          ? { simProfile: { TIME_SCALE: values['time-scale'] } }
          : {}),
      });
      const s = fleet.state;
      const first = fleet.hosts[0];
      console.log(`${s.hosts.length} hosts up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      console.log(`  inventory:   ${s.inventory}`);
      console.log(`  known_hosts: ${s.knownHosts}`);
      console.log(`  client key:  ${s.key}`);
      if (first)
        console.log(
          `  try:         ssh -i ${s.key} -o UserKnownHostsFile=${s.knownHosts} ${s.user}@${first.address} sudo kpatch list`,
        );
      return 0;
    }
    case 'status': {
      const state = readState(dir);
      for (const { host, processes } of fleetStatus(dir)) {
        console.log(
          `${host.name}\t${host.address}:${host.port}\t${host.profile}\t${processes ? `up (${processes} processes)` : 'DOWN'}`,
        );
      }
      console.log(`${state.hosts.length} hosts in ${state.dir}`);
      return 0;
    }
    case 'down': {
      const { killed } = await fleetDown(dir);
      console.log(`fleet down: ${killed} processes stopped, ${dir} removed`);
      return 0;
    }
    default:
      console.error(usage);
      return 64;
  }
}

process.exitCode = await main();
