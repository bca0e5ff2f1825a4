/**
 * Issue 14 §3: what a host (or a file) says cannot act on the terminal. A corpus of hostile names
 * (control sequences, C1, bidi, zero-width, line breaks) goes through every text renderer, in
 * every field a host or a file fills; the output holds none of them raw, and shows each as a
 * visible escape. Our own colours still work.
 */
import { Writable } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { ApplyEvent, HostResult, StepRecord } from '../../../src/apply/events.ts';
import type { Config, Patch } from '../../../src/config-model.ts';
import type { HostConnection } from '../../../src/connection.ts';
import type { HostDesired } from '../../../src/desired/resolve.ts';
import { AppError } from '../../../src/errors.ts';
import type { HostFactsResult } from '../../../src/facts/gather.ts';
import type { Change, HostPlan, Plan } from '../../../src/plan/model.ts';
import { createListrRenderer } from '../../../src/report/apply-listr.ts';
import { createPlainRenderer } from '../../../src/report/apply-plain.ts';
import { renderDiagnostic } from '../../../src/report/diagnostics.ts';
import { renderFacts } from '../../../src/report/facts.ts';
import { renderHosts } from '../../../src/report/hosts.ts';
import { renderPlanText } from '../../../src/report/plan-text.ts';
import { oneLine, safeData, safeLines, safeText } from '../../../src/report/safe-text.ts';
import { colorStyle, plainStyle } from '../../../src/report/style.ts';
import { facts, inst, live, mod } from '../plan/builders.ts';
import { fleetPlan } from './plan-fixtures.ts';
import { TERMINAL_CORPUS, fakeLines, firstRaw } from './hostile-corpus.ts';

/** The colour sequences of colorStyle (the corpus uses none of them). */
const OUR_SGR = new RegExp(`${String.fromCharCode(27)}\\[\\d+m`, 'g');
const RAWS = TERMINAL_CORPUS.map((h) => h.raw);
const VISIBLES = TERMINAL_CORPUS.map((h) => h.visible);
const pick = (i: number) => RAWS[i % RAWS.length] ?? '';

/** Nothing raw; no fake line of its own; and every name shown, escaped, where `shown` says. */
function expectSafe(text: string, shown: readonly string[] = VISIBLES): void {
  expect(firstRaw(text)).toBeUndefined();
  expect(fakeLines(text)).toEqual([]);
  for (const v of shown) expect(text).toContain(v);
}

describe('safeText, safeLines, oneLine, safeData', () => {
  it('escapes every control, format and invisible character, and nothing else', () => {
    for (const h of TERMINAL_CORPUS) expect(safeText(h.raw)).toBe(h.visible);
    expect(safeText('kpatch_cve_2024 ✓ é 日本 \\x1b')).toBe('kpatch_cve_2024 ✓ é 日本 \\x1b');
    expect(safeText('tag\u{e0041}\ud800')).toBe('tag\\u{e0041}\\ud800');
  });

  it('keeps line breaks in host output, escaping the rest; a bare CR breaks the line', () => {
    expect(safeLines('a\u001b[2K\r\nb\tc\rd\u202e')).toBe('a\\x1b[2K\nb\\tc\nd\\u202e');
  });

  it('puts prose on one line with ⏎ marks', () => {
    expect(oneLine(' first\r\n second\u001b[1A \n')).toBe('first ⏎ second\\x1b[1A');
  });

  it('copies plain data with every string safe; line breaks kept only under the keys given', () => {
    const data = { name: 'a\nb', nested: [{ output: 'x\ny', list: ['\u001b'] }], n: 1 };
    expect(safeData(data, new Set(['output']))).toEqual({
      name: 'a\\nb',
      nested: [{ output: 'x\ny', list: ['\\x1b'] }],
      n: 1,
    });
    expect(data.name).toBe('a\nb'); // the input is not changed
  });
});

// ---------------------------------------------------------------------------------------------
// facts

function hostileFacts(): HostFactsResult[] {
  const f = facts({
    kernel: pick(0),
    arch: pick(1),
    os: { prettyName: pick(2) },
    kpatch: { installed: true, version: pick(3) },
    patches: RAWS.map((n) => live(n, { transition: true })),
    modules: RAWS.map((n) => mod(`leftover-${n}`, 0)),
    installed: RAWS.map((n) => ({ ...inst(`${n}.ko`), kernel: n, module: `m-${n}` })),
    rpmInstalled: RAWS.map((n) => ({ ...inst(`rpm-${n}.ko`), module: `rpm-${n}` })),
    transition: {
      patch: pick(4),
      enabling: true,
      tasks: RAWS.map((n, i) => ({ pid: 100 + i, comm: n })),
      tasksComplete: false,
    },
    packages: RAWS.map((n) => `kpatch-patch-${n}`),
    service: { present: true, enabled: false, state: pick(5) },
  });
  const failed: HostFactsResult = {
    host: pick(6),
    ok: false,
    error: new AppError('E_FACTS', `probe failed (stderr: ${pick(1)})`, {
      hint: `the host said ${pick(0)}`,
    }),
    durationMs: 0,
  };
  return [...RAWS.map((n) => ({ host: n, ok: true as const, facts: f, durationMs: 0 })), failed];
}

