/** The CLI in-process (runCli with captured streams): commands, help and exit codes. */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../../src/cli/main.ts';
import { helpExamples } from '../../../src/cli/help.ts';
import type { CliIo } from '../../../src/cli/io.ts';
import { runInProcess } from '../../cli-in-process.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;

const run = (args: string[]) => runInProcess(args);

/** Every kpfleet.yml under examples/, which must all validate. */
function exampleProjects(dir = join(ROOT, 'examples')): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    // patches/ holds modules, .github/ the workflow (itself named kpfleet.yml: workflow.test.ts)
    if (statSync(p).isDirectory())
      return name === 'patches' || name.startsWith('.') ? [] : exampleProjects(p);
    return name === 'kpfleet.yml' ? [p] : [];
  });
}

describe('kpfleet validate', () => {
  it.each(exampleProjects())('accepts the example %s', async (file) => {
    const r = await run(['validate', '-c', file]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it.each(exampleProjects())(
    'the example %s names its schema for editors (yaml-language-server)',
    (file) => {
      const first = readFileSync(file, 'utf8').split('\n')[0] ?? '';
      const schema = /^# yaml-language-server: \$schema=(\S+)$/.exec(first)?.[1] ?? '';
      expect(schema, first).not.toBe('');
      expect(existsSync(join(dirname(file), schema)), schema).toBe(true);
      expect(join(dirname(file), schema)).toBe(join(ROOT, 'schemas/kpfleet.schema.json'));
    },
  );

  it('prints the offending line under each error', async () => {
    const r = await run(['validate', '-c', 'test/fixtures/invalid/05-not-a-mapping.yml']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/05-not-a-mapping\.yml:3:1: error: .* must be a mapping of settings/);
    expect(r.stderr).toContain('  3 | - inventory: inventory.ini\n    | ^');
  });
});

describe('kpfleet hosts', () => {
  it('shows connection settings and desired state per host', async () => {
    const r = await run(['hosts', '-c', 'examples/kpfleet.yml', '--limit', 'web01.example.com']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      'web01.example.com  deploy@web01.example.com  become=sudo  host_key_checking=strict',
    );
    expect(r.stdout).toMatch(
      /loaded\s+cve-2024-1086\s+module livepatch_cve_2024_1086\s+kernel 4\.18\.0-477\.10\.1\.el8_8\.x86_64/,
    );
    expect(r.stdout).toMatch(
      /loaded\s+el9-cumulative-3\s+module kpatch_5_14_0_362_8_1_1_3\s+kernel 5\.14\.0-362\.8\.1\.el9_3\.x86_64 rpm kpatch-patch-5_14_0-362_8_1-1-3/,
    );
    expect(r.stdout).toMatch(/1 host$/m);
  });

  it('takes Ansible patterns: union, intersection, exclusion', async () => {
    const r = await run([
      'hosts',
      '-c',
      'examples/kpfleet.yml',
      '--limit',
      'prod:&web:!web0[12]*',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const names = (JSON.parse(r.stdout) as { hosts: { name: string }[] }).hosts.map((h) => h.name);
    expect(names).toEqual(['web03.example.com', 'web04.example.com']);
  });

  it('never prints inventory secrets', async () => {
    const r = await run(['hosts', '-c', 'test/fixtures/projects/secrets/kpfleet.yml', '--json']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('hunter2');
    expect(r.stdout).not.toContain('s3cret');
  });
});

describe('help', () => {
  it('describes every command and option', async () => {
    const top = await run(['--help']);
    expect(top.code).toBe(0);
    for (const word of ['validate', 'hosts', '--version', 'Exit codes'])
      expect(top.stdout).toContain(word);
    const hosts = await run(['hosts', '--help']);
    for (const word of ['--config <file>', '--limit <pattern>', '--json'])
      expect(hosts.stdout).toContain(word);
    const validate = await run(['validate', '--help']);
    for (const word of ['--config <file>', '--json', 'file:line:col'])
      expect(validate.stdout).toContain(word);
  });

  it('a usage error says what is wrong, exit 64', async () => {
    const r = await run(['hosts', '--limit']);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/option '-l, --limit <pattern>' argument missing/);
  });
});

describe('internal errors', () => {
  it('a bug exits 70 and says how to report it', async () => {
    let stderr = '';
    const io: CliIo = {
      stdout: {
        write: () => {
          throw new TypeError('boom');
        },
      },
      stderr: { write: (s: string) => (stderr += s) },
      env: { NO_COLOR: '1' },
      cwd: ROOT,
    };
    const code = await runCli(['validate', '-c', 'examples/kpfleet.yml'], io);
    expect(code).toBe(70);
    expect(stderr).toMatch(
      /internal error: this is a bug in kpfleet [\d.]+, not in your configuration/,
    );
    expect(stderr).toMatch(/Please report it at .* with the command you ran/);
    expect(stderr).toContain('TypeError: boom');
  });
});

describe('help a person can scan (issue 18)', () => {
  it('kpfleet --help: one line per command, examples, and where the details are', async () => {
    const top = await run(['--help']);
    expect(top.code).toBe(0);
    const lines = top.stdout.split('\n');
    expect(lines.length).toBeLessThanOrEqual(40);
    for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(80);
    const commands = lines.slice(
      lines.indexOf('Commands:') + 1,
      lines.indexOf('', lines.indexOf('Commands:')),
    );
    expect(commands.map((l) => l.trim().split(/\s+/)[0])).toEqual([
      'validate',
      'hosts',
      'facts',
      'plan',
      'status',
      'apply',
      'report',
      'unlock',
      'clear-suspect',
      'help',
    ]);
    // every command fits on its own line: no continuation lines in the list
    for (const l of commands) expect(l, l).toMatch(/^ {2}\S/);
    expect(top.stdout).toContain('Examples:\n  kpfleet validate');
    expect(top.stdout).toContain('kpfleet help <command>');
  });

  it('kpfleet help <command> gives the details and that command’s examples, each one the CLI accepts', async () => {
    for (const [command, rows] of Object.entries(helpExamples)) {
      const name = command === '' ? undefined : command;
      const details = name === undefined ? undefined : await run(['help', name]);
      if (details !== undefined) {
        expect(details.code).toBe(0);
        expect(details.stdout).toContain(`Usage: kpfleet ${String(name)}`);
        expect(details.stdout).toContain('\nExamples:\n');
      }
      for (const [line] of rows) {
        const [, command = '', ...rest] = line.split(/\s+/);
        // `kpfleet report merge …`: the options are the subcommand's
        const nested = rest[0] !== undefined && /^[a-z]+$/.test(rest[0]);
        const sub = nested ? `${command} ${rest[0] ?? ''}` : command;
        const words = nested ? rest.slice(1) : rest;
        const help = (await run([...sub.split(' '), '--help'])).stdout;
        expect(help, line).toContain(`Usage: kpfleet ${sub}`);
        for (const w of words.filter((x) => x.startsWith('-')))
          expect(help, `${line}: ${w}`).toMatch(new RegExp(`(^|[\\s,])${w}[\\s,]`, 'm'));
      }
    }
  });
});
