/**
 * Which manager handles a host's live patches (issue 21): the setting (`desired/resolve.ts`)
 * resolved against the host's facts. `auto` takes kpatch where the kpatch utility is installed,
 * else klp; an explicit `kpatch` or `klp` is kept, its source as the reason. Used by the planner,
 * `kpfleet facts` and every report. Pure.
 */
import type { ManagerName, ManagerSetting } from '../config-model.ts';
import type { HostFacts } from './model.ts';

export interface ResolvedManager {
  manager: ManagerName;
  /**
   * Why, in a few words: `auto: kpatch 0.9.11 is installed`, `auto: no kpatch utility`, or
   * where an explicit setting came from (`group web`, `connection.manager`, …). An `auto` set
   * somewhere other than the default names where too (`auto: no kpatch utility; group web`).
   */
  reason: string;
}

/** The setting every host has when nothing sets one. */
export const DEFAULT_MANAGER: ManagerSetting = { choice: 'auto', source: 'default' };

export function resolveManager(
  setting: ManagerSetting,
  facts: Pick<HostFacts, 'kpatch'>,
): ResolvedManager {
  if (setting.choice !== 'auto') return { manager: setting.choice, reason: setting.source };
  const where = setting.source === DEFAULT_MANAGER.source ? '' : `; ${setting.source}`;
  return facts.kpatch.installed
    ? {
        manager: 'kpatch',
        reason: `auto: kpatch ${facts.kpatch.version ?? '(version unknown)'} is installed${where}`,
      }
    : { manager: 'klp', reason: `auto: no kpatch utility${where}` };
}

/** `klp (auto: no kpatch utility)`: how every report writes a host's manager. */
export function managerWords(m: ResolvedManager): string {
  return `${m.manager} (${m.reason})`;
}
