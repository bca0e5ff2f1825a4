/**
 * The audit log on a disk whose fsync never returns, in a process of its own, for
 * hung-fsync.test.ts: `node --import tsx hung-fsync-driver.ts MODE LOG FIFO`. A hung fsync is an
 * open of FIFO (no writer ever comes): a file system request that never returns, which keeps the
 * process alive as one on a hung disk does. Test code only: nothing of it is in src/.
 *
 * - `run-ends` / `run-ends-unguarded`: every fsync hangs; a host's started record is awaited
 *   (the bound, 0.2 s here, passes: the log fails), the run finishes, then kpfleet's `main` ending
 *   (`exitWhenDone(74)`; the unguarded one leaves that out, to show what it is for).
 * - `crash`: the started record is fsynced, then every fsync hangs and a bug is thrown while the
 *   run's steps are in flight (they never end): after the grace (0.1 s) the host is abandoned
 *   (its record written, its fsync hung) and the open connection is closed (`endNow`), the main
 *   thread not held by the fsync.
 */
import { fsync, open, openSync } from 'node:fs';
import { createAuditLog } from '../../../src/cli/apply-records.ts';
import type { FsyncOps } from '../../../src/cli/output-files.ts';
import { processIo } from '../../../src/cli/io.ts';
import {
  abortOnStopSignals,
  exitWhenDone,
  guardProcess,
  trackConnection,
} from '../../../src/cli/signals.ts';

const [mode = '', path = '', fifo = ''] = process.argv.slice(2);
let hung = mode !== 'crash';
const ops: FsyncOps & { fsyncSync: (fd: number) => void } = {
  fsync: (fd, done) => {
    if (!hung) {
      fsync(fd, done);
      return;
    }
    open(fifo, 'r', () => done(null));
  },
  // an fsync on the main thread, hung (what `abandon` called before it went off the main thread)
  fsyncSync: () => {
    openSync(fifo, 'r');
  },
};
const io = processIo();
const run = {
  time: new Date().toISOString(),
  operator: 't@test',
  configCommit: null,
  configFingerprint: null,
};
const planned = new Map([['web01', { fingerprint: null, changes: ['+ load x'] }]]);
const log = createAuditLog({ label: `the audit log ${path}`, path }, run, planned, io, ops, 200);
const started = {
  type: 'step-start',
  host: 'web01',
  index: 0,
  total: 1,
  label: '+ load x',
  rollback: false,
} as const;

if (mode === 'crash') {
  guardProcess(io);
  abortOnStopSignals(
    { abort: new AbortController(), graceMs: 100, onAbandon: () => log.abandon('abandoned') },
    io,
  );
  // what endNow closes: says so, as a connection's end releases its host's lock
  trackConnection({
    close: () => {
      io.stderr.write('connection closed\n');
      return Promise.resolve();
    },
  });
  log.onEvent(started);
  await log.durable();
  hung = true;
  // the steps in flight, which never end
  setInterval(() => undefined, 1000);
  setTimeout(() => {
    throw new Error('test bug: thrown while the steps are in flight');
  }, 10);
} else {
  log.onEvent(started);
  await log.durable();
  await log.finish([]);
  io.stderr.write(`run ended: ${log.ok ? 'ok' : 'failed'}\n`);
  process.exitCode = 74;
  if (mode === 'run-ends') exitWhenDone(74);
}
