/**
 * A small ProxyCommand for tests: connects to HOST:PORT and pipes its stdin and stdout there, as
 * `nc HOST PORT` would. `MAP` (`name=address`) stands for what a bastion knows and this machine
 * does not: HOST is replaced by the address it maps to. With MARKER, it first appends
 * `pid HOST:PORT` to that file, so a test can see that it ran, with what, and whether it ended.
 *   node tcp-proxy.js HOST PORT [MAP|-] [MARKER]
 */
import { appendFileSync } from 'node:fs';
import { connect } from 'node:net';

const [host, port, map, marker] = process.argv.slice(2);
if (host === undefined || port === undefined) {
  process.stderr.write('usage: tcp-proxy.js HOST PORT [MAP|-] [MARKER]\n');
  process.exitCode = 64;
} else {
  if (marker !== undefined) appendFileSync(marker, `${process.pid} ${host}:${port}\n`);
  const [from, to] = map !== undefined && map !== '-' ? map.split('=') : [];
  const socket = connect({ host: host === from ? to : host, port: Number(port) });
  socket.on('error', (err) => {
    process.stderr.write(`tcp-proxy: ${host}:${port}: ${err.message}\n`);
    process.exitCode = 1;
  });
  process.stdin.pipe(socket).pipe(process.stdout);
  socket.on('close', () => process.stdin.destroy());
}
