/**
 * The in-process lab as its own process, for the scale bench: N hosts in replay mode (one shared
 * host state; each distinct command runs once for real, then is answered from its recording; the
 * SSH side is real for every host; see LabOptions.replay), so kpfleet's CPU and memory are
 * measured apart from the servers'. Writes the project (kpfleet.yml, the patch .ko) into DIR.
 *   tsx bench/lab-server.ts N DIR
 * Prints one JSON line when ready; for each line `counts` on stdin, one line {"connections": [...],
 * "execs": [...]} (per host, since the last one); at stdin's end closes every host and exits.
 */
import { createInterface } from 'node:readline';
import { Lab } from '../lab/lab.ts';
import { EL9, SCALE_FORKS, writeProject } from './lib.ts';

const n = Number(process.argv[2]);
const dir = process.argv[3] ?? '';
const t0 = performance.now();
const lab = await Lab.start({ hosts: n, dir, replay: true });
const first = lab.hosts[0];
if (!first) throw new Error('no hosts');
writeProject(dir, (ko) => first.sim.makeModule(ko, { name: 'livepatch_cve', kernel: EL9 }), {
  forks: SCALE_FORKS,
});
console.log(
  JSON.stringify({ ready: true, hosts: n, startSeconds: (performance.now() - t0) / 1000 }),
);
// a line `counts` on stdin: the logins and execs per host since the last such line
createInterface({ input: process.stdin })
  .on('line', (line) => {
    if (line.trim() !== 'counts') return;
    console.log(
      JSON.stringify({
        connections: lab.hosts.map((h) => h.connections),
        execs: lab.hosts.map((h) => h.execs),
      }),
    );
    for (const h of lab.hosts) {
      h.connections = 0;
      h.execs = 0;
    }
  })
  .on('close', () => {
    void lab.close().then(() => process.exit(0));
  });
