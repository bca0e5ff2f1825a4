import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compileGlob, globMatch } from '../../../src/util/glob.ts';
import { showValue } from '../../../src/util/show.ts';
import { SourceText } from '../../../src/util/source.ts';
import { didYouMean, editDistance } from '../../../src/util/suggest.ts';
import { ownCopy, stringPool, tailText } from '../../../src/util/text.ts';

describe('SourceText', () => {
  const src = new SourceText('f.yml', 'a: 1\nbb: 2\r\n\nlast');
  it('maps offsets to 1-based line:col', () => {
    expect(src.position(0)).toEqual({ line: 1, col: 1 });
    expect(src.position(5)).toEqual({ line: 2, col: 1 });
    expect(src.position(9)).toEqual({ line: 2, col: 5 });
    expect(src.position(13)).toEqual({ line: 4, col: 1 });
  });
  it('returns lines without their line ending', () => {
    expect(src.line(2)).toBe('bb: 2');
    expect(src.line(3)).toBe('');
    expect(src.line(4)).toBe('last');
    expect(src.line(9)).toBe('');
  });
});

describe('did you mean', () => {
  it('counts a swap of neighbours as one edit', () => {
    expect(editDistance('forsk', 'forks')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });
  it('suggests only close names', () => {
    expect(didYouMean('forsk', ['forks', 'waves'])).toBe("did you mean 'forks'?");
    expect(didYouMean('instaled', ['loaded', 'installed', 'absent'])).toBe(
      "did you mean 'installed'?",
    );
    expect(didYouMean('zzz', ['forks', 'waves'])).toBeUndefined();
  });
});

describe('glob', () => {
  it.each([
    ['4.18.0-*', '4.18.0-477.10.1.el8_8.x86_64', true],
    ['4.18.0-*', '5.14.0-362.8.1.el9_3.x86_64', false],
    ['5.14.0-362.?.1.el9_3.x86_64', '5.14.0-362.8.1.el9_3.x86_64', true],
    ['*.el9_[23].x86_64', '5.14.0-362.8.1.el9_3.x86_64', true],
    ['*.el9_[!23].x86_64', '5.14.0-362.8.1.el9_3.x86_64', false],
    ['4.18.0-477.10.1.el8_8.x86_64', '4.18.0-477.10.1.el8_8.x86_64', true],
    ['4.18.0-477.10.1.el8_8.x86_64', '4.18.0-477.10.1Xel8_8.x86_64', false],
  ])('%s matches %s: %s', (glob, value, expected) => {
    expect(globMatch(glob, value)).toBe(expected);
  });

  // each answer checked with Python's re.match(fnmatch.translate(glob), value), as Ansible matches
  it.each([
    ['[b-a]', 'b', false], // an empty range matches nothing (a regex would throw)
    ['[!b-a]', 'b', true], // … and negated, anything
    ['[a-c-e]', '-', true], // a-c, then a literal - and e
    ['[a-c-e]', 'd', false],
    ['[a-]', '-', true],
    ['[]a]', ']', true], // ] first in a set is literal
    ['[^a]', '^', true], // ^ is literal (only ! negates)
    ['[^a]', 'b', false],
    ['[!]]', ']', false],
    ['[!]]', 'x', true],
    ['a[', 'a[', true], // an unclosed [ is literal
    ['*', 'a\nb', true], // * crosses newlines
    ['?', '😀', true], // one code point
  ])('fnmatch semantics: %s matches %s: %s', (glob, value, expected) => {
    expect(globMatch(glob, value)).toBe(expected);
  });

  it('matches a 100 KB value in a few steps per character, whatever the glob', () => {
    // 0.84 s and more with the regex this matcher replaced (issue 14): `.*.*x` backtracks
    const value = 'a'.repeat(100_000);
    for (const glob of ['**x', '**.el9**', '*-*-*-*.x86_64', '*a*a*a*b', '5.14.0-**']) {
      const r = compileGlob(glob).matchCounted(value);
      expect(r.matched, glob).toBe(false);
      expect(r.steps, glob).toBeLessThanOrEqual(3 * (value.length + 1));
    }
    expect(compileGlob('**').matchCounted(value)).toEqual({ matched: true, steps: 100_001 });
  });

  it('never takes more than (value + 1) × (glob + 1) steps', () => {
    const word = (chars: string[], max: number) =>
      fc.array(fc.constantFrom(...chars), { maxLength: max }).map((a) => a.join(''));
    fc.assert(
      fc.property(word(['a', 'b', '*', '?', '[ab]'], 8), word(['a', 'b'], 40), (glob, value) => {
        const { steps } = compileGlob(glob).matchCounted(value);
        return steps <= (value.length + 1) * (glob.length + 1);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('tailText', () => {
  it('keeps the last lines, and at most so many characters of them', () => {
    expect(tailText('a\nb\nc\n', 2, 100)).toBe('b\nc');
    expect(tailText('  only  ', 3, 100)).toBe('only');
    expect(tailText('', 3, 100)).toBe('');
    // one line of 1 MiB: its end, marked as cut
    const long = tailText('x'.repeat(1 << 20), 20, 4000);
    expect(long).toBe(`…${'x'.repeat(4000)}`);
    // lines cut by the line count are whole: no mark
    expect(tailText(`${'y'.repeat(50)}\nshort\nend`, 2, 20)).toBe('short\nend');
  });
});

describe('ownCopy and stringPool', () => {
  it('copy any string as it is, lone surrogates and control characters included', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(ownCopy(s)).toBe(s);
        expect(stringPool()(s)).toBe(s);
      }),
    );
    for (const s of ['', '\ud800', 'a\udc00b', '\u0000\n"\\', '\u2028é✓'])
      expect(ownCopy(s)).toBe(s);
    const keep = stringPool();
    const kernel = 'x'.repeat(100) + '5.14.0-362.8.1.el9_3.x86_64';
    expect([keep(kernel.slice(100)), keep(kernel.slice(100))]).toEqual([
      '5.14.0-362.8.1.el9_3.x86_64',
      '5.14.0-362.8.1.el9_3.x86_64',
    ]);
  });
});

describe('showValue', () => {
  it('quotes a string, and escapes one that holds control characters (no raw escape sequence reaches a terminal)', () => {
    expect(showValue('$(id)')).toBe("'$(id)'");
    expect(showValue('web\x1b[2J\n')).toBe('"web\\u001b[2J\\n"');
    expect(showValue(['a'])).toBe('a list');
  });
});
