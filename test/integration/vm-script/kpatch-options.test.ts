/**
 * The VM's kpatch-compatible script (test/vm/kpatch, test/vm/SPEC.md) outside the VM, against a
 * fake tree (KPATCH_TEST_ROOT): `uninstall` reads its options with the real GNU getopt, so `--`
 * ends them, and, as upstream, refuses a name that starts with `-` (its `basename NAME` check).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { TMP_BASE } from '../../../lab/host-dir.ts';

const SCRIPT = new URL('../../vm/kpatch', import.meta.url).pathname;
const K = '6.1.0-28-amd64';
mkdirSync(TMP_BASE, { recursive: true });
const root = mkdtempSync(join(TMP_BASE, 'vm-kpatch-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function kpatch(...args: string[]) {
  const r = spawnSync('sh', [SCRIPT, ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', KPATCH_TEST_ROOT: root, LC_ALL: 'C' },
    encoding: 'utf8',
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.trim().split('\n').filter(Boolean) };
}

const installed = (file: string) => join(root, 'var/lib/kpatch', K, file);

it('uninstall: `--` ends the options; a name starting with `-` is refused either way', () => {
  mkdirSync(join(root, 'var/lib/kpatch', K), { recursive: true });
  for (const f of ['livepatch-foo.ko', '-dash.ko']) writeFileSync(installed(f), '');
  expect(kpatch('uninstall', '-k', K, '-dash.ko')).toMatchObject({
    code: 1,
    stderr: expect.arrayContaining(['kpatch: getopt failed']) as unknown,
  });
  expect(kpatch('uninstall', '-k', K, '--', '-dash.ko')).toEqual({
    code: 1,
    stdout: '',
    stderr: [
      "basename: invalid option -- 'd'",
      "Try 'basename --help' for more information.",
      'kpatch: please supply patch module name without path',
    ],
  });
  expect(existsSync(installed('-dash.ko'))).toBe(true);
  expect(kpatch('uninstall', '-k', K, '--', 'livepatch-foo.ko')).toEqual({
    code: 0,
    stdout: `uninstalling livepatch-foo.ko (${K})\n`,
    stderr: [],
  });
  expect(existsSync(installed('livepatch-foo.ko'))).toBe(false);
});
