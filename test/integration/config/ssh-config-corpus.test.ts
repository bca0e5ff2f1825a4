/**
 * Keeps the ssh-config corpus (test/ssh-config-corpus.ts) honest against the real OpenSSH client:
 * every `dangerous` case is one that `ssh -G` reads as the directive the scan names (its command
 * runs and creates the marker, or `ssh -G` prints the directive), every `harmless` one runs and
 * shows nothing, and the cases refused only by caution run nothing either. The unit test checks
 * the scan against the same corpus (test/unit/config/ssh-config-scan.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DANGEROUS, fill, HARMLESS, REFUSED_BY_CAUTION } from '../../ssh-config-corpus.ts';
import type { CorpusCase } from '../../ssh-config-corpus.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** `ssh -G -F ssh_config h1` on the case's files; its output and whether the marker appeared. */
function sshG(c: CorpusCase): {
  lines: string[];
  marker: boolean;
  dir: string;
  markerPath: string;
} {
  const dir = mkdtempSync(join(tmpdir(), 'kpfleet-corpus-'));
  dirs.push(dir);
  const marker = join(dir, 'MARKER');
  writeFileSync(join(dir, 'ssh_config'), `${fill(c.config, dir, marker)}\n`, { mode: 0o600 });
  for (const [name, text] of Object.entries(c.files ?? {}))
    writeFileSync(join(dir, name), fill(text, dir, marker), { mode: 0o600 });
  const r = spawnSync('ssh', ['-G', '-F', join(dir, 'ssh_config'), 'h1'], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir },
    encoding: 'utf8',
    timeout: 15_000,
  });
  expect(r.error).toBeUndefined();
  return { lines: r.stdout.split('\n'), marker: existsSync(marker), dir, markerPath: marker };
}

const DANGER_LINE = /^(proxycommand|localcommand|knownhostscommand|pkcs11provider) /;

describe('the real ssh -G reads each dangerous case as the directive the scan names', () => {
  it.each(DANGEROUS.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const r = sshG(c);
    const proof = c.proof;
    if (proof === undefined) throw new Error(`${c.name}: a dangerous case needs a proof`);
    if ('marker' in proof) expect(r.marker).toBe(true);
    // (ssh -G lower-cases HostName and HostKeyAlias, with the random folder name in them)
    else
      expect(r.lines.map((l) => l.toLowerCase())).toContain(
        fill(proof.line, r.dir, r.markerPath).toLowerCase(),
      );
  });
});

describe('ssh -G runs and shows nothing for the harmless cases', () => {
  it.each(HARMLESS.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const r = sshG(c);
    expect(r.marker).toBe(false);
    expect(r.lines.filter((l) => DANGER_LINE.test(l) && l !== 'proxycommand none')).toEqual([]);
    expect(r.lines).toContain('permitlocalcommand no');
  });
});

describe('the cases refused only by caution run nothing in ssh either', () => {
  it.each(REFUSED_BY_CAUTION.map((c) => [c.name, c] as const))('%s', (_, c) => {
    expect(sshG(c).marker).toBe(false);
  });
});
