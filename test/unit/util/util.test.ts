import { describe, expect, it } from 'vitest';
import { globMatch } from '../../../src/util/glob.ts';
import { SourceText } from '../../../src/util/source.ts';
import { didYouMean, editDistance } from '../../../src/util/suggest.ts';
import { tailText } from '../../../src/util/text.ts';

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
