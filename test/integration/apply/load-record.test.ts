/**
 * The load step's crash guard record (issue 15 point 4), run in a real sh with its two host
 * paths moved into a temporary folder and a fake kpatch: the record is on disk (0644, every
 * field) while kpatch load runs, gone once it returned, whatever its exit; no record, no load.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LOAD_RECORD_DIR } from '../../../src/host-paths.ts';
import { splitStepOutput, stepFor } from '../../../src/apply/steps.ts';
import type { LoadChange } from '../../../src/plan/model.ts';
import { facts } from '../../unit/plan/builders.ts';

const BOOT = '6a1c3f0e-2b4d-4e8f-9a0b-1c2d3e4f5a6b';
const OLD = '0b8f6a2e-1111-4222-8333-944455556666';
const RUN = '2026-12-04T12:00:00.000Z-0a1b2c3d';
const load: LoadChange = {
  action: 'load',
  patch: 'cve-x',
  module: 'livepatch_x',
  replacesModules: [],
  reenable: false,
  cves: [],
  reason: 'r',
};
let dir = '';
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function run(opts: {
  kpatchExit?: number;
  bootId?: string | null;
  /** A record of livepatch_x already there. */
  record?: string;
  /** livepatch_x's sysfs transition once kpatch returned. */
  transition?: string;
}) {
  dir = mkdtempSync(join(tmpdir(), 'kpfleet-load-record-'));
  const records = join(dir, 'loading');
  const bootFile = join(dir, 'boot_id');
  if (opts.bootId !== null) writeFileSync(bootFile, `${opts.bootId ?? BOOT}\n`);
  mkdirSync(join(dir, 'bin'));
  // the fake kpatch keeps what the record held, and its mode, while the load ran
  writeFileSync(
    join(dir, 'bin/kpatch'),
    `#!/bin/sh\ncp ${records}/livepatch_x ${dir}/seen 2>/dev/null; stat -c %a ${records}/livepatch_x > ${dir}/mode 2>/dev/null; echo "kpatch $*"; exit ${String(opts.kpatchExit ?? 0)}\n`,
    { mode: 0o755 },
  );
  mkdirSync(records);
  if (opts.record !== undefined) writeFileSync(join(records, 'livepatch_x'), opts.record);
  const sysfs = join(dir, 'livepatch');
  if (opts.transition !== undefined) {
    mkdirSync(join(sysfs, 'livepatch_x'), { recursive: true });
    writeFileSync(join(sysfs, 'livepatch_x/enabled'), '1\n');
    writeFileSync(join(sysfs, 'livepatch_x/transition'), `${opts.transition}\n`);
  }
  writeFileSync(join(records, 'livepatch_old'), `module=livepatch_old\npatch=p\nboot=${OLD}\n`);
  writeFileSync(
    join(records, 'livepatch_stale'),
    `module=livepatch_stale\npatch=p\nboot=${BOOT}\n`,
  );
  const script = stepFor(load, {
    facts: facts({ kpatch: { installed: true, version: '0.9.7' } }),
    staging: '',
    runId: RUN,
  })
    .script.replaceAll(LOAD_RECORD_DIR, records)
    .replaceAll('/proc/sys/kernel/random/boot_id', bootFile)
    .replaceAll('/sys/kernel/livepatch', sysfs);
  const stdout = execFileSync('sh', ['-c', script], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH ?? ''}` },
  });
  return { ...splitStepOutput(stdout), records };
}

describe('the load step writes the crash guard record before kpatch load', () => {
  it('on disk while kpatch ran: 0644, module, patch, boot id, run, time; removed after', () => {
    const r = run({});
    expect(r.rc).toBe(0);
    expect(r.output).toContain('kpatch load livepatch_x');
    const seen = readFileSync(join(dir, 'seen'), 'utf8');
    expect(seen).toMatch(
      new RegExp(
        `^module=livepatch_x\\npatch=cve-x\\nboot=${BOOT}\\nrun=${RUN.replaceAll('.', '\\.')}\\ntime=\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\\n$`,
      ),
    );
    expect(readFileSync(join(dir, 'mode'), 'utf8').trim()).toBe('644');
    expect(existsSync(join(r.records, 'livepatch_x'))).toBe(false);
    expect(existsSync(join(r.records, 'livepatch_x.new'))).toBe(false);
    // this boot's leftover (a controller killed mid-load) is removed; an older boot's is kept
    expect(existsSync(join(r.records, 'livepatch_stale'))).toBe(false);
    expect(existsSync(join(r.records, 'livepatch_old'))).toBe(true);
  });

  it('a failed load: kpatch exit passes through, the record is removed all the same', () => {
    const r = run({ kpatchExit: 3 });
    expect(r.rc).toBe(3);
    expect(existsSync(join(dir, 'seen'))).toBe(true);
    expect(existsSync(join(r.records, 'livepatch_x'))).toBe(false);
  });

  it('a record of this module from an earlier boot (a suspect): not loaded, its record kept as it was', () => {
    const suspect = `module=livepatch_x\npatch=cve-x\nboot=${OLD}\nrun=old-run\n`;
    const r = run({ record: suspect });
    expect(r.rc).not.toBe(0);
    expect(r.output).toMatch(/livepatch_x is suspected of crashing this host/);
    expect(existsSync(join(dir, 'seen')), 'kpatch load ran').toBe(false);
    expect(readFileSync(join(r.records, 'livepatch_x'), 'utf8')).toBe(suspect);
  });

  it('kpatch load gave up while the patch is still in transition (§2.4): the record goes all the same (the host stayed up; kept, it would block the patch after any later reboot)', () => {
    const r = run({ kpatchExit: 1, transition: '1' });
    expect(r.rc).toBe(1);
    expect(existsSync(join(r.records, 'livepatch_x'))).toBe(false);
  });

  it('no boot id, no record: kpatch is not run and the step fails', () => {
    const r = run({ bootId: null });
    expect(r.rc).not.toBe(0);
    expect(r.output).toContain('could not write the load record');
    expect(r.output).not.toContain('kpatch load');
  });
});
