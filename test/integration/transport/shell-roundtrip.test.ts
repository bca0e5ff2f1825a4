/**
 * The quoting in src/transport/shell.ts against real shells: every generated word must reach
 * `printf '%s\0'` byte for byte through dash (/bin/sh), bash, `sh -c` nested twice (the login
 * shell running `sh -c '<command>'`, as `sudo -n -- sh -c` does), and `withBecome` itself (a
 * stand-in sudo that insists on `-n --`, and the real sudo when the tests run as root). Nothing
 * a payload tries may run: a canary file it tries to create must never appear.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quote, shellCommand, showCommand, withBecome } from '../../../src/transport/shell.ts';
import { SHELL_SPECIALS } from '../../shell-characters.ts';

let dir = '';
let canary = '';
let fakeBin = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kpfleet-shell-'));
  canary = join(dir, 'CANARY');
  fakeBin = join(dir, 'bin');
  mkdirSync(fakeBin);
  // Files a glob would match if a word were left unquoted.
  for (const f of ['a', 'b', 'ab', '-n']) writeFileSync(join(dir, f), '');
  writeFileSync(
    join(fakeBin, 'sudo'),
    [
      '#!/bin/sh',
      '# Stand-in for sudo: insists on `-n --` (never prompt), then runs the rest as given.',
      '[ "$1" = -n ] || { echo "fake sudo: -n missing" >&2; exit 99; }',
      'shift',
      '[ "$1" = -- ] || { echo "fake sudo: -- missing" >&2; exit 99; }',
      'shift',
      'exec "$@"',
      '',
    ].join('\n'),
  );
  chmodSync(join(fakeBin, 'sudo'), 0o755);
});

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

function run(
  file: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

const specials = SHELL_SPECIALS;

/** Payloads that would create the canary if any level of shell read them as code. */
function payloads(c: string): string[] {
  return [
    `$(touch ${c})`,
    `\`touch ${c}\``,
    `; touch ${c}`,
    `&& touch ${c}`,
    `| touch ${c}`,
    `'; touch ${c}; '`,
    `"; touch ${c}; "`,
    `'"'"'; touch ${c} #`,
    `\\'; touch ${c} #`,
    `\n touch ${c}\n`,
    `> ${c}`,
    `$(IFS=_;x=touch_${c};$x)`,
    `'$(touch ${c})'`,
    `"$(touch ${c})"`,
    `\${IFS}; touch ${c}`,
    `'\\''; touch ${c}; '\\''`,
  ];
}

function words(): fc.Arbitrary<string> {
  const valid = (s: string): boolean => !s.includes('\0') && !/\p{Cs}/u.test(s);
  const payload = fc.constantFrom(...payloads(canary));
  return fc
    .oneof(
      fc.string({ unit: fc.constantFrom(...specials), maxLength: 30 }),
      fc.string({ unit: 'binary', maxLength: 30 }),
      fc.string({ maxLength: 30 }),
      payload,
      fc.tuple(fc.string({ unit: fc.constantFrom(...specials) }), payload).map(([a, b]) => a + b),
      fc.constantFrom('', '-n', '--', '-e', '*', '~', '~root', '$HOME', 'a b', "it's", '\\'),
    )
    .filter(valid);
}

function expected(argv: readonly string[]): Buffer {
  return Buffer.concat(argv.map((w) => Buffer.from(`${w}\0`, 'utf8')));
}

/** How a command string reaches a shell: [file, args, env]. */
type Runner = (command: string) => [string, string[], NodeJS.ProcessEnv];

const runners: Record<string, Runner> = {
  'dash (/bin/sh -c)': (c) => ['/bin/sh', ['-c', c], process.env],
  'bash -c': (c) => ['bash', ['-c', c], process.env],
  'sh -c "sh -c <quoted>"': (c) => ['/bin/sh', ['-c', `sh -c ${quote(c)}`], process.env],
  'bash -c "sh -c <quoted>"': (c) => ['bash', ['-c', `sh -c ${quote(c)}`], process.env],
  'withBecome(sudo) through a stand-in sudo': (c) => [
    'bash',
    ['-c', withBecome(c, 'sudo')],
    { ...process.env, PATH: `${fakeBin}:${process.env.PATH ?? '/usr/bin:/bin'}` },
  ],
};

describe('quoted words through real shells', () => {
  for (const [name, runner] of Object.entries(runners)) {
    it(`arrive byte for byte and never run: ${name}`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(words(), { minLength: 1, maxLength: 25 }), async (argv) => {
          const command = shellCommand(['printf', '%s\\0', ...argv]);
          const [file, args, env] = runner(command);
          const r = await run(file, args, env);
          expect(r.stderr).toBe('');
          expect(r.code).toBe(0);
          expect(r.stdout.equals(expected(argv))).toBe(true);
          expect(existsSync(canary)).toBe(false);
        }),
        { numRuns: 100 },
      );
    });
  }

  it.skipIf(process.getuid?.() !== 0 || !existsSync('/usr/bin/sudo'))(
    'arrive byte for byte through the real sudo -n -- sh -c (as root)',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(words(), { minLength: 1, maxLength: 25 }), async (argv) => {
          const r = await run('bash', [
            '-c',
            withBecome(shellCommand(['printf', '%s\\0', ...argv]), 'sudo'),
          ]);
          expect(r.stderr).toBe('');
          expect(r.stdout.equals(expected(argv))).toBe(true);
          expect(existsSync(canary)).toBe(false);
        }),
        { numRuns: 15 },
      );
    },
  );

  it('leaves a compound command whole under become (pipes and && run inside sh -c)', async () => {
    const command = `${shellCommand(['printf', '%s', 'x y'])} | tr ' ' _ && printf '%s' "$0"`;
    const r = await run('bash', ['-c', withBecome(command, 'sudo')], {
      ...process.env,
      PATH: `${fakeBin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    });
    expect(r.stdout.toString()).toBe('x_ysh');
  });

  it('the payloads do run when not quoted (the canary works)', async () => {
    const r = await run('/bin/sh', ['-c', `printf '%s\\0' ${payloads(canary)[0] ?? ''}`]);
    expect(r.code).toBe(0);
    expect(existsSync(canary)).toBe(true);
    rmSync(canary);
  });
});

describe('showCommand: a command a hint prints, pasted into bash', () => {
  it('gives back the same words byte for byte and runs nothing else', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(words(), { minLength: 1, maxLength: 25 }), async (argv) => {
        const shown = showCommand(['printf', '%s\\0', ...argv]);
        expect(shown).not.toMatch(/[\p{Cc}]/u); // nothing unprintable reaches the terminal
        const r = await run('bash', ['-c', shown]);
        expect(r.stderr).toBe('');
        expect(r.stdout.equals(expected(argv))).toBe(true);
        expect(existsSync(canary)).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});
