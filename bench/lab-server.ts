/**
 * The in-process lab as its own process, for the scale bench: N hosts in replay mode (one shared
 * host state; each distinct command runs once for real, then is answered from its recording; the
 * SSH side is real for every host; see LabOptions.replay), so kpfleet's CPU and memory are
 * measured apart from the servers'. Writes the project (kpfleet.yml, the patch .ko) into DIR.
 *   tsx bench/lab-server.ts N DIR [K]
 * Also writes DIR/state.json (key, known_hosts, user, each host's address and port: what
 * bench/floor.ts reads). Prints one JSON line when ready; for each line `counts` on stdin, one line
 * {"connections": [...], "execs": [...], "subsystems": [...], "loaded": b, "real": r,
 * "replayed": p} (per host, since the last one; subsystems are SFTP channels, the uploads;
 * whether the shared host has the patch loaded; commands run for real and replayed since the last
 * reset); for each line `reset`, every connection cut, the shared host put back to "never had
 * the patch" and the recordings forgotten, then {"reset": true}; at stdin's end closes every host
 * and exits.
 *
 * With K (the 100,000-host run, planned as K shards): no more than one shard's hosts listen at a
 * time, each on a fixed address of its own (LabOptions.fixed: 127.x.y.z, one port, one shared
 * host key), so the inventory and known_hosts hold all N hosts and never change; a line `serve I`
 * makes shard I of K the one listening and answers {"served": I, "hosts": n, "seconds": s}. One
 * address and port per host would need N listeners and file descriptors (N > 65,535 ports on one
 * address); one shard at a time needs N/K.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Lab } from '../lab/lab.ts';
import { inShard } from '../src/inventory/shard.ts';
import { EL9, SCALE_FORKS, writeProject } from './lib.ts';
import type { LabCounts } from './lib.ts';

const n = Number(process.argv[2]);
const dir = process.argv[3] ?? '';
const shards = process.argv[4] === undefined ? undefined : Number(process.argv[4]);
const t0 = performance.now();
const lab = await Lab.start({
  hosts: n,
  dir,
  replay: true,
  // the simulated time (a patch's transition) is the host's: next to none, as the rest
  simProfile: { TIME_SCALE: '0.01' },
  ...(shards !== undefined ? { fixed: { serve: () => false } } : {}),
});
const first = lab.hosts[0];
if (!first) throw new Error('no hosts');
writeProject(dir, (ko) => first.sim.makeModule(ko, { name: 'livepatch_cve', kernel: EL9 }), {
  forks: SCALE_FORKS,
});
writeFileSync(
  join(dir, 'state.json'),
  JSON.stringify({
    key: lab.keyPath,
    knownHosts: lab.knownHostsPath,
    user: lab.user,
    hosts: lab.hosts.map((h) => ({ name: h.name, address: h.address, port: h.port })),
  }),
);
console.log(
  JSON.stringify({ ready: true, hosts: n, startSeconds: (performance.now() - t0) / 1000 }),
);

/** The shared host back to "never had the patch" (unloaded, uninstalled, uploads removed). */
async function reset(): Promise<void> {
  if (!first) return;
  lab.disconnectAll();
  const r = await first.sim.run(
    'kpatch force unload livepatch_cve >/dev/null 2>&1; kpatch uninstall livepatch_cve >/dev/null 2>&1; true',
  );
  if (r.code !== 0) throw new Error(`reset: ${r.stderr}`);
  rmSync(join(first.sim.root, 'home/kpfleet/livepatch-cve.ko'), { force: true });
  rmSync(join(first.sim.root, 'home/kpfleet/.kpfleet'), { recursive: true, force: true });
  if (Object.keys(first.sim.readSysfs().patches).length) throw new Error('reset: still loaded');
  lab.replays?.reset();
}
// a line `counts` on stdin: the logins, execs and SFTP channels per host since the last such line
createInterface({ input: process.stdin })
  .on('line', (line) => {
    const [word, arg] = line.trim().split(/\s+/);
    if (word === 'serve' && shards !== undefined) {
      const shard = { index: Number(arg), count: shards };
      const t = performance.now();
      void lab
        .serve((name) => inShard(name, shard))
        .then(() => {
          const served = lab.hosts.filter((h) => h.server !== undefined).length;
          const seconds = (performance.now() - t) / 1000;
          console.log(JSON.stringify({ served: shard.index, hosts: served, seconds }));
        });
      return;
    }
    if (word === 'reset') {
      void reset().then(() => console.log(JSON.stringify({ reset: true })));
      return;
    }
    if (word !== 'counts') return;
    console.log(
      JSON.stringify({
        connections: lab.hosts.map((h) => h.connections),
        execs: lab.hosts.map((h) => h.execs),
        subsystems: lab.hosts.map((h) => h.subsystems),
        loaded: first.sim.readSysfs().patches['livepatch_cve']?.enabled === '1',
        real: lab.replays?.real ?? 0,
        replayed: lab.replays?.replayed ?? 0,
      } satisfies LabCounts),
    );
    for (const h of lab.hosts) {
      h.connections = 0;
      h.execs = 0;
      h.subsystems = 0;
    }
  })
  .on('close', () => {
    void lab.close().then(() => process.exit(0));
  });
