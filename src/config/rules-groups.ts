/**
 * Semantic rules of kpfleet.yml about groups: each in the inventory, naming known patches once,
 * in states that agree; every patch used by some group; and, per host, no contradiction between
 * the groups it is in (desired states, replaced patches, policies).
 */
import { resolveDesired } from '../desired/resolve.ts';
import type { Conflict } from '../desired/resolve.ts';
import { didYouMean } from '../util/suggest.ts';
import { PATCH_STATES } from '../config-model.ts';
import type { PatchState } from '../config-model.ts';
import type { JsonPath } from './yaml-doc.ts';
import { get } from './rules-context.ts';
import type { At, Obj, RuleContext } from './rules-context.ts';

/** Each group, then the patches no group uses. */
export function checkGroups(ctx: RuleContext): void {
  const { config, at, input, listIndex, patchNames } = ctx;
  const referenced = new Set<string>();
  for (const p of config.patches.values()) for (const r of p.replaces) referenced.add(r);
  const inv = input.inventory;
  for (const group of config.groups.values()) {
    const base = ['groups', group.name];
    if (inv && !inv.groups.has(group.name)) {
      at(
        'error',
        'rules/unknown-group',
        base,
        `group '${group.name}' is not in the inventory (${config.inventoryWritten})`,
        didYouMean(group.name, inv.groups.keys()),
        'key',
      );
    }
    const seenIn = new Map<string, PatchState>();
    for (const state of PATCH_STATES) {
      for (const name of group[state]) {
        const idx = listIndex([...base, state], name);
        const path = [...base, state, idx];
        referenced.add(name);
        if (!config.patches.has(name)) {
          at(
            'error',
            'rules/unknown-patch',
            path,
            `unknown patch '${name}' in groups.${group.name}.${state}`,
            didYouMean(name, patchNames) ??
              (patchNames.length
                ? `declared patches: ${patchNames.join(', ')}`
                : 'declare it under patches:'),
          );
        }
        const before = seenIn.get(name);
        if (before === state) {
          at(
            'warning',
            'rules/duplicate-entry',
            path,
            `'${name}' is listed twice in groups.${group.name}.${state}`,
          );
        } else if (before !== undefined) {
          const contradictory = before === 'absent' || state === 'absent';
          at(
            contradictory ? 'error' : 'warning',
            contradictory ? 'rules/contradiction' : 'rules/redundant',
            path,
            contradictory
              ? `'${name}' is both ${before} and ${state} in group '${group.name}'`
              : `'${name}' is in both ${before} and ${state} of group '${group.name}': loaded already implies installed`,
          );
        }
        seenIn.set(name, state);
      }
    }
  }
  for (const name of patchNames) {
    if (!referenced.has(name)) {
      at(
        'warning',
        'rules/unused-patch',
        ['patches', name],
        `patch '${name}' is not used by any group`,
        undefined,
        'key',
      );
    }
  }
}

/** Contradictions between the groups a host is in, reported where the second was written. */
export function checkHostConflicts(ctx: RuleContext): void {
  const inv = ctx.input.inventory;
  if (!inv) return;
  const { conflicts } = resolveDesired(ctx.config, inv);
  for (const c of conflicts) reportConflict(c, ctx.raw, ctx.at);
}

function reportConflict(c: Conflict, raw: Obj, at: At): void {
  const shown =
    c.hosts.slice(0, 3).join(', ') + (c.hosts.length > 3 ? ` and ${c.hosts.length - 3} more` : '');
  const hostWord = c.hosts.length === 1 ? 'host' : 'hosts';
  const firstLine = (group: string, key: string, name?: string): JsonPath => {
    const list = get(raw, ['groups', group, key]);
    const idx = Array.isArray(list) && name !== undefined ? list.indexOf(name) : -1;
    return idx >= 0 ? ['groups', group, key, idx] : ['groups', group, key];
  };
  switch (c.kind) {
    case 'state':
      // Within one group it was already reported, at the group, by the rules above.
      if (c.first.group === c.second.group) return;
      at(
        'error',
        'rules/contradiction',
        firstLine(c.second.group, c.second.value, c.subject),
        `patch '${c.subject}' is ${c.first.value} in group '${c.first.group}' but ${c.second.value} in group '${c.second.group}'; ${hostWord} in both: ${shown}`,
        'a host in several groups gets the union of their desired states: make them agree',
      );
      break;
    case 'replaces': {
      const [, newer] = c.second.value.split(' ');
      const [, older] = c.first.value.split(' ');
      at(
        'error',
        'rules/contradiction',
        firstLine(c.second.group, 'loaded', newer),
        `patch '${newer ?? ''}' (group '${c.second.group}') replaces '${older ?? ''}' (group '${c.first.group}'), so both cannot be loaded; ${hostWord}: ${shown}`,
        `drop '${older ?? ''}' from loaded: the cumulative patch retires it`,
      );
      break;
    }
    case 'policy':
      at(
        'error',
        'rules/policy-conflict',
        ['groups', c.second.group, c.subject],
        `${c.subject} is '${c.first.value}' in group '${c.first.group}' but '${c.second.value}' in group '${c.second.group}', at the same depth; ${hostWord}: ${shown}`,
        `set ${c.subject} in a more specific group, or make them agree`,
      );
      break;
  }
}
