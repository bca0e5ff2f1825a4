/**
 * The example repository's pipeline files, read once for the tests of test/integration/examples:
 * the workflows and the setup action, typed as far as the tests look into them; the check that a
 * `kpfleet` command line in them is one the real CLI parser accepts; and a stub `kpfleet` that
 * records the arguments a script gives it.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { parse } from 'yaml';
import { runCli } from '../../../src/cli/main.ts';
import type { CliIo } from '../../../src/cli/io.ts';

export const ROOT = new URL('../../../', import.meta.url).pathname;
export const EXAMPLES = join(ROOT, 'examples');

export interface Step {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, string>;
  env?: Record<string, string>;
}
export interface Job {
  if?: string;
  'runs-on'?: string | string[];
  needs?: string | string[];
  environment?: string;
  permissions?: Record<string, string>;
  strategy?: { 'fail-fast'?: boolean; matrix?: Record<string, unknown[]> };
  env?: Record<string, string>;
  name?: string;
  steps: Step[];
}
export interface Workflow {
  on: Record<string, unknown> & {
    workflow_dispatch?: { inputs?: Record<string, { options?: string[] }> };
  };
  jobs: Record<string, Job>;
}

const readWorkflow = (name: string) =>
  parse(readFileSync(join(EXAMPLES, '.github/workflows', name), 'utf8')) as Workflow;
export const workflow = readWorkflow('kpfleet.yml');
/** The sharded pipeline: plan as a matrix, merge, a matrix per wave with a gate between. */
export const shardedWorkflow = readWorkflow('kpfleet-sharded.yml');
export const action = parse(
  readFileSync(join(EXAMPLES, '.github/actions/setup-kpfleet/action.yml'), 'utf8'),
) as { runs: { steps: Step[] } };

/** Every `kpfleet …` command line in a script: the words up to a redirection or the line's end. */
export function kpfleetCommands(script: string): string[][] {
  return script
    .split('\n')
    .map((line) => /(?:^|[\s;&|(])kpfleet\s+([^\n>|;&]*)/.exec(line)?.[1])
    .filter((rest): rest is string => rest !== undefined)
    .map((rest) => rest.trim().split(/\s+/));
}

/** Each `kpfleet` command line of a workflow's `run` steps, with its job. */
export function workflowCommands(w: Workflow): { job: string; argv: string[] }[] {
  return Object.entries(w.jobs).flatMap(([job, j]) =>
    j.steps.flatMap((s) => kpfleetCommands(s.run ?? '').map((argv) => ({ job, argv }))),
  );
}

/** `kpfleet … --help` of the real program. */
async function help(command: readonly string[]): Promise<string> {
  let out = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (out += s) },
    env: { NO_COLOR: '1' },
    cwd: ROOT,
  };
  expect(await runCli([...command, '--help'], io)).toBe(0);
  return out;
}

/**
 * Expects the command (and subcommand: `plan merge`, `report merge`) to exist and each of the
 * line's options to be one of its options, as its `--help` lists them.
 */
export async function expectCliAccepts(argv: readonly string[], where: string): Promise<void> {
  const [command = '', next = '', ...rest] = argv;
  const sub = /^[a-z]+$/.test(next) ? [command, next] : [command];
  const text = await help(sub);
  const words = sub.length === 2 ? rest : [next, ...rest];
  expect(text, `${where}: kpfleet ${sub.join(' ')}`).toContain(`Usage: kpfleet ${sub.join(' ')} `);
  for (const word of words.filter((w) => w.startsWith('-'))) {
    expect(text, `${where}: kpfleet ${argv.join(' ')}: ${word}`).toMatch(
      new RegExp(`(^|[\\s,])${word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[\\s,]`, 'm'),
    );
  }
}

/**
 * A stub `kpfleet` in `<base>/kpfleet-bin` (put it first on PATH): it records its arguments,
 * prints `stub kpfleet` and exits with $STUB_EXIT (0 unless set). `argv()` reads the arguments of
 * its last call ([] before any); `reset()` forgets them.
 */
export function stubKpfleet(base: string) {
  const bin = join(base, 'kpfleet-bin');
  const file = join(base, 'kpfleet-argv');
  mkdirSync(bin, { recursive: true });
  writeFileSync(
    join(bin, 'kpfleet'),
    `#!/bin/sh\nprintf '%s\\0' "$@" > '${file}'\necho 'stub kpfleet'\nexit "\${STUB_EXIT:-0}"\n`,
  );
  chmodSync(join(bin, 'kpfleet'), 0o755);
  const reset = () => {
    writeFileSync(file, '');
  };
  reset();
  return { bin, reset, argv: () => readFileSync(file, 'utf8').split('\0').slice(0, -1) };
}
