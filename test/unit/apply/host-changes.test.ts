/**
 * Which of a host's changes share an exec (src/apply/host-changes.ts, batch.ts): a run of
 * consecutive steps with one passing verification each (install, enable, load, unload); an
 * upload, an uninstall (its copy is kept first) and package steps run alone.
 */
import { describe, expect, it } from 'vitest';
import { batchAt, longestBatch } from '../../../src/apply/host-changes.ts';
import type { Change } from '../../../src/plan/model.ts';

const c = (action: Change['action']) => ({ action, sha256: 'a'.repeat(64) }) as Change;

describe('batches', () => {
  it('a one-patch converge: the upload alone, then install and load together', () => {
    const changes = [c('upload'), c('install'), c('load')];
    expect(batchAt(changes, 0).map((x) => x.action)).toEqual([]);
    expect(batchAt(changes, 1).map((x) => x.action)).toEqual(['install', 'load']);
    expect(batchAt(changes, 2).map((x) => x.action)).toEqual(['load']);
    expect(longestBatch(changes)).toBe(2);
  });

  it('a replacement: load the successor, unload the predecessor in one exec; an uninstall alone', () => {
    const changes = [
      c('upload'),
      c('install'),
      c('enable-service'),
      c('load'),
      c('unload'),
      c('uninstall'),
      c('package-install'),
      c('load'),
    ];
    expect(batchAt(changes, 1).map((x) => x.action)).toEqual([
      'install',
      'enable-service',
      'load',
      'unload',
    ]);
    expect(batchAt(changes, 5)).toEqual([]);
    expect(longestBatch(changes)).toBe(4);
    expect(longestBatch([])).toBe(0);
    expect(longestBatch([c('uninstall')])).toBe(1);
  });
});
