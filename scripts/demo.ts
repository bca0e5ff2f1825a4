/**
 * `npm start`: kpfleet on a simulated fleet, in about ten seconds, with nothing left running.
 *
 * Starts the demo fleet (scripts/demo-fleet.ts: 12 simulated kpatch hosts, each its own SSH
 * server on loopback in this process; three groups, two covered kernels, one uncovered host, one
 * unmanaged hotfix), then runs the built CLI as you would, in the project folder it wrote:
 * validate → plan → apply (live progress on a terminal) → plan again, which must be empty.
 * The hosts are stopped on every way out; the project folder stays for reading.
 *   npm start [-- --stay] [--project DIR]
 * --stay keeps the hosts running after the demo, for the README's tour, until Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  EL8,
  EL9,
  EL9_NEWER,
  ROOT,
  startDemoFleet,
  UNCOVERED,
  UNMANAGED_ON,
} from './demo-fleet.ts';

const { values } = parseArgs({
  options: {
    project: { type: 'string', default: join(ROOT, 'test/.tmp/demo') },
    stay: { type: 'boolean', default: false },
  },
});
const PROJECT = values.project;
const shown = relative(process.cwd(), PROJECT) || '.';

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[22m` : s);
const say = (s: string) => {
  process.stdout.write(`${s}\n`);
};

/** Runs the built CLI in the project folder, on this terminal, while the lab serves. */
function kpfleet(args: string[]): Promise<number> {
  say(`\n${bold(`$ kpfleet ${args.join(' ')}`)}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/kpfleet.js'), ...args], {
      cwd: PROJECT,
      stdio: 'inherit',
      env: { ...process.env, SSH_AUTH_SOCK: '' }, // the demo's key only, not your agent's
    });
    child.on('error', reject);
    child.on('close', (code) => {
      resolve(code ?? 1);
    });
  });
}

async function main(): Promise<number> {
  const started = performance.now();
  say(
    bold('kpfleet demo: 12 simulated hosts over real SSH on this machine; nothing else is touched'),
  );
  const fleet = await startDemoFleet(PROJECT);
  let stopping: (() => void) | undefined;
  const interrupted = new Promise<number>((resolve) => {
    stopping = () => {
      resolve(130);
    };
  });
  const onSignal = () => stopping?.();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    say(
      `\nThe project is in ${shown}/: kpfleet.yml, inventory.ini (groups web, db, batch), patches/` +
        `\nfor two kernels (${EL9}, ${EL8}). ${UNMANAGED_ON} runs a hotfix nobody declared;` +
        `\n${UNCOVERED} was rebooted into ${EL9_NEWER}, which no patch covers yet.`,
    );
    const page = join(PROJECT, 'status.html');
    // [the command, what it did, the exit code it must end with]
    const steps: [string[], string, number][] = [
      [
        ['validate'],
        'checked offline: YAML, schema, inventory, patch files and their checksums',
        0,
      ],
      [['plan'], 'read every host over SSH (one connection, one command each) and planned', 0],
      [
        ['apply', '--yes', '--report', 'report.json', '--audit-log', 'audit.jsonl'],
        'converged in waves (a canary first); every change verified on its host',
        0,
      ],
      [['plan', '--detailed-exitcode'], 'exit 0 with --detailed-exitcode: nothing left to do', 0],
      [
        ['status', '--out', 'html:status.html'],
        `exit 1: ${UNCOVERED} is exposed (no patch fits its kernel). The coverage page:\n  ${pathToFileURL(page).href}`,
        1,
      ],
    ];
    for (const [args, what, expected] of steps) {
      const code = await Promise.race([kpfleet(args), interrupted]);
      if (code === 130) return 130;
      if (code !== expected) {
        say(`\nkpfleet ${args.join(' ')} exited ${String(code)}: the demo stops here.`);
        return 1;
      }
      say(`→ ${what}`);
    }
    say(
      `\n${bold(`Done in ${((performance.now() - started) / 1000).toFixed(1)} s.`)} The project stays in ${shown}/` +
        `\n(kpfleet.yml, inventory.ini, the apply report report.json, the audit log audit.jsonl,` +
        `\nthe coverage page status.html).` +
        `\nNext:` +
        `\n  README.md          the tour (npm start -- --stay keeps these hosts up for it)` +
        `\n  examples/          an infrastructure repository with its GitHub Actions workflow` +
        `\n  docs/config.md     every field of kpfleet.yml` +
        `\n  kpfleet --help     the commands (node bin/kpfleet.js from this checkout)`,
    );
    if (values.stay) {
      say(
        `\n${bold('The 12 hosts keep running until Ctrl-C.')} In another terminal:` +
          `\n  cd ${shown} && alias kpfleet="node ${join(ROOT, 'bin/kpfleet.js')}"` +
          `\n  kpfleet facts --limit ${UNMANAGED_ON}`,
      );
      await interrupted;
    }
    return 0;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await fleet.close();
    if (values.stay) say('the demo hosts are stopped');
  }
}

process.exitCode = await main().catch((err: unknown) => {
  console.error(`the demo could not run: ${err instanceof Error ? err.message : String(err)}`);
  return 1;
});
