/**
 * Semantic rules: what the schema cannot say. Each rule adds diagnostics at the position of the
 * offending YAML node. Pure: file facts (existence, sha256) and the inventory are gathered by the
 * loader and passed in.
 */
import { pushAll } from '../util/arrays.ts';
import type { Diagnostic } from '../diagnostics.ts';
import { resolveDesired } from '../desired/resolve.ts';
import type { Conflict } from '../desired/resolve.ts';
import type { Inventory } from '../inventory/types.ts';
import { showValue } from '../util/show.ts';
import { didYouMean } from '../util/suggest.ts';
import { checkConnectionVars, connectionUserFinding, keyFileFinding } from './connection-vars.ts';
import type { KeyFileProblem } from './connection-vars.ts';
import { formatDuration, parseDuration } from './duration.ts';
import { isKernelPattern, kernelsOverlap } from './kernel-match.ts';
import { PATCH_STATES } from '../config-model.ts';
import type { Amount, Config, PatchState } from '../config-model.ts';
import { parseAmount } from './normalize.ts';
import { describePath } from './schema.ts';
import { offsetOf } from './yaml-doc.ts';
import type { JsonPath, YamlFile } from './yaml-doc.ts';

export interface PatchFileFacts {
  /** Why the file cannot be used (does not exist, is a directory or a FIFO, permission denied). */
  error?: string;
  sha256?: string;
  /** The project folder, when the file is outside it (as written, or where a symlink leads). */
  outsideProject?: string;
  /** Where the file really is, when a symlink on its path inside the project leads elsewhere. */
  realPath?: string;
}

export interface RulesInput {
  yaml: YamlFile;
  config: Config;
  /** Facts about each `file:` of the catalogue, by absolute path. */
  patchFiles: ReadonlyMap<string, PatchFileFacts>;
  /** The inventory, if it could be read and parsed. */
  inventory?: Inventory;
  /** What the loader found about a private key file as written (stat only; memoized). */
  keyFile?: KeyFileProblem;
}

type Obj = Record<string, unknown>;

const DURATION_RANGES: { path: JsonPath; min: number; max: number }[] = [
  { path: ['connection', 'connect_timeout'], min: 1_000, max: 300_000 },
  { path: ['connection', 'command_timeout'], min: 10_000, max: 3_600_000 },
  { path: ['connection', 'keepalive_interval'], min: 1_000, max: 300_000 },
  { path: ['rollout', 'health_check_timeout'], min: 1_000, max: 3_600_000 },
  { path: ['rollout', 'reboot_due_after'], min: 86_400_000, max: 3650 * 86_400_000 },
];

