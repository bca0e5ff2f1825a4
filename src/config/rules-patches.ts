/**
 * Semantic rules of kpfleet.yml about the patch catalogue: one source per patch (a file with its
 * sha256, or an rpm), kernel patterns, the file itself (a readable .ko with that sha256, inside
 * the project), real release dates, `replaces` (known patches, the same kernel, no cycle), and
 * no two patches loading one module on one kernel.
 */
import { didYouMean } from '../util/suggest.ts';
import { isKernelPattern, kernelsOverlap } from './kernel-match.ts';
import type { Config } from '../config-model.ts';
import type { JsonPath } from './yaml-doc.ts';
import type { At, Obj, PatchFileFacts, RuleContext } from './rules-context.ts';
import { get } from './rules-context.ts';

/** Each patch of the catalogue, then the catalogue as a whole. */
export function checkPatches(ctx: RuleContext): void {
  const { config, raw, at, input, listIndex, patchNames } = ctx;
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
