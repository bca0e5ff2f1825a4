import { describe, expect, it } from 'vitest';
import type { ManagerSetting } from '../../../src/config-model.ts';
import { managerWords, resolveManager } from '../../../src/facts/manager.ts';

const withKpatch = { kpatch: { installed: true, version: '0.9.11' } };
const without = { kpatch: { installed: false } };
const auto: ManagerSetting = { choice: 'auto', source: 'default' };

describe('resolveManager', () => {
  it('auto: kpatch where the kpatch utility is installed, naming its version', () => {
    expect(resolveManager(auto, withKpatch)).toEqual({
      manager: 'kpatch',
      reason: 'auto: kpatch 0.9.11 is installed',
    });
    expect(resolveManager(auto, { kpatch: { installed: true } }).reason).toBe(
      'auto: kpatch (version unknown) is installed',
    );
  });

  it('auto: klp where there is no kpatch utility', () => {
    expect(resolveManager(auto, without)).toEqual({
      manager: 'klp',
      reason: 'auto: no kpatch utility',
    });
  });

  it('an auto set somewhere names where', () => {
    expect(resolveManager({ choice: 'auto', source: 'group web' }, without).reason).toBe(
      'auto: no kpatch utility; group web',
    );
  });

  it('an explicit manager is kept whatever the facts say, its source the reason', () => {
    const kpatch: ManagerSetting = { choice: 'kpatch', source: 'connection.manager' };
    const klp: ManagerSetting = {
      choice: 'klp',
      source: 'kpfleet_manager at host_vars/h1.yml:3:1',
    };
    expect(resolveManager(kpatch, without)).toEqual({
      manager: 'kpatch',
      reason: 'connection.manager',
    });
    expect(resolveManager(klp, withKpatch)).toEqual({
      manager: 'klp',
      reason: 'kpfleet_manager at host_vars/h1.yml:3:1',
    });
  });

  it('is written one way everywhere', () => {
    expect(managerWords(resolveManager(auto, without))).toBe('klp (auto: no kpatch utility)');
  });
});
