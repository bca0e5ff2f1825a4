/**
 * The ASCII fast paths of Unicode patterns (src/util/ascii.ts, issue 20's start-up) answer as the
 * Unicode patterns do: each checked on every printable ASCII character alone (the patterns are
 * classes of characters) and on random strings mixing ASCII with the characters the Unicode
 * classes are about (letters, marks, digits and connectors of other scripts, controls, format and
 * ignorable characters, a lone surrogate).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { invalidGroupChars, invalidGroupName } from '../../../src/inventory/builder.ts';
import { sectionHeader, sectionPattern } from '../../../src/inventory/ini.ts';
import {
  ASCII_NAME,
  isNameChar,
  literalEval,
  unicodeName,
  unicodeNameChar,
} from '../../../src/inventory/literal-eval.ts';
import { safeLines, safeText, unsafePattern } from '../../../src/report/safe-text.ts';
import { isPrintableAscii, onFirstUse } from '../../../src/util/ascii.ts';
import { showValue } from '../../../src/util/show.ts';

const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i));
const OTHERS = ['é', 'Ω', 'ſ', '\u212a', '\u0301', '٣', '\u203f', '\u00ad', '\u200b', '\u202e'];
const CONTROLS = ['\t', '\n', '\r', '\x1b', '\x7f', '\x85', '\u2028', '\ud800', '\ufeff'];
const text = (alphabet: string[], maxLength = 16): fc.Arbitrary<string> =>
  fc.array(fc.constantFrom(...alphabet), { maxLength }).map((a) => a.join(''));
const ANY = text([...'aZ09_-:[]# .x='.split(''), ...OTHERS, ...CONTROLS]);
const RUNS = { numRuns: 3000 };

describe('isPrintableAscii, onFirstUse', () => {
  it('is true for space to ~ only', () => {
    for (const c of PRINTABLE) expect(isPrintableAscii(`a${c}b`)).toBe(true);
    for (const c of [...OTHERS, ...CONTROLS]) expect(isPrintableAscii(`a${c}b`)).toBe(false);
    expect(isPrintableAscii('')).toBe(true);
  });

  it('makes the value once, at the first call', () => {
    let made = 0;
    const value = onFirstUse(() => ({ n: ++made }));
    expect(made).toBe(0);
    expect(value()).toBe(value());
    expect(made).toBe(1);
  });
});

describe('the ASCII paths answer as the Unicode patterns', () => {
  it('group names (Ansible warns of invalid characters)', () => {
    for (const c of PRINTABLE) {
      expect(invalidGroupName(c)).toBe(invalidGroupChars().test(c));
      expect(invalidGroupName(`a${c}`)).toBe(invalidGroupChars().test(`a${c}`));
    }
    fc.assert(
      fc.property(ANY, (s) => {
        expect(invalidGroupName(s)).toBe(invalidGroupChars().test(s));
      }),
      RUNS,
    );
    expect(invalidGroupName('web_é')).toBe(false);
    expect(invalidGroupName('1web')).toBe(true);
  });

  it('INI section headers, with their name and tag', () => {
    const header = text([...'[]:#ab_9 \t'.split(''), ...OTHERS, 'vars', 'children']);
    for (const c of PRINTABLE) {
      const line = `[g:a${c}]`;
      expect(sectionHeader(line)).toEqual(sectionPattern().exec(line));
    }
    fc.assert(
      fc.property(header, (s) => {
        expect(sectionHeader(s)).toEqual(sectionPattern().exec(s));
      }),
      RUNS,
    );
    expect(sectionHeader('[db:vars] # x')?.slice(1)).toEqual(['db', 'vars']);
    expect(sectionHeader('[db:värs]')?.slice(1)).toEqual(['db', 'värs']);
  });

  it('Python literal names and what may follow a number', () => {
    for (const c of PRINTABLE) expect(isNameChar(c)).toBe(unicodeNameChar().test(c));
    for (const c of [...OTHERS, ...CONTROLS]) expect(isNameChar(c)).toBe(unicodeNameChar().test(c));
    const names = text([...'aZ_09 ,()[]'.split('')]);
    fc.assert(
      fc.property(names, fc.nat(16), (s, at) => {
        const pos = Math.min(at, s.length);
        ASCII_NAME.lastIndex = pos;
        const unicode = unicodeName();
        unicode.lastIndex = pos;
        expect(ASCII_NAME.exec(s)).toEqual(unicode.exec(s));
      }),
      RUNS,
    );
    expect(literalEval('[True, None, 1]')).toEqual([true, null, 1]);
    expect(literalEval('1j')).toBeUndefined();
    expect(literalEval('Trueé')).toBeUndefined();
  });

  it('shown values and text made safe for a terminal', () => {
    // printable ASCII holds nothing to escape, alone or between line feeds
    for (const c of PRINTABLE) expect(unsafePattern().test(c)).toBe(false);
    fc.assert(
      fc.property(ANY, (s) => {
        const quoted = /[\p{Cc}\p{Cs}]/u.test(s) ? JSON.stringify(s) : `'${s}'`;
        expect(showValue(s)).toBe(quoted);
        if (!unsafePattern().test(s)) expect(safeText(s)).toBe(s);
        else expect(safeText(s)).not.toBe(s);
        const lines = s.replace(/\r\n?/g, '\n');
        if (unsafePattern().test(lines.replaceAll('\n', ''))) expect(safeLines(s)).not.toBe(lines);
        else expect(safeLines(s)).toBe(lines);
      }),
      RUNS,
    );
    expect(safeText('a\x1bb')).toBe('a\\x1bb');
    expect(safeLines('a\r\nb\u202e')).toBe('a\nb\\u202e');
  });
});
