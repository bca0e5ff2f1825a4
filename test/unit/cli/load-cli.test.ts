/**
 * bin/load-cli.cjs, the loader of the built CLI with V8's code cache (issue 20, "a fast start"):
 * the bundle runs as CommonJS runs it; its first run leaves a cache headed with what it was made
 * for; a cache that is not the owner's alone, not for this bundle, or not a cache at all is never
 * used and is replaced; a run of a kind the cache was not made from writes it again, with that
 * run's code added. Each run is its own `node`: the cache is written as a process ends.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const LOADER = new URL('../../../bin/load-cli.cjs', import.meta.url).pathname;
const MAGIC = 'kpfleet-code-cache-2\n';

let dir: string;
let bundle: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kpfleet-load-cli-'));
  bundle = join(dir, 'bundle.cjs');
  writeFileSync(
    bundle,
    "exports.where = [__filename, require('node:path').basename(__dirname), typeof module.exports];\n" +
      'exports.answer = () => 42;\n' +
      // code that only a run of kind `b` compiles
      `exports.b = () => [${Array.from({ length: 200 }, (_, i) => `String(${String(i)})`).join(', ')}].length;\n`,
  );
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const run = (kind?: string): string =>
  execFileSync(
    process.execPath,
    [
      '-e',
      `const m = require(${JSON.stringify(LOADER)}).loadCli(${JSON.stringify(bundle)}${kind === undefined ? '' : `, ${JSON.stringify(kind)}`});` +
        `if (${JSON.stringify(kind)} === 'b') m.b();` +
        'console.log(JSON.stringify([m.where, m.answer()]))',
    ],
    { encoding: 'utf8' },
  );
const cache = (): Buffer => readFileSync(`${bundle}.cache`);
/** The kinds of run the cache names (its third line). */
const runs = (): string => cache().toString('latin1').split('\n')[2] ?? '';

describe('loadCli', () => {
  it('runs the bundle as CommonJS: exports, require, __filename, __dirname', () => {
    expect(JSON.parse(run())).toEqual([[bundle, dir.split('/').pop(), 'object'], 42]);
  });

  it('leaves a cache headed with this Node and this bundle, and runs the same from it', () => {
    const first = run();
    const head = cache().subarray(0, 200).toString('latin1');
    expect(head.startsWith(`${MAGIC}${process.version} ${process.arch} `)).toBe(true);
    expect(head).toContain(` ${statSync(bundle).ino} `);
    expect(statSync(`${bundle}.cache`).mode & 0o777).toBe(0o644);
    expect(run()).toBe(first);
  });

  it.each([
    ['not a cache', () => writeFileSync(`${bundle}.cache`, 'garbage'), 42],
    ['writable by others', () => chmodSync(`${bundle}.cache`, 0o666), 42],
    // as long as before: V8's own check (the length) would take the old code
    [
      'made for the bundle before a rebuild',
      () => writeFileSync(bundle, readFileSync(bundle, 'utf8').replace('42', '41')),
      41,
    ],
    [
      'naming a run that is not a word',
      () =>
        writeFileSync(
          `${bundle}.cache`,
          cache().toString('latin1').replace(/\n \n/, '\n$x \n'),
          'latin1',
        ),
      42,
    ],
  ])('a cache %s is not used, and is replaced', (_, spoil, answer) => {
    run();
    spoil();
    const before = statSync(`${bundle}.cache`);
    expect((JSON.parse(run()) as unknown[])[1]).toBe(answer);
    const after = statSync(`${bundle}.cache`);
    expect(after.ino).not.toBe(before.ino);
    expect(after.mode & 0o777).toBe(0o644);
    expect(cache().subarray(0, MAGIC.length).toString()).toBe(MAGIC);
  });

  it('is written again by a run of another kind, with its code added; once per kind', () => {
    run('a');
    expect(runs()).toBe('a ');
    const first = statSync(`${bundle}.cache`);
    run('a');
    expect(statSync(`${bundle}.cache`).ino).toBe(first.ino);
    run('b');
    const second = statSync(`${bundle}.cache`);
    expect(second.ino).not.toBe(first.ino);
    expect(runs()).toBe('a b ');
    // b's code, compiled by the run of kind b, is in the cache now
    expect(second.size).toBeGreaterThan(first.size + 500);
    run('a');
    run('b');
    expect(statSync(`${bundle}.cache`).ino).toBe(second.ino);
    // a run that names no kind, or not a word, is of kind '' (once)
    run('not a word!');
    expect(runs()).toBe('a b  ');
    const third = statSync(`${bundle}.cache`).ino;
    run();
    expect(statSync(`${bundle}.cache`).ino).toBe(third);
  });

  it('names at most 32 kinds of run: past that, it is not written again', () => {
    for (let i = 0; i < 32; i++) run(`k${String(i)}`);
    expect(runs().split(' ')).toHaveLength(33);
    const full = statSync(`${bundle}.cache`).ino;
    run('k32');
    expect(statSync(`${bundle}.cache`).ino).toBe(full);
    expect(JSON.parse(run('k33'))).toEqual([[bundle, dir.split('/').pop(), 'object'], 42]);
  });
});

describe('tierUpLater: V8 optimises code later in a run of seconds', () => {
  const { tierUpLater, INTERRUPT_BUDGET } = createRequire(import.meta.url)(LOADER) as {
    tierUpLater: (argv: string[], set: (flag: string) => void) => boolean;
    INTERRUPT_BUDGET: number;
  };

  it("sets the budget, unless the user gave one on node's command line", () => {
    const set: string[] = [];
    const add = (f: string) => set.push(f);
    expect(tierUpLater(['--max-old-space-size=512'], add)).toBe(true);
    expect(set).toEqual([`--interrupt-budget=${String(INTERRUPT_BUDGET)}`]);
    expect(tierUpLater(['--interrupt-budget=5000'], add)).toBe(false);
    expect(tierUpLater(['--interrupt_budget', '5000'], add)).toBe(false);
    // another flag of the same prefix is not the budget
    expect(tierUpLater(['--interrupt-budget-for-feedback-allocation=9'], add)).toBe(true);
    expect(set).toHaveLength(2);
  });

  it('is set by the installed command before the CLI loads', () => {
    // records the V8 flags the process sets
    const hook = join(dir, 'hook.cjs');
    writeFileSync(
      hook,
      "const v8 = require('node:v8'); const own = v8.setFlagsFromString;\n" +
        'v8.setFlagsFromString = (f) => { process.stderr.write(`FLAG ${f}\\n`); return own(f); };\n',
    );
    const bin = new URL('../../../bin/kpfleet.js', import.meta.url).pathname;
    const r = spawnSync(process.execPath, ['--require', hook, bin, '--version'], {
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    expect(r.status).toBe(0);
    const out = r.stderr;
    expect(out).toContain(`FLAG --interrupt-budget=${String(INTERRUPT_BUDGET)}\n`);
  });
});