export function checkRules(input: RulesInput): Diagnostic[] {
  const { yaml, config } = input;
  const out: Diagnostic[] = [];
  const raw = (yaml.value ?? {}) as Obj;
  const at = (
    severity: Diagnostic['severity'],
    code: string,
    path: JsonPath,
    message: string,
    hint?: string,
    where: 'key' | 'value' = 'value',
  ): void => {
    out.push(
      yaml.source.diagnostic(severity, code, message, offsetOf(yaml.doc, path, where), hint),
    );
  };
  const listIndex = (path: JsonPath, name: string): number => {
    let node: unknown = raw;
    for (const seg of path) node = (node as Obj | undefined)?.[seg];
    return Array.isArray(node) ? node.indexOf(name) : -1;
  };
  const patchNames = [...config.patches.keys()];

  const user = connectionUserFinding(get(raw, ['connection', 'user']));
  if (user) at('error', 'rules/connection-user', ['connection', 'user'], user.message, user.hint);
  const keyPath: JsonPath = ['connection', 'private_key_file'];
  const key = keyFileFinding('connection.private_key_file', get(raw, keyPath), input.keyFile);
  if (key) at('error', 'rules/private-key-file', keyPath, key.message, key.hint);

  // --- durations and amounts -------------------------------------------------------------
  for (const { path, min, max } of DURATION_RANGES) {
    const v = get(raw, path);
    const ms = parseDuration(v);
    if (v === undefined || ms === undefined) continue;
    if (ms < min || ms > max) {
      at(
        'error',
        'rules/duration-range',
        path,
        `${describePath(path)} must be between ${formatDuration(min)} and ${formatDuration(max)}, not ${showValue(v)}`,
      );
    }
  }
  const rawWaves = get(raw, ['rollout', 'waves']);
  if (Array.isArray(rawWaves)) checkWaves(rawWaves, at);
  const maxFailures = parseAmount(get(raw, ['rollout', 'max_failures']));
  if (maxFailures?.kind === 'percent' && maxFailures.value > 100) {
    at(
      'error',
      'rules/percent-range',
      ['rollout', 'max_failures'],
      `rollout.max_failures must be a percentage from 0% to 100%, not ${maxFailures.value}%`,
    );
  }

  // --- the catalogue ---------------------------------------------------------------------
  for (const patch of config.patches.values()) {
    const base = ['patches', patch.name];
    const rp = (get(raw, base) ?? {}) as Obj;
    if (rp.file === undefined && rp.rpm === undefined) {
      at(
        'error',
        'rules/patch-source',
        base,
        `patch '${patch.name}' needs a source: 'file' (with 'sha256') or 'rpm'`,
        undefined,
        'key',
      );
    }
    if (rp.file !== undefined && rp.rpm !== undefined) {
      at(
        'error',
        'rules/patch-source',
        [...base, 'rpm'],
        `patch '${patch.name}' has both 'file' and 'rpm': give one source`,
        undefined,
        'key',
      );
    }
    if (rp.file !== undefined && rp.sha256 === undefined) {
      at(
        'error',
        'rules/patch-sha256',
        [...base, 'file'],
        `patch '${patch.name}' has a 'file' but no 'sha256'`,
        'add sha256: <output of sha256sum FILE>',
        'key',
      );
    }
    if (rp.file === undefined && rp.sha256 !== undefined) {
      at(
        'error',
        'rules/patch-sha256',
        [...base, 'sha256'],
        `patch '${patch.name}' has a 'sha256' but no 'file' to check it against`,
        undefined,
        'key',
      );
    }
    for (const [i, k] of patch.kernels.entries()) {
      if (!isKernelPattern(k)) {
        const path = Array.isArray(rp.kernel) ? [...base, 'kernel', i] : [...base, 'kernel'];
        at(
          'error',
          'rules/kernel-pattern',
          path,
          `'${k}' is not a kernel release or glob (as uname -r prints, e.g. 5.14.0-362.8.1.el9_3.x86_64 or 4.18.0-*)`,
        );
      }
    }
    if (patch.source.kind === 'file' && typeof rp.file === 'string') {
      const facts = input.patchFiles.get(patch.source.path);
      const filePath = [...base, 'file'];
      if (!patch.source.written.endsWith('.ko')) {
        at(
          'error',
          'rules/patch-file',
          filePath,
          `patch file '${patch.source.written}' is not a kernel module: kpatch installs .ko files`,
        );
      } else if (facts?.error !== undefined) {
        at(
          'error',
          'rules/patch-file',
          filePath,
          `patch file '${patch.source.written}' cannot be read: ${facts.error}`,
          `the path is relative to ${config.file}`,
        );
      } else if (
        facts?.sha256 !== undefined &&
        /^[0-9a-f]{64}$/.test(patch.source.sha256) &&
        facts.sha256 !== patch.source.sha256
      ) {
        at(
          'error',
          'rules/sha256-mismatch',
          [...base, 'sha256'],
          `sha256 of '${patch.source.written}' does not match: the file has ${facts.sha256}`,
          'update sha256 if the file changed on purpose, otherwise restore the file',
        );
      }
      if (facts) patchFileWarnings(patch.source.written, facts, filePath, at);
    }
    if (patch.released !== undefined && !isCalendarDate(patch.released)) {
      at(
        'error',
        'rules/date',
        [...base, 'released'],
        `patches.${patch.name}.released is not a real date: '${patch.released}'`,
      );
    }
    for (const [i, old] of patch.replaces.entries()) {
      const idx = listIndex([...base, 'replaces'], old);
      const path = [...base, 'replaces', idx >= 0 ? idx : i];
      const target = config.patches.get(old);
      if (!target) {
        at(
          'error',
          'rules/unknown-patch',
          path,
          `patch '${patch.name}' replaces unknown patch '${old}'`,
          didYouMean(
            old,
            patchNames.filter((n) => n !== patch.name),
          ),
        );
      } else if (old === patch.name) {
        at('error', 'rules/replaces-cycle', path, `patch '${patch.name}' replaces itself`);
      } else if (
        target.kernels.length &&
        patch.kernels.length &&
        !kernelsOverlap(target.kernels, patch.kernels)
      ) {
        at(
          'error',
          'rules/replaces-kernel',
          path,
          `patch '${patch.name}' (kernel ${patch.kernels.join(', ')}) replaces '${old}', which is for another kernel (${target.kernels.join(', ')})`,
          'atomic replace only works between patches for the same kernel',
        );
      }
    }
  }
  checkReplacesCycles(config, (name, cycle) => {
    const idx = listIndex(['patches', name, 'replaces'], cycle[1] ?? '');
    at(
      'error',
      'rules/replaces-cycle',
      ['patches', name, 'replaces', Math.max(idx, 0)],
      `'replaces' forms a cycle: ${cycle.join(' → ')}`,
    );
  });
  checkDuplicateModules(config, (a, b) => {
    at(
      'error',
      'rules/duplicate-module',
      ['patches', b, 'module'],
      `patches '${a}' and '${b}' both load module '${config.patches.get(b)?.module ?? ''}' for the same kernel`,
      'a module name identifies a live patch on a host: give each patch its own',
    );
  });

  // --- groups ----------------------------------------------------------------------------
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

  // --- per host: contradictions between groups, inventory variables -------------------------
  if (inv) {
    const { conflicts } = resolveDesired(config, inv);
    for (const c of conflicts) reportConflict(c, raw, at);
    pushAll(out, checkConnectionVars(inv, input.keyFile));
  }
  return out;
}

