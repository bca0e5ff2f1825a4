/**
 * A bug, for the tests of how kpfleet ends on one (signals-and-crashes.test.ts): loaded with
 * `node --import` before the CLI, it waits for the file KPFLEET_TEST_CRASH_WHEN to appear (the
 * test makes it once the run is where it wants the bug), then throws from a timer
 * (KPFLEET_TEST_CRASH=exception) or rejects a promise nobody handles (=rejection). Test code only: nothing of it is in src/.
 */
import fs from 'node:fs';

const when = process.env.KPFLEET_TEST_CRASH_WHEN;
const kind = process.env.KPFLEET_TEST_CRASH ?? 'exception';
if (when !== undefined) {
  const poll = setInterval(() => {
    if (!fs.existsSync(when)) return;
    clearInterval(poll);
    if (kind === 'rejection')
      void Promise.reject(new Error('test bug: a rejection nobody handles'));
    else throw new TypeError('test bug: thrown from a timer');
  }, 20);
  poll.unref();
}
