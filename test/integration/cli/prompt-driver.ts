/**
 * The confirmation prompt as `main` runs it (the process guard installed), for
 * prompt-ctrl-c.test.ts: asks, then prints what was answered.
 */
import { confirmed } from '../../../src/cli/prompt.ts';
import { guardedExitCode, guardProcess } from '../../../src/cli/signals.ts';
import { processIo } from '../../../src/cli/io.ts';

const io = processIo();
guardProcess(io);
const yes = await confirmed(undefined, 'Go on? ', 'refused', io);
io.stdout.write(yes ? 'ANSWER yes\n' : 'ANSWER no\n');
process.exitCode = guardedExitCode(0);