/** A patch file that a review of the project does not cover: outside it, or behind a symlink. */
function patchFileWarnings(written: string, facts: PatchFileFacts, path: JsonPath, at: At): void {
  const hint =
    'kpfleet loads it as root on every host: keep patch modules in the project folder, where a review of kpfleet.yml covers them (the sha256 is checked either way)';
  if (facts.outsideProject !== undefined) {
    const via = facts.realPath !== undefined ? `: a symlink leads to ${facts.realPath}` : '';
    at(
      'warning',
      'rules/patch-file-outside',
      path,
      `patch file '${written}' is outside the project folder ${facts.outsideProject}${via}`,
      hint,
    );
  } else if (facts.realPath !== undefined) {
    at(
      'warning',
      'rules/patch-file-symlink',
      path,
      `patch file '${written}' is reached through a symlink: it is ${facts.realPath}`,
      hint,
    );
  }
}

function get(root: unknown, path: JsonPath): unknown {
  let node = root;
  for (const seg of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Obj)[seg];
  }
  return node;
}

type At = (
  severity: Diagnostic['severity'],
  code: string,
  path: JsonPath,
  message: string,
  hint?: string,
  where?: 'key' | 'value',
) => void;

function checkWaves(waves: unknown[], at: At): void {
  let lastCount = 0;
  let lastPercent = 0;
  let last: Amount | undefined;
  let allValid = true;
  for (const [i, w] of waves.entries()) {
    const a = parseAmount(w);
    if (!a) {
      allValid = false; // the schema reported it
      continue;
    }
    const path = ['rollout', 'waves', i];
    if (a.kind === 'percent') {
      if (a.value <= 0 || a.value > 100) {
        at(
          'error',
          'rules/percent-range',
          path,
          `a wave must be more than 0% and at most 100%, not ${a.value}%`,
        );
        allValid = false;
        continue;
      }
      if (a.value <= lastPercent) {
        at(
          'error',
          'rules/waves-order',
          path,
          `waves are cumulative: ${a.value}% must be larger than the ${lastPercent}% before it`,
          'e.g. [1, 10%, 50%, 100%]',
        );
      }
      lastPercent = a.value;
    } else {
      if (a.value <= lastCount) {
        at(
          'error',
          'rules/waves-order',
          path,
          `waves are cumulative: ${a.value} host(s) must be more than the ${lastCount} before it`,
          'e.g. [1, 10, 100%]',
        );
      }
      lastCount = a.value;
    }
    last = a;
  }
  if (allValid && last && !(last.kind === 'percent' && last.value === 100)) {
    at(
      'warning',
      'rules/waves-last',
      ['rollout', 'waves', waves.length - 1],
      'the last wave is not 100%: the remaining hosts will be converged in one final wave',
      'end the list with 100%',
    );
  }
}

function checkReplacesCycles(
  config: Config,
  report: (name: string, cycle: string[]) => void,
): void {
  const state = new Map<string, 'visiting' | 'done'>();
  const reported = new Set<string>();
  const visit = (name: string, stack: string[]): void => {
    const s = state.get(name);
    if (s === 'done') return;
    if (s === 'visiting') {
      const cycle = [...stack.slice(stack.indexOf(name)), name];
      const key = [...cycle].sort().join('|');
      const start = cycle[0] ?? name;
      if (!reported.has(key) && cycle.length > 2) {
        reported.add(key);
        report(start, cycle);
      }
      return;
    }
    state.set(name, 'visiting');
    for (const next of config.patches.get(name)?.replaces ?? []) {
      if (next !== name && config.patches.has(next)) visit(next, [...stack, name]);
    }
    state.set(name, 'done');
  };
  for (const name of config.patches.keys()) visit(name, []);
}

function checkDuplicateModules(config: Config, report: (a: string, b: string) => void): void {
  const patches = [...config.patches.values()].filter((p) => p.module !== '');
  for (let i = 0; i < patches.length; i++) {
    for (let j = i + 1; j < patches.length; j++) {
      const a = patches[i];
      const b = patches[j];
      if (a && b && a.module === b.module && kernelsOverlap(a.kernels, b.kernels))
        report(a.name, b.name);
    }
  }
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

function isCalendarDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return (
    d.getUTCFullYear() === Number(m[1]) &&
    d.getUTCMonth() === Number(m[2]) - 1 &&
    d.getUTCDate() === Number(m[3])
  );
}
