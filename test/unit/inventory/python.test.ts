import { describe, expect, it } from 'vitest';
import { literalEval, parseIniValue } from '../../../src/inventory/literal-eval.ts';
import { ShlexError, shlexSplit } from '../../../src/inventory/shlex.ts';

describe('shlexSplit (POSIX, comments on)', () => {
  it('removes quotes, keeps quoted spaces and #, and records token starts', () => {
    expect(shlexSplit(`h1 a="x y" b='#1' c=d#rest e=f`)).toEqual([
      { value: 'h1', start: 0 },
      { value: 'a=x y', start: 3 },
      { value: 'b=#1', start: 11 },
      { value: 'c=d', start: 18 },
    ]);
  });

  it('escapes outside quotes and only \\\\ and \\" inside double quotes', () => {
    expect(shlexSplit(String.raw`a\ b "c\"d\x" 'e\f'`).map((t) => t.value)).toEqual([
      'a b',
      String.raw`c"d\x`,
      String.raw`e\f`,
    ]);
  });

  it('keeps an empty quoted token and reports bad quoting with the offset', () => {
    expect(shlexSplit(`x ""`).map((t) => t.value)).toEqual(['x', '']);
    expect(() => shlexSplit(`h x="open`)).toThrow(ShlexError);
    try {
      shlexSplit(`h x="open`);
    } catch (e) {
      expect((e as ShlexError).offset).toBe(4);
    }
  });
});

describe('literalEval / parseIniValue', () => {
  it.each([
    ['42', 42],
    ['-7', -7],
    ['2.5', 2.5],
    ['1e3', 1000],
    ['0x1F', 31],
    ['1_000', 1000],
    ['00', 0],
    ['True', true],
    ['None', null],
    ["'q' # comment", 'q'],
    ["'a' 'b'", 'ab'],
    ["b'x'", 'x'],
    ['"\\x41\\n"', 'A\n'],
    ["[1, 'two', (3, 4),]", [1, 'two', [3, 4]]],
    ["{'k': [True, None]}", { k: [true, null] }],
    ['1, 2', [1, 2]],
  ])('literal %s', (text, value) => {
    expect(literalEval(text)).toEqual(value);
  });

  it.each(['0644', 'yes', 'FALSE', 'x=y', '1+2', '{k:1}', '--1', '-True', "f'x'", ''])(
    'keeps %j as text (literal_eval raises)',
    (text) => {
      expect(literalEval(text)).toBeUndefined();
      expect(parseIniValue(text)).toBe(text);
    },
  );

  it('keeps complex and set literals as text: JSON has no form for them (a known divergence)', () => {
    expect(parseIniValue('1j')).toBe('1j');
    expect(parseIniValue('{1, 2}')).toBe('{1, 2}');
  });
});