describe('renderFacts with hostile names', () => {
  it('shows every name escaped, in every field', () => {
    const results = hostileFacts();
    const notes = new Map([
      [pick(0), [{ kind: 'reboot-due' as const, severity: 'warning' as const, message: pick(3) }]],
    ]);
    const text = renderFacts(results, plainStyle, notes);
    expectSafe(text);
    for (const v of VISIBLES) {
      expect(text).toContain(`loaded     ${v}`);
      expect(text).toContain(`leftover   leftover-${v}`);
      expect(text).toContain(`package    kpatch-patch-${v}`);
    }
  });

  it('keeps its own colours', () => {
    const text = renderFacts(hostileFacts(), colorStyle);
    expect(text).toContain('\u001b[33menabling\u001b[39m');
    expect(firstRaw(text.replace(OUR_SGR, ''))).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// plan text

function hostileChanges(n: string): Change[] {
  return [
    {
      action: 'upload',
      reason: n,
      patch: n,
      module: n,
      source: `patches/${n}.ko`,
      sha256: 'ab'.repeat(32),
      destination: `~/.kpfleet/stage/00/${n}.ko`,
    },
    {
      action: 'install',
      reason: n,
      patch: n,
      module: n,
      kernel: n,
      file: n,
      sha256: 'ab'.repeat(32),
    },
    { action: 'package-install', reason: n, patch: n, package: n, replacesPackage: n },
    {
      action: 'load',
      reason: n,
      patch: n,
      module: n,
      replacesModules: [n],
      reenable: false,
      cves: [n],
    },
    { action: 'unload', reason: n, module: n, leftover: true, after: n },
    { action: 'uninstall', reason: n, module: n, kernel: n, file: n, after: n },
    { action: 'package-remove', reason: n, package: n, after: n },
  ] as Change[];
}

function hostilePlan(): Plan {
  const plan = fleetPlan();
  for (const [i, n] of RAWS.entries()) {
    const host: HostPlan = {
      host: n,
      groups: [n],
      status: 'changes',
      reason: n,
      kernel: n,
      factsFingerprint: n,
      changes: hostileChanges(n),
      findings: [{ kind: 'unmanaged', severity: 'warning', message: `module ${n} is loaded` }],
      cves: [n],
    };
    const blocked: HostPlan = {
      ...host,
      host: `blocked-${n}`,
      status: i % 2 === 0 ? 'error' : 'unreachable',
      error: { code: n, message: `stderr: ${n}`, step: n, hint: n },
    };
    const converged: HostPlan = { ...host, host: `ok-${n}`, status: 'converged', changes: [] };
    const exposed: HostPlan = {
      ...converged,
      host: `exposed-${n}`,
      findings: [{ kind: 'uncovered', severity: 'warning', message: n }],
    };
    plan.hosts.push(host, blocked, converged, exposed);
  }
  plan.summary.cves.push(...RAWS);
  return plan;
}

describe('renderPlanText with hostile names', () => {
  it('shows every name escaped: hosts, kernels, changes, reasons, findings, errors, CVEs', () => {
    const text = renderPlanText(hostilePlan(), plainStyle);
    expectSafe(text);
    for (const v of VISIBLES) {
      expect(text).toContain(`~ replace ${v} → ${v}`);
      expect(text).toContain(`ok-${v}`); // converged host names, in the converged line
    }
    // the uncovered hosts and their kernels, named apart
    expect(text).toContain(`exposed-${VISIBLES[0] ?? ''} runs ${VISIBLES[0] ?? ''}`);
  });

  it('keeps its own colours', () => {
    const text = renderPlanText(hostilePlan(), colorStyle);
    expect(text).toContain('\u001b[32m+ upload');
    expect(firstRaw(text.replace(OUR_SGR, ''))).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// hosts, diagnostics

describe('renderHosts with hostile names (an inventory and a project file are files)', () => {
  it('shows every name escaped', () => {
    const patches = new Map<string, Patch>(
      RAWS.map((n, i) => [
        n,
        {
          name: n,
          module: n,
          kernels: [n],
          source:
            i % 2 === 0
              ? { kind: 'rpm', package: n }
              : { kind: 'file', path: n, written: n, sha256: 'ab'.repeat(32) },
          replaces: [],
          cves: [],
        },
      ]),
    );
    const config = { patches } as unknown as Config;
    const views = RAWS.map((n) => ({
      connection: {
        host: n,
        address: n,
        user: n,
        port: 22,
        become: 'sudo',
        knownHosts: [],
        hostKeyChecking: 'strict',
        sshConfig: false,
        connectTimeoutMs: 1,
        commandTimeoutMs: 1,
        keepaliveIntervalMs: 1,
      } satisfies HostConnection,
      desired: {
        host: n,
        groups: [n],
        patches: RAWS.map((p) => ({ patch: p, state: 'loaded', groups: [n] })),
        unmanaged: 'keep',
        uncoveredKernel: 'warn',
        // a source names an inventory file, whose name may be anything
        manager: { choice: 'klp', source: `kpfleet_manager at ${n}:1:1` },
      } satisfies HostDesired,
    }));
    expectSafe(renderHosts(config, views, plainStyle));
  });
});

describe('renderDiagnostic with a hostile file', () => {
  it('shows the file name, message, source line and hint escaped, the caret under the column', () => {
    for (const n of RAWS) {
      const text = renderDiagnostic(
        {
          severity: 'error',
          code: 'yaml/x',
          message: `bad ${n}`,
          file: n,
          pos: { line: 3, col: n.length + 3 },
          lineText: `${n}: x`,
          hint: n,
        },
        plainStyle,
      );
      expectSafe(text, [safeText(n)]);
      // the caret points at the `x` after the name, however wide its escapes are
      const lines = text.split('\n');
      const source = lines[1] ?? '';
      const caret = (lines[2] ?? '').indexOf('^');
      expect(source[caret]).toBe('x');
    }
  });
});

// ---------------------------------------------------------------------------------------------
// apply: plain lines and listr

function hostileRun(): ApplyEvent[] {
  const events: ApplyEvent[] = [
    { type: 'run-start', hosts: RAWS.length, waves: [RAWS.length], check: false, forks: 50 },
    { type: 'wave-start', wave: 1, hosts: [...RAWS] },
  ];
  const results: HostResult[] = [];
  for (const [i, n] of RAWS.entries()) {
    const failed: StepRecord = {
      change: hostileChanges(n)[3] as Change,
      label: `+ load ${n}`,
      ok: false,
      durationMs: 400,
      error: `kpatch load: ${n}`,
      output: `line one\n${n}\nlast ${n}`,
    };
    const undo: StepRecord = { ...failed, label: `- unload ${n}`, rollback: true, ok: i % 2 === 0 };
    const result: HostResult = {
      host: n,
      wave: 1,
      outcome: i % 2 === 0 ? 'failed' : 'rollback-failed',
      message: `+ load ${n}: ${n}`,
      steps: [failed, undo],
      error: { code: 'E_STEP', message: n, hint: `see ${n}` },
      durationMs: 900,
    };
    results.push(result);
    events.push(
      { type: 'host-start', host: n, wave: 1 },
      { type: 'step-start', host: n, index: 0, total: 1, label: failed.label, rollback: false },
      { type: 'step-end', host: n, index: 0, step: failed },
      { type: 'host-phase', host: n, phase: 'rollback' },
      { type: 'step-start', host: n, index: 0, total: 1, label: undo.label, rollback: true },
      { type: 'step-end', host: n, index: 0, step: undo },
      { type: 'host-end', result },
    );
  }
  events.push(
    { type: 'wave-end', wave: 1, failed: RAWS.length, attempted: RAWS.length, halted: true },
    {
      type: 'run-end',
      results,
      halted: true,
      interrupted: false,
      durationMs: 5000,
      uncovered: RAWS.map((n) => ({ host: `exposed-${n}`, kernel: n })),
    },
  );
  return events;
}

describe('apply renderers with hostile names', () => {
  it('plain lines: every name escaped; host output line by line, each line marked', () => {
    const lines: string[] = [];
    const r = createPlainRenderer((l) => lines.push(l), plainStyle, {
      now: () => new Date(2024, 4, 1, 12, 0, 0),
      // the paths and commands said at the end are the user's: escaped too
      next: {
        apply: `kpfleet apply --limit ${RAWS.join('')}`,
        report: RAWS.join('/'),
        audit: RAWS.join('-'),
      },
    });
    for (const e of hostileRun()) r.onEvent(e);
    const text = lines.join('\n');
    expectSafe(text);
    // a line of output as a line of its own, marked; a name's line break starts another
    for (const h of TERMINAL_CORPUS)
      if (!/[\r\n]/.test(h.raw)) expect(text).toContain(`  │ ${h.visible}`);
    expect(text).toContain('  │ ✓ all hosts converged');
    expect(text).toMatch(/Next: look at the hosts whose rollback failed .*kpfleet apply --limit /);
    expect(text).toMatch(/^12:00:00 Audit log: \S/m);
    for (const l of lines) expect(l).toMatch(/^12:00:00 /); // no line of a host's own
  });

  it('listr: every name escaped in titles, errors and the summary', async () => {
    for (const compactAbove of [20, 1]) {
      const chunks: string[] = [];
      const stream = new Writable({
        write(chunk: Buffer | string, _encoding, done) {
          chunks.push(chunk.toString());
          done();
        },
      });
      const r = createListrRenderer({ output: stream, style: plainStyle, compactAbove });
      for (const e of hostileRun()) {
        r.onEvent(e);
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      await r.done();
      expect(r.fellBack()).toBe(false);
      // listr draws with cursor sequences of its own: read the frames as text, then look
      const text = stripVTControlCharacters(chunks.join(''));
      expect(firstRaw(text)).toBeUndefined();
      for (const v of VISIBLES) expect(text).toContain(v);
    }
  });
});
