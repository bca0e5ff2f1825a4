/**
 * Steps sent in one exec (src/apply/batch.ts), run by real shells (dash as /bin/sh, and bash):
 * each step's output comes back apart, the host's gate goes on only after a step `judgeStep`
 * passes, and stops the batch after one it would fail (a wrong verification, a failed exit, an
 * unsynced change, a step refused for the lock), so no later step runs. The gate is never looser
 * than the judge: for every kind that batches, what the gate lets through the judge passes.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { batchScript, gatePasses, passingVerify, splitBatch } from '../../../src/apply/batch.ts';
import { LOCK_LOST_MARK } from '../../../src/apply/lock.ts';
import { frame } from '../../../src/apply/step-frame.ts';
import { judgeStep } from '../../../src/apply/steps.ts';
import type { Change } from '../../../src/plan/model.ts';
import { quote } from '../../../src/transport/shell.ts';

const SHA = 'a'.repeat(64);
const EL9 = '5.14.0-362.8.1.el9_3.x86_64';
const INSTALL: Change = {
  action: 'install',
  kernel: EL9,
  file: '~/.kpfleet/stage/aaaaaaaaaaaaaaaa/livepatch-a.ko',
  module: 'livepatch_a',
  sha256: SHA,
} as Change;
const LOAD: Change = { action: 'load', module: 'livepatch_a', patch: 'a' } as Change;
const UNLOAD: Change = { action: 'unload', module: 'livepatch_b' } as Change;
const ENABLE: Change = { action: 'enable-service' } as Change;

/** A stand-in step: prints `said`, exits `rc`, then its verification prints `verify`. */
const fake = (said: string, rc: number, verify: string, durable?: string): string =>
  frame(
    `printf '%s\\n' ${quote(said)}; (exit ${String(rc)})`,
    `printf '%s' ${quote(verify)}`,
    durable,
  );

function run(shell: string, parts: { sent: string; passing: string }[]): string {
  const r = spawnSync(shell, ['-c', batchScript(parts)], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

describe.each(['sh', 'bash'])('a batch run by %s', (shell) => {
  it("gates as gatePasses says (the in-memory host's gate is the shell's)", () => {
    const outputs: [string, number, string, string][] = [
      ['ok', 0, '10', '10'],
      ['ok', 0, '10\n\n', '10'],
      ['ok', 0, '100', '10'],
      ['ok', 0, '1', '10'],
      ['ok', 1, '10', '10'],
      ['ok', 0, '', ''],
      ['ok', 0, '\n', ''],
      ['ok', 0, 'x', ''],
      ['ok', 0, `${SHA}\n`, SHA],
      ['ok', 0, `${SHA} `, SHA],
      ['ok', 0, 'enabled', 'enabled'],
      ['ok', 0, 'disabled', 'enabled'],
    ];
    for (const [said, rc, verify, passing] of outputs) {
      for (const durable of [undefined, 'false']) {
        const parts = [
          { sent: fake(said, rc, verify, durable), passing },
          { sent: fake('second', 0, ''), passing: '' },
        ];
        const outs = splitBatch(run(shell, parts), 2);
        const first = (outs[0] ?? '').replace(/\n+$/, '');
        const label = JSON.stringify([said, rc, verify, passing, durable]);
        expect(outs.length === 2, label).toBe(gatePasses(first, passing));
      }
    }
  });

  it('every step passes: all run, each judged from its own output', () => {
    const changes = [INSTALL, LOAD, ENABLE, UNLOAD];
    const parts = [
      { sent: fake('installing', 0, `${SHA}\n`), passing: SHA },
      { sent: fake('loading', 0, '10'), passing: '10' },
      { sent: fake('enabled it', 0, 'enabled\n'), passing: 'enabled' },
      { sent: fake('unloading', 0, ''), passing: '' },
    ];
    const outs = splitBatch(run(shell, parts), changes.length);
    expect(outs).toHaveLength(4);
    outs.forEach((o, k) =>
      expect(judgeStep(changes[k] as Change, o), String(k)).toEqual({ ok: true }),
    );
    expect(outs[1]).toContain('loading');
    expect(outs[1]).not.toContain('installing');
  });

  it.each([
    ['a wrong verification', fake('loading', 0, '11'), /still in transition/],
    ['a failed exit', fake('kpatch: no such module', 1, ''), /not in \/sys\/kernel\/livepatch/],
    ['an unsynced change', fake('loading', 0, '10', 'false'), /sync failed/],
    ['a step refused for the lock', `echo ${LOCK_LOST_MARK}; exit 75`, /no longer this run's/],
  ])('%s stops the batch: the next step never runs', (_what, sent, error) => {
    const stdout = run(shell, [
      { sent: fake('installing', 0, SHA), passing: SHA },
      { sent, passing: '10' },
      { sent: 'echo RAN-AFTER >&2; echo RAN-AFTER', passing: '' },
    ]);
    expect(stdout).not.toContain('RAN-AFTER');
    const outs = splitBatch(stdout, 3);
    expect(outs).toHaveLength(2);
    expect(judgeStep(INSTALL, outs[0] ?? '')).toEqual({ ok: true });
    const second = judgeStep(LOAD, outs[1] ?? '');
    expect(second.ok).toBe(false);
    expect(second.error).toMatch(error);
  });
});

describe('the gate is never looser than the judge', () => {
  it.each([INSTALL, LOAD, ENABLE, UNLOAD])(
    '$action: its passing verification passes the judge',
    (c) => {
      const passing = passingVerify(c);
      expect(passing).toBeDefined();
      // what the step prints when it passes: the command, exit 0, the verification
      const stdout = run('sh', [
        { sent: fake('done', 0, `${passing ?? ''}\n`), passing: passing ?? '' },
      ]);
      expect(judgeStep(c, splitBatch(stdout, 1)[0] ?? '')).toEqual({ ok: true });
    },
  );

  it('the kinds that cannot batch say so', () => {
    for (const action of ['upload', 'uninstall', 'package-install', 'package-remove'])
      expect(passingVerify({ action } as Change), action).toBeUndefined();
  });
});
