/**
 * Issue 14 §3, end to end in-process: a lab host (real SSH, the simulator's state at the real
 * paths) runs a live-patch module whose name is made to attack the terminal and the pull-request
 * comment. `kpfleet facts` and `kpfleet plan` (text and markdown) show the name escaped; nothing
 * of it reaches stdout raw. And an error that quotes what it was given prints it escaped too.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInProcess } from '../../cli-in-process.ts';
import { Lab } from '../../../lab/lab.ts';
import { TMP_BASE } from '../../../lab/host-dir.ts';
import { firstRaw } from '../../unit/report/hostile-corpus.ts';

/** Retitles the window, clears the line, moves up, then reverses what follows. */
const EVIL = 'evil\u001b]0;pwned\u0007\u001b[2K\u001b[1A\u202e[x](https:__evil.example_)';
const SHOWN = 'evil\\x1b]0;pwned\\x07\\x1b[2K\\x1b[1A\\u202e[x](https:__evil.example_)';

const run = (args: string[]) => runInProcess(args);

let lab: Lab;
const project = join(TMP_BASE, `hostile-output-${String(process.pid)}`);

beforeAll(async () => {
  rmSync(project, { recursive: true, force: true });
  mkdirSync(project, { recursive: true });
  lab = await Lab.start({ hosts: 1, dir: join(project, 'lab') });
  const host = lab.hosts[0];
  if (host === undefined) throw new Error('no lab host');
  // A patch in sysfs, as the kernel shows a loaded live patch: its name is the host's to choose.
  const dir = join(host.sim.root, 'sys/kernel/livepatch', EVIL);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'enabled'), '1\n');
  writeFileSync(join(dir, 'transition'), '0\n');
  writeFileSync(
    join(project, 'kpfleet.yml'),
    [
      `inventory: ${lab.inventoryPath}`,
      'connection:',
      `  known_hosts: ${lab.knownHostsPath}`,
      '  ssh_config: false',
      'groups:',
      '  fleet:',
      '    unmanaged: keep',
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  await lab.close();
  rmSync(project, { recursive: true, force: true });
});

describe('a host that names its live patch to attack the terminal', () => {
  // No kernel module is called that (the facts parser refuses the name, E_FACTS_FIELD), but the
  // refusal quotes it: the renderers are what keep it off the terminal and out of the markup.
  it('kpfleet facts refuses the name and shows it escaped', async () => {
    const r = await run(['facts', '-c', join(project, 'kpfleet.yml')]);
    expect(r.stderr).toBe('');
    expect(firstRaw(r.stdout)).toBeUndefined();
    expect(r.stdout).toContain('E_FACTS_FIELD');
    expect(r.stdout).toContain(`loaded module '${SHOWN}' is not a kernel module name`);
    expect(r.code).toBe(1);
  });

  it('kpfleet plan shows it escaped, in the text and in the markdown', async () => {
    const text = await run(['plan', '-c', join(project, 'kpfleet.yml')]);
    expect(firstRaw(text.stdout)).toBeUndefined();
    expect(text.stdout).toContain(SHOWN);
    const md = await run(['plan', '-c', join(project, 'kpfleet.yml'), '--format', 'markdown']);
    expect(firstRaw(md.stdout)).toBeUndefined();
    // only ever inside a code span: no link can come of it
    expect(md.stdout).toMatch(/`E_FACTS_FIELD`: `[^`\n]*\[x\]\(https:__evil/);
    expect(md.stdout).not.toMatch(/(?<!`[^`\n]*)\[x\]\(https/);
  });
});

describe('an error that quotes its input', () => {
  it('prints it escaped', async () => {
    const limit = 'nohost\u001b[2K\u202ex';
    const r = await run(['hosts', '-c', join(project, 'kpfleet.yml'), '--limit', limit]);
    expect(r.code).toBe(64);
    expect(firstRaw(r.stderr)).toBeUndefined();
    // quoted as a shell word that pastes back as exactly what was given (showCommand)
    expect(r.stderr).toContain("error: --limit $'nohost\\e[2K\\u202ex' matches no host");
  });
});
