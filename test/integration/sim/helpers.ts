import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';

import { createSimHost } from '../../../lab/sim-host.ts';
import type { RunResult, SimHost, SimProfile } from '../../../lab/sim-host.ts';

const hosts: SimHost[] = [];

/** A fresh simulated host in a temporary directory; fast clock unless told otherwise. */
export function host(profile: Partial<SimProfile> = {}): SimHost {
  const root = mkdtempSync(join(tmpdir(), 'kpsim-'));
  const h = createSimHost(root, { TIME_SCALE: 0.01, TRANSITION_SECONDS: 0, ...profile });
  hosts.push(h);
  return h;
}

export function cleanup(): void {
  for (const h of hosts.splice(0)) {
    try {
      h.killBackground();
    } finally {
      rmSync(h.root, { recursive: true, force: true });
    }
  }
}

export function lines(s: string): string[] {
  if (s === '') return [];
  return s.replace(/\n$/, '').split('\n');
}

export function expectRun(r: RunResult, code: number, stdout: string[], stderr: string[]): void {
  expect({ code: r.code, stdout: lines(r.stdout), stderr: lines(r.stderr) }).toEqual({
    code,
    stdout,
    stderr,
  });
}

/** Invariants of the simulated sysfs (docs/kpatch-behaviour.md §5.1–§5.3), checked after every operation. */
export function expectConsistent(h: SimHost): void {
  const s = h.readSysfs();
  let inTransition = 0;
  for (const [name, p] of Object.entries(s.patches)) {
    expect(['0', '1']).toContain(p.enabled);
    expect(['0', '1']).toContain(p.transition);
    if (p.transition === '1') inTransition++;
    // a livepatch in sysfs is a loaded module holding a reference
    expect(s.modules[name], `module of ${name}`).toBeDefined();
    if (p.enabled === '1') expect(s.modules[name]?.refcnt).toBe('1');
  }
  expect(inTransition).toBeLessThanOrEqual(1);
  for (const [name, m] of Object.entries(s.modules)) {
    if (!(name in s.patches)) expect(m.refcnt, `leftover ${name}`).toBe('0');
  }
  // world-readable, like real sysfs
  const walk = (d: string): void => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (n !== 'force' && n !== 'signal') expect(st.mode & 0o004, p).toBe(0o004);
    }
  };
  walk(join(h.root, 'sys'));
}

export const K9 = '5.14.0-362.8.1.el9_3.x86_64';
