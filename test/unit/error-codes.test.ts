/**
 * One error-code registry: every `E_*` code written in src/ is in ERROR_CODES (src/errors.ts),
 * every code there is raised somewhere and documented in docs/exit-codes.md with its exit code,
 * and an AppError takes its exit code from the registry.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppError, ERROR_CODES, errorInfo } from '../../src/errors.ts';
import type { ErrorCode } from '../../src/errors.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sourceFiles(join(dir, e.name))
      : e.name.endsWith('.ts')
        ? [join(dir, e.name)]
        : [],
  );
}

/** Every quoted `E_…` in src/ (a code as a string, or named in a comment in backquotes). */
function codesInSource(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const file of sourceFiles('src')) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const m of text.matchAll(/['"`](E_[A-Z0-9_]+)['"`]/g)) {
      const code = m[1] ?? '';
      out.set(code, [...(out.get(code) ?? []), file]);
    }
  }
  return out;
}

const registry = Object.keys(ERROR_CODES) as ErrorCode[];

describe('error codes', () => {
  it('every E_ code in src/ is in the registry, and every registry code is used', () => {
    const used = codesInSource();
    const unknown = [...used].filter(([code]) => !(code in ERROR_CODES));
    expect(unknown).toEqual([]);
    // the registry's own keys are not quoted: a quoted code is one raised (or named) somewhere
    expect(registry.filter((code) => !used.has(code))).toEqual([]);
  });

  it('docs/exit-codes.md lists every code with its exit code', () => {
    const doc = readFileSync(join(ROOT, 'docs/exit-codes.md'), 'utf8');
    const rows = new Map<string, number>();
    for (const m of doc.matchAll(/^\|\s*`(E_[A-Z0-9_]+)`\s*\|\s*(\d+)\s*\|/gm)) {
      rows.set(m[1] ?? '', Number(m[2]));
    }
    expect(Object.fromEntries(rows)).toEqual(
      Object.fromEntries(registry.map((code) => [code, ERROR_CODES[code].exit])),
    );
  });

  it('an AppError takes its exit code from the registry', () => {
    for (const code of registry) {
      const e = new AppError(code, 'm', { hint: 'h', step: 's' });
      expect([e.code, e.exitCode]).toEqual([code, ERROR_CODES[code].exit]);
      expect(errorInfo(e)).toEqual({ code, message: 'm', step: 's', hint: 'h' });
    }
    expect(errorInfo(new Error('boom'))).toEqual({ code: 'E_INTERNAL', message: 'boom' });
  });
});
