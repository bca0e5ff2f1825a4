import { describe, expect, it } from 'vitest';
import { maxOf, pushAll } from '../../../src/util/arrays.ts';

describe('pushAll and maxOf', () => {
  it('take lists of any length (no spread into a call)', () => {
    const many = Array.from({ length: 300_000 }, (_, i) => i);
    expect(pushAll([-1], many)).toHaveLength(300_001);
    expect(maxOf(many)).toBe(299_999);
    expect(maxOf([], -1)).toBe(-1);
    expect(maxOf([-5, -2])).toBe(-2);
  });
});
