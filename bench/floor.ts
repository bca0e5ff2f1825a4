/**
 * The SSH floor for the facts job (issue 8): one raw ssh2 connection and one exec per host, all in
 * parallel, gathering what the comparison gathers (`uname -r` and `kpatch list`), host keys
 * checked against the fleet's known_hosts, the key parsed once and signing from a KeyObject (as
 * kpfleet's own transport does). Nothing else: no parsing, no planning. With `--probe`
 * it runs kpfleet's facts probe instead, so the difference to kpfleet plan is kpfleet's own cost.
 *   tsx bench/floor.ts STATE_JSON [--probe]
 *   → prints {"seconds": …, "cpuMs": …, "hosts": …, "ok": …}; cpuMs is this process's CPU from the
 *     first connection to the last close (startup excluded).
 */
import { readFileSync } from 'node:fs';
import ssh2 from 'ssh2';
import type { AnyAuthMethod } from 'ssh2';
import { probeScript, SECTION_MARK } from '../src/facts/probe.ts';
import { signingWithKeyObject } from '../src/transport/ssh/keys.ts';

/** The fleet's state.json (lab/fleet.ts), or the replay lab's (bench/lab-server.ts): what is read. */
interface Hosts {
  key: string;
  knownHosts: string;
  user: string;
  hosts: { address: string; port: number }[];
}
const state = JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')) as Hosts;
// parsed once, and signing from a KeyObject made once: given the key's bytes, ssh2 parses them at
// every connection and hands OpenSSL the key's PEM at every signature (0.4 ms of CPU a host on
// OpenSSL 3), work kpfleet does not do, which a floor must not do either
const { Client, utils } = ssh2;
const parsed = utils.parseKey(readFileSync(state.key));
if (parsed instanceof Error || Array.isArray(parsed)) throw new Error(`${state.key}: not one key`);
const auth: AnyAuthMethod[] = [
  { type: 'publickey', username: state.user, key: signingWithKeyObject(parsed) },
];
const probe = process.argv.includes('--probe');
const command = probe ? probeScript() : 'uname -r; PATH=$PATH:/usr/sbin kpatch list';
const answered = (out: string) =>
  probe ? out.includes(`${SECTION_MARK} end`) : out.includes('Loaded patch modules:');
const known = new Map(
  readFileSync(state.knownHosts, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [host = '', , blob = ''] = l.split(' ');
      return [host, blob] as const;
    }),
);

function one(address: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const c = new Client();
    let out = '';
    c.on('ready', () => {
      c.exec(command, (err, stream) => {
        if (err) {
          c.end();
          done(false);
          return;
        }
        stream.on('data', (d: Buffer) => (out += d.toString()));
        stream.stderr.resume();
        stream.on('close', () => {
          c.end();
          done(answered(out));
        });
      });
    });
    c.on('error', () => done(false));
    c.connect({
      host: address,
      port,
      username: state.user,
      authHandler: auth,
      // as known_hosts names it: the address alone on port 22, else [address]:port
      hostVerifier: (k: Buffer) =>
        known.get(port === 22 ? address : `[${address}]:${String(port)}`) === k.toString('base64'),
    });
  });
}

const t0 = performance.now();
const cpu0 = process.cpuUsage();
const results = await Promise.all(state.hosts.map((h) => one(h.address, h.port)));
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
console.log(
  JSON.stringify({
    seconds,
    cpuMs: (cpu.user + cpu.system) / 1000,
    hosts: results.length,
    ok: results.filter(Boolean).length,
  }),
);
