import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../../src/config/duration.ts';
import { kernelMatches, patternsOverlap } from '../../../src/config/kernel-match.ts';
import { parseAmount } from '../../../src/config/normalize.ts';

describe('durations', () => {
  it.each([
    ['250ms', 250],
    ['10s', 10_000],
    ['1.5m', 90_000],
    ['2h', 7_200_000],
    ['30d', 2_592_000_000],
    [15, 15_000],
  ])('%s is %i ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });
  it.each(['10 seconds', '10', 's', '-1s', '1w', null, true])('rejects %s', (input) => {
    expect(parseDuration(input)).toBeUndefined();
  });
  it('formats back to the largest whole unit', () => {
    expect(formatDuration(300_000)).toBe('5m');
    expect(formatDuration(86_400_000 * 3650)).toBe('3650d');
    expect(formatDuration(1500)).toBe('1500ms');
  });
});

describe('amounts (waves, max_failures)', () => {
  it('reads counts and percentages', () => {
    expect(parseAmount(1)).toEqual({ kind: 'count', value: 1 });
    expect(parseAmount('12.5%')).toEqual({ kind: 'percent', value: 12.5 });
    expect(parseAmount('10')).toBeUndefined();
    expect(parseAmount(-1)).toBeUndefined();
  });
});

describe('kernel patterns', () => {
  it('match uname -r by release or glob, any of a list', () => {
    expect(kernelMatches(['4.18.0-*'], '4.18.0-477.10.1.el8_8.x86_64')).toBe(true);
    expect(kernelMatches(['5.14.0-362.8.1.el9_3.x86_64', '4.18.0-*'], '4.18.0-1.el8.x86_64')).toBe(
      true,
    );
    expect(kernelMatches(['5.14.0-*'], '4.18.0-1.el8.x86_64')).toBe(false);
  });
  it.each([
    ['4.18.0-*', '4.18.0-477.10.1.el8_8.x86_64', true],
    ['4.18.0-*', '*.el8_8.x86_64', true],
    ['4.18.0-*.el8_8.x86_64', '*.el9_3.x86_64', false],
    ['5.14.0-*', '4.18.0-*', false],
    ['a?c', 'abc', true],
    ['a?c', 'ac', false],
    ['*', 'anything', true],
    ['5.14.0-362.8.1.el9_3.x86_64', '5.14.0-362.8.1.el9_3.x86_64', true],
    ['5.14.0-362.8.1.el9_3.x86_64', '5.14.0-362.8.1.el9_3.aarch64', false],
  ])('%s overlaps %s: %s', (a, b, expected) => {
    expect(patternsOverlap(a, b)).toBe(expected);
    expect(patternsOverlap(b, a)).toBe(expected);
  });
});
