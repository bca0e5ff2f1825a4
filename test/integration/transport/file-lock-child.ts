/**
 * One process of the known_hosts lock tests (file-lock.test.ts), using `withFileLock` as kpfleet
 * does:
 *   node --import tsx file-lock-child.ts crash <file>          take the lock and die holding it
 *   node --import tsx file-lock-child.ts hold <file> <marker>   take it, write <marker>, hold it
 *   node --import tsx file-lock-child.ts try <file> <timeoutMs> take it once; print the outcome
 */
import { writeFileSync } from 'node:fs';
import { withFileLock } from '../../../src/transport/ssh/file-lock.ts';

const [mode, file, arg] = process.argv.slice(2);
if (file === undefined) throw new Error('usage: crash|hold|try <file> [arg]');

if (mode === 'crash') {
  await withFileLock(file, () => process.exit(0));
} else if (mode === 'hold') {
  await withFileLock(file, async () => {
    writeFileSync(arg ?? `${file}.held`, String(process.pid));
    // until killed (a timer keeps the process alive; a bare pending promise would not)
    await new Promise(() => setInterval(() => undefined, 60_000));
  });
} else {
  const outcome = await withFileLock(file, () => ({ ok: true }), { timeoutMs: Number(arg) }).catch(
    (err: unknown) => ({ ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
  process.stdout.write(`${JSON.stringify(outcome)}\n`);
}
