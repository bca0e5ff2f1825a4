/**
 * The crash guard's records as the facts probe reads them (issue 15 point 4): a record of an
 * older boot is a suspect, one of this boot is not; anything not in the records' exact shape is
 * the host's facts error naming it (a hostile host may write anything there), bounded.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LOAD_RECORD_DIR } from '../../../src/host-paths.ts';
import { parseFacts } from '../../../src/facts/parse/facts.ts';
import { readLoadRecords } from '../../../src/facts/parse/load-records.ts';
import { probeScript, SECTION_MARK } from '../../../src/facts/probe.ts';

const BOOT = '6a1c3f0e-2b4d-4e8f-9a0b-1c2d3e4f5a6b';
const OLD = '0b8f6a2e-1111-4222-8333-944455556666';
const record = (name: string, lines: string[]) => [`record ${name}`, ...lines.map((l) => `| ${l}`)];
const good = (boot: string, module = 'livepatch_x') => [
  `module=${module}`,
  'patch=cve-x',
  `boot=${boot}`,
  'run=2026-12-04T12:00:00.000Z-0a1b2c3d',
  'time=2026-12-04T12:00:05Z',
];
const section = (...parts: string[][]) => [BOOT, ...parts.flat()].join('\n');

describe('load records', () => {
  it('a record of an older boot is a suspect, with every field; one of this boot is not', () => {
    const r = readLoadRecords(
      section(
        record('livepatch_x', good(OLD)),
        [''],
        record('livepatch_y', good(BOOT, 'livepatch_y')),
      ),
    );
    expect(r).toEqual({
      bootId: BOOT,
      suspects: [
        {
          module: 'livepatch_x',
          patch: 'cve-x',
          bootId: OLD,
          run: '2026-12-04T12:00:00.000Z-0a1b2c3d',
          time: '2026-12-04T12:00:05Z',
        },
      ],
    });
  });

  it('no section (a host probed before this existed) is no boot id and no suspect', () => {
    expect(readLoadRecords('')).toEqual({ suspects: [] });
  });

  it('a .new file (the host went down while writing, before the load) is no suspect', () => {
    expect(readLoadRecords(section(record('livepatch_x.new', good(OLD)))).suspects).toEqual([]);
  });

  it.each([
    ['a bad boot id', [`not-a-uuid`], /boot_id is "not-a-uuid"/],
    [
      'an unknown key',
      [BOOT, ...record('livepatch_x', [...good(OLD).slice(0, 4), 'evil=1'])],
      /"evil=1"/,
    ],
    [
      'a key twice',
      [BOOT, ...record('livepatch_x', [...good(OLD).slice(0, 4), `boot=${BOOT}`])],
      /each once/,
    ],
    [
      'a module name with a shell character',
      [BOOT, ...record('x;reboot', good(OLD))],
      /not a kernel module name/,
    ],
    [
      'the record of another module',
      [BOOT, ...record('livepatch_z', good(OLD))],
      /record of another module/,
    ],
    [
      'a patch name with a %',
      [
        BOOT,
        ...record(
          'livepatch_x',
          good(OLD).map((l) => l.replace('patch=cve-x', 'patch=%n')),
        ),
      ],
      /patch="%n"/,
    ],
    [
      'a terminal escape in the time',
      [
        BOOT,
        ...record(
          'livepatch_x',
          good(OLD).map((l) => (l.startsWith('time=') ? 'time=\u001b[2J' : l)),
        ),
      ],
      /time="\\u001b\[2J"/,
    ],
    ['a line outside a record', [BOOT, 'boot=forged'], /a line "boot=forged"/],
    [
      'an unprefixed line in a record',
      [BOOT, ...record('livepatch_x', good(OLD)), 'module=evil'],
      /a line "module=evil"/,
    ],
    [
      'no boot id in the record',
      [
        BOOT,
        ...record(
          'livepatch_x',
          good(OLD).filter((l) => !l.startsWith('boot=')),
        ),
      ],
      /boot="", not a boot id/,
    ],
  ])('%s is a facts error that names it', (_what, lines, message) => {
    expect(() => readLoadRecords(lines.join('\n'))).toThrow(message);
  });

  it('more records than the bound, or a record of too many lines, is refused', () => {
    const many = Array.from({ length: 65 }, (_, i) =>
      record(`livepatch_${String(i)}`, good(OLD, `livepatch_${String(i)}`)),
    );
    expect(() => readLoadRecords(section(...many))).toThrow(/more than 64 records/);
    const long = record('livepatch_x', [...good(OLD), 'run=x']);
    expect(() => readLoadRecords(section(long))).toThrow(/more than 5 lines/);
  });

  it('through parseFacts: the suspects reach the facts, a bad record is an E_FACTS_FIELD error', () => {
    const out = (body: string) =>
      [
        ['probe', '3'],
        ['uname', '5.14.0-362.8.1.el9_3.x86_64\nx86_64'],
        ['kpatch-version', 'rc=127'],
        ['kpatch-list', 'rc=127'],
        ['livepatch', 'present'],
        ['service', 'rc=127'],
        ['load-records', body],
        ['end', ''],
      ]
        .map(([n, b]) => `\n${SECTION_MARK} ${n ?? ''}\n${b ?? ''}`)
        .join('\n');
    const ok = parseFacts(out(section(record('livepatch_x', good(OLD)))));
    expect(ok.ok && ok.facts.suspects?.map((s) => s.module)).toEqual(['livepatch_x']);
    expect(ok.ok && ok.facts.bootId).toBe(BOOT);
    const bad = parseFacts(out(section(record('livepatch_x', ['module=livepatch_x\u009b']))));
    expect(bad).toMatchObject({ ok: false, kind: 'field' });
  });
});

describe('a records folder the login user cannot read (the probe runs without root)', () => {
  it.runIf(process.getuid?.() === 0)(
    'the probe says so and the facts fail for that host, never "no suspect" (run for real as nobody)',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'kpfleet-unit-records-'));
      try {
        chmodSync(dir, 0o755);
        const records = join(dir, 'loading');
        mkdirSync(records);
        writeFileSync(join(records, 'livepatch_x'), good(OLD).join('\n') + '\n');
        chmodSync(records, 0o700); // root's only
        // the probe's load-records section alone, its folder moved into the scratch one
        const line = probeScript()
          .split('\n')
          .find((l) => l.includes(LOAD_RECORD_DIR));
        if (line === undefined) throw new Error('no load-records line in the probe');
        const r = spawnSync(
          'setpriv',
          [
            '--reuid=nobody',
            '--regid=nogroup',
            '--clear-groups',
            'sh',
            '-c',
            line.replaceAll(LOAD_RECORD_DIR, records),
          ],
          { encoding: 'utf8' },
        );
        expect(r.status).toBe(0);
        expect(() => readLoadRecords(r.stdout)).toThrow(
          /the login user cannot read \/var\/lib\/kpfleet\/loading/,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
