/**
 * `kpfleet plan merge` (issue 19): merging the shards' plans of one fleet gives the same plan as
 * one machine planning every host over the same facts (host by host, in the same order, with the
 * same summary), for 1, 3 and 7 shards; the merged file is schema-valid and `apply --check` takes
 * it; and every refusal exits 64, names the file(s) and writes nothing.
 *
 * A real project of 40 hosts in two groups; the facts are built here (varied: nothing installed,
 * patched already, kpatch missing, unreachable, an uncovered kernel, an unmanaged module) and
 * planned by the planner as `kpfleet plan` plans them (`workflow/plan.ts`'s planEach), once
 * for the whole fleet and once per shard, so every plan is computed from exactly the same facts.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInProcess } from '../../cli-in-process.ts';
import { selectHostsForCli } from '../../../src/cli/commands/project.ts';
import type { CliIo } from '../../../src/cli/io.ts';
import { VERSION } from '../../../src/cli/version.ts';
import type { HostFactsResult } from '../../../src/facts/gather.ts';
import type { HostFacts } from '../../../src/facts/model.ts';
import type { Plan } from '../../../src/plan/model.ts';
import { buildPlan } from '../../../src/plan/plan.ts';
import { HostUnreachableError } from '../../../src/transport/errors.ts';
import type { SelectedHosts } from '../../../src/workflow/hosts.ts';
import { projectFingerprint } from '../../../src/workflow/hosts.ts';
import { makePlan, planEach } from '../../../src/workflow/plan.ts';
import { facts, inst, live, loaded, mod } from '../../unit/plan/builders.ts';

const BASE = new URL('../../fixtures/invalid/_base/', import.meta.url).pathname;
const SCHEMA = new URL('../../../schemas/plan.schema.json', import.meta.url).pathname;
const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');
const HOSTS = [
  ...Array.from({ length: 20 }, (_, i) => `web${String(i + 1).padStart(2, '0')}`),
  ...Array.from({ length: 20 }, (_, i) => `db${String(i + 1).padStart(2, '0')}`),
];

let dir: string;
const results = new Map<string, HostFactsResult>();

/** Six states, in turn over the hosts. */
function hostFacts(i: number, shaA: string): HostFacts | undefined {
  switch (i % 6) {
    case 0:
      return facts();
    case 1:
      return facts({ ...loaded('livepatch_a'), installed: [inst('a.ko', { sha256: shaA })] });
    case 2:
      return facts({ livepatchSupported: false }); // blocked: a load needed, no livepatch
    case 3:
      return undefined; // unreachable
    case 4:
      return facts({ kernel: '4.18.0-513.5.1.el8_9.x86_64' });
    default:
      return facts({ patches: [live('livepatch_x')], modules: [mod('livepatch_x')] });
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kpfleet-merge-'));
  cpSync(BASE, dir, { recursive: true });
  const at = 'ansible_host=127.0.0.1 ansible_port=9';
  writeFileSync(
    join(dir, 'inventory.ini'),
    [
      '[web]',
      ...HOSTS.filter((h) => h.startsWith('web')).map((h) => `${h} ${at}`),
      '[db]',
      ...HOSTS.filter((h) => h.startsWith('db')).map((h) => `${h} ${at}`),
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'kpfleet.yml'),
    [
      'inventory: inventory.ini',
      'connection:',
      '  ssh_config: false',
      'rollout:',
      '  waves: [1, 100%]',
      'patches:',
      ...['a', 'b'].flatMap((n) => [
        `  ${n}:`,
        `    module: livepatch_${n}`,
        '    kernel: "5.*"',
        `    file: patches/${n}.ko`,
        `    sha256: ${sha(join(dir, `patches/${n}.ko`))}`,
      ]),
      'groups:',
      '  web:',
      '    loaded: [a]',
      '  db:',
      '    loaded: [a, b]',
      '',
    ].join('\n'),
  );
  const shaA = sha(join(dir, 'patches/a.ko'));
  HOSTS.forEach((host, i) => {
    const f = hostFacts(i, shaA);
    results.set(
      host,
      f === undefined
        ? {
            host,
            ok: false,
            error: new HostUnreachableError('connection refused', { host, step: 'connect' }),
            durationMs: 0,
          }
        : { host, ok: true, facts: f, durationMs: 0 },
    );
  });
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const env = (): Record<string, string> => ({ HOME: dir, XDG_STATE_HOME: join(dir, 'state') });
const io = (): CliIo => ({
  stdout: { write: () => true },
  stderr: { write: () => true },
  env: env(),
  cwd: dir,
});
const kpfleet = (args: string[]) => runInProcess(args, { cwd: dir, env: env() });

/** What `kpfleet plan [--shard I/N]` plans, over the facts above, dated `createdAt`. */
function planOver(shard: string | undefined, createdAt: string, limit?: string): Plan {
  const selected: SelectedHosts = selectHostsForCli(
    { ...(shard === undefined ? {} : { shard }), ...(limit === undefined ? {} : { limit }) },
    io(),
  );
  const read = selected.hosts.map((h) => {
    const r = results.get(h.host);
    if (!r) throw new Error(`no facts for ${h.host}`);
    return r;
  });
  return buildPlan(
    [...planEach(selected, read, NOW)].map((x) => x.plan),
    {
      createdAt,
      kpfleetVersion: VERSION,
      config: 'kpfleet.yml',
      configFingerprint: projectFingerprint(selected),
      ...(limit === undefined ? {} : { limit }),
      ...(selected.shard ? { shard: selected.shard } : {}),
    },
  );
}

/** Writes the N shards' plans (shard I dated I minutes after the hour); their file names. */
function writeShards(count: number, prefix = `s${String(count)}`, limit?: string): string[] {
  return Array.from({ length: count }, (_, k) => {
    const file = `${prefix}-${String(k + 1)}.json`;
    const createdAt = `2026-03-01T12:${String(k + 1).padStart(2, '0')}:00.000Z`;
    writeFileSync(
      join(dir, file),
      JSON.stringify(planOver(`${String(k + 1)}/${String(count)}`, createdAt, limit)),
    );
    return file;
  });
}

/** A plan without what only sharding adds: the shards, the shard of each host, the date. */
function unsharded(p: Plan): unknown {
  const rest: Partial<Plan> = { ...p };
  delete rest.shard;
  delete rest.shards;
  delete rest.createdAt;
  return {
    ...rest,
    hosts: p.hosts.map((h) => {
      const copy = { ...h };
      delete copy.shard;
      return copy;
    }),
  };
}

const validatePlan = new Ajv2020({ allErrors: true, strict: false }).compile(
  JSON.parse(readFileSync(SCHEMA, 'utf8')) as object,
);

describe('merging the shards gives the plan of one machine over the same facts', () => {
  it('the fleet is varied: every status and several findings occur', () => {
    const s = planOver(undefined, new Date(NOW).toISOString()).summary;
    expect(s.hosts).toBe(40);
    for (const n of [s.changes, s.converged, s.blocked, s.unreachable, s.uncovered ?? 0])
      expect(n).toBeGreaterThan(0);
  });

  for (const count of [1, 3, 7]) {
    it(`${String(count)} shard(s), merged with kpfleet plan merge --out`, async () => {
      const single = planOver(undefined, new Date(NOW).toISOString());
      const files = writeShards(count);
      const shards = files.map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Plan);
      // each host in exactly one shard, and every shard a valid plan that records its shard
      expect(shards.flatMap((p) => p.hosts.map((h) => h.host)).sort()).toEqual([...HOSTS].sort());
      shards.forEach((p, k) => {
        expect(p.shard).toEqual({ index: k + 1, count });
        expect(validatePlan(p), JSON.stringify(validatePlan.errors)).toBe(true);
      });
      const out = `merged-${String(count)}.json`;
      const r = await kpfleet([
        'plan',
        'merge',
        ...[...files].reverse(),
        '--out',
        out,
        '--format',
        'json',
      ]);
      expect(r.stderr).toBe('');
      // as plan exits: a host was not reached
      expect(r.code).toBe(4);
      const merged = JSON.parse(readFileSync(join(dir, out), 'utf8')) as Plan;
      expect(JSON.parse(r.stdout)).toEqual(merged);
      expect(validatePlan(merged), JSON.stringify(validatePlan.errors)).toBe(true);
      expect(merged.hosts.map((h) => h.host)).toEqual(single.hosts.map((h) => h.host));
      merged.hosts.forEach((h, k) => {
        const { shard, ...rest } = h;
        expect(shard).toBe(shards.findIndex((p) => p.hosts.some((x) => x.host === h.host)) + 1);
        expect(rest, h.host).toEqual(single.hosts[k]);
      });
      expect(unsharded(merged)).toEqual(unsharded(single));
      expect(merged.summary).toEqual(single.summary);
      expect(merged.shards).toBe(count);
      expect(merged.shard).toBeUndefined();
      // a plan is one shard's or a merge, never both
      expect(validatePlan({ ...merged, shard: { index: 1, count } })).toBe(false);
      expect(merged.createdAt).toBe('2026-03-01T12:01:00.000Z');
    });
  }

  it('kpfleet apply --check takes the merged plan (checked whole, then the hosts are read)', async () => {
    const files = writeShards(3, 'apply');
    expect((await kpfleet(['plan', 'merge', ...files, '-o', 'to-apply.json'])).code).toBe(4);
    const r = await kpfleet(['apply', '--check', 'to-apply.json']);
    expect(r.stderr).not.toMatch(/E_PLAN_REFUSED|does not declare|another configuration/);
    // not refused (64): the hosts, at a closed port, are unreachable
    expect(r.code).toBe(4);
  });

  it('kpfleet plan --shard records the shard in the plan it makes', async () => {
    const selected = selectHostsForCli({ shard: '2/3' }, io());
    const plan = await makePlan(selected, {
      forks: 4,
      open: (c) =>
        Promise.reject(
          new HostUnreachableError('connection refused', { host: c.host, step: 'connect' }),
        ),
      kpfleetVersion: VERSION,
    });
    expect(plan.shard).toEqual({ index: 2, count: 3 });
    expect(plan.hosts.map((h) => h.host)).toEqual(selected.hosts.map((h) => h.host));
    expect(validatePlan(plan)).toBe(true);
  });
});

describe('refusals: exit 64, the file(s) named, nothing written', () => {
  let files: string[];
  beforeAll(() => {
    files = writeShards(3, 'r');
  });
  const plan = (f: string): Plan => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Plan;
  const edited = (f: string, name: string, edit: (p: Plan) => Plan): string => {
    writeFileSync(join(dir, name), JSON.stringify(edit(plan(f))));
    return name;
  };
  const refused = async (args: string[], message: RegExp): Promise<void> => {
    const out = join(dir, 'never.json');
    const r = await kpfleet(['plan', 'merge', ...args, '--out', 'never.json']);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(64);
    expect(r.stdout).toBe('');
    expect(existsSync(out)).toBe(false);
  };
  const at = (k: number): string => files[k] ?? '';

  it('a plan of another kpfleet version', async () => {
    const old = edited(at(1), 'old.json', (p) => ({ ...p, kpfleetVersion: '0.0.1' }));
    await refused(
      [at(0), old, at(2)],
      /r-1\.json was made by kpfleet "[^"]+", old\.json by kpfleet "0\.0\.1"/,
    );
    const all = [0, 1, 2].map((k) =>
      edited(at(k), `old-${String(k)}.json`, (p) => ({ ...p, kpfleetVersion: '0.0.1' })),
    );
    await refused(all, /old-0\.json was made by kpfleet "0\.0\.1"; this is kpfleet/);
  });

  it('plans of another configuration than each other, or than the project', async () => {
    const other = edited(at(2), 'other.json', (p) => ({
      ...p,
      configFingerprint: {
        sha256: `sha256:${'0'.repeat(64)}`,
        parts: { ...p.configFingerprint.parts, rollout: '0'.repeat(16) },
      },
    }));
    await refused(
      [at(0), at(1), other],
      /r-1\.json and other\.json were made from different configurations: rollout changed/,
    );
    const yml = join(dir, 'kpfleet.yml');
    const before = readFileSync(yml, 'utf8');
    try {
      writeFileSync(yml, before.replace('waves: [1, 100%]', 'waves: [2, 100%]'));
      await refused(files, /r-1\.json was made from another configuration: rollout changed/);
    } finally {
      writeFileSync(yml, before);
    }
  });

  it('plans of different --limit, a plan without --shard, different shard counts', async () => {
    const limited = edited(at(1), 'limited.json', (p) => ({ ...p, limit: 'web' }));
    await refused(
      [at(0), limited, at(2)],
      /r-1\.json was made with no --limit, limited\.json with --limit "web"/,
    );
    const whole = edited(at(2), 'whole.json', (p) => {
      const rest = { ...p };
      delete rest.shard;
      return rest;
    });
    await refused([at(0), at(1), whole], /whole\.json was not made with --shard/);
    const seven = writeShards(7, 'seven');
    await refused(
      [at(0), at(1), seven[2] ?? ''],
      /different numbers of shards: r-1\.json, r-2\.json of 3; seven-3\.json of 7/,
    );
  });

  it('a shard given twice, a shard missing', async () => {
    await refused(
      [at(0), at(1), at(1)],
      /shard 2\/3 is given twice: r-2\.json and r-2\.json[\s\S]*shard 3\/3 is missing/,
    );
    await refused([at(0), at(2)], /shard 2\/3 is missing/);
  });

  it('a host in two plans, a host outside its shard, a host missing', async () => {
    const stray = plan(at(0)).hosts[0];
    if (!stray) throw new Error('shard 1 has no host');
    const both = edited(at(1), 'both.json', (p) => ({ ...p, hosts: [...p.hosts, stray] }));
    await refused(
      [at(0), both, at(2)],
      new RegExp(`host "${stray.host}" is in both r-1\\.json and both\\.json`),
    );
    const without = edited(at(0), 'without.json', (p) => ({ ...p, hosts: p.hosts.slice(1) }));
    await refused(
      [without, both, at(2)],
      new RegExp(`host "${stray.host}" in both\\.json belongs to shard 1/3, not 2/3`),
    );
    await refused(
      [without, at(1), at(2)],
      new RegExp(`host "${stray.host}" of shard 1/3 is missing from without\\.json`),
    );
  });

  it('a change kpfleet.yml does not declare', async () => {
    const forged = edited(at(1), 'forged.json', (p) => ({
      ...p,
      hosts: p.hosts.map((h) => ({
        ...h,
        changes: h.changes.map((c) =>
          c.action === 'upload' ? { ...c, sha256: '0'.repeat(64) } : c,
        ),
      })),
    }));
    await refused(
      [at(0), forged, at(2)],
      /forged\.json asks for what kpfleet\.yml does not declare/,
    );
  });

  it('--out one of the plans, or the audit log', async () => {
    const r = await kpfleet(['plan', 'merge', ...files, '--out', at(1)]);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(
      /cannot write --out r-2\.json: it is the same file as the plan r-2\.json/,
    );
    expect(plan(at(1)).shard).toEqual({ index: 2, count: 3 });
    const audit = join(dir, 'state/kpfleet/audit.jsonl');
    const a = await kpfleet(['plan', 'merge', ...files, '--out', audit]);
    expect(a.code).toBe(64);
    expect(existsSync(audit)).toBe(false);
  });
});

describe('review: what a forged artifact or a slip of the command line cannot do', () => {
  const plan = (f: string): Plan => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Plan;
  const save = (name: string, p: unknown): string => {
    writeFileSync(join(dir, name), JSON.stringify(p));
    return name;
  };

  it("merges plans made with --limit when given the same --limit, and never evaluates a plan's own", async () => {
    const files = writeShards(3, 'lim', 'web');
    const ok = await kpfleet(['plan', 'merge', ...files, '--limit', 'web', '-o', 'lim.json']);
    expect(ok.code).toBe(4);
    const merged = plan('lim.json');
    expect(merged.limit).toBe('web');
    expect(merged.hosts.map((h) => h.host)).toEqual(HOSTS.filter((h) => h.startsWith('web')));
    // without the --limit: refused, whatever the plans say
    const bare = await kpfleet(['plan', 'merge', ...files, '-o', 'never.json']);
    expect(bare.code).toBe(64);
    expect(bare.stderr).toMatch(/made with --limit "web", and this merge is given no --limit/);
    // a forged limit reading a local file: refused before anything reads it, its text never shown
    writeFileSync(join(dir, 'secret.txt'), 'TOPSECRET-LINE\n');
    const forged = files.map((f, k) =>
      save(`forged-lim-${String(k)}.json`, { ...plan(f), limit: 'web01:@secret.txt' }),
    );
    const r = await kpfleet(['plan', 'merge', ...forged, '-o', 'never.json']);
    expect(r.code).toBe(64);
    expect(r.stderr + r.stdout).not.toContain('TOPSECRET');
    expect(existsSync(join(dir, 'never.json'))).toBe(false);
  });

  it("refuses plan's options written before merge instead of ignoring them", async () => {
    const files = writeShards(3, 'pos');
    const r = await kpfleet(['plan', '--out', 'early.json', 'merge', ...files]);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/--out is written before `merge`/);
    expect(existsSync(join(dir, 'early.json'))).toBe(false);
  });

  it('refuses a shard index above the count and a date that is not one', async () => {
    const files = writeShards(2, 'idx');
    const extra = save('idx-7.json', {
      ...plan(files[0] ?? ''),
      shard: { index: 7, count: 2 },
      hosts: [],
    });
    const r = await kpfleet(['plan', 'merge', ...files, extra, '-o', 'never.json']);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/idx-7\.json says shard 7\/2, which is not one of 1 to 2/);
    const dated = save('idx-date.json', {
      ...plan(files[0] ?? ''),
      createdAt: '2026-19-39T29:00:00Z',
    });
    const d = await kpfleet(['plan', 'merge', dated, files[1] ?? '', '-o', 'never.json']);
    expect(d.code).toBe(64);
    expect(d.stderr).toMatch(/createdAt: "2026-19-39T29:00:00Z" is not a time/);
  });

  it("apply refuses a plan whose shards lie, and a --shard that is not the plan's", async () => {
    const files = writeShards(3, 'lie');
    const s1 = plan(files[0] ?? '');
    const s2 = plan(files[1] ?? '');
    const stray = s2.hosts[0];
    if (!stray) throw new Error('shard 2 has no host');
    const refusedApply = async (args: string[], message: RegExp) => {
      const r = await kpfleet(['apply', '--check', ...args]);
      expect(r.stderr).toMatch(message);
      expect(r.code).toBe(64);
    };
    // a shard's plan with a host of another shard
    await refusedApply(
      [save('lie-stray.json', { ...s1, hosts: [...s1.hosts, stray] })],
      new RegExp(`host "${stray.host}", shard: is in shard 2/3, not in this plan's 1/3`),
    );
    // a shard's plan whose hosts claim a shard
    await refusedApply(
      [save('lie-host.json', { ...s1, hosts: s1.hosts.map((h) => ({ ...h, shard: 1 })) })],
      /shard: a shard is recorded only in a merged plan/,
    );
    // a merged plan whose hosts' shards are not theirs
    expect((await kpfleet(['plan', 'merge', ...files, '-o', 'lie-merged.json'])).code).toBe(4);
    const merged = plan('lie-merged.json');
    await refusedApply(
      [
        save('lie-5.json', {
          ...merged,
          shards: 5,
          hosts: merged.hosts.map((h) => ({ ...h, shard: 5 })),
        }),
      ],
      /shard: is in shard \d\/5, not 5/,
    );
    // shard 2's plan applied as shard 1
    await refusedApply(
      ['--shard', '1/3', files[1] ?? ''],
      /the plan is shard 2\/3's, and this run is given --shard 1\/3/,
    );
    // the shard in use is said on stderr
    const r = await kpfleet(['apply', '--check', '--shard', '2/3', files[1] ?? '']);
    expect(r.stderr).toMatch(
      new RegExp(`shard 2/3: ${String(s2.hosts.length)} hosts? of the 40 selected`),
    );
  });
});

describe('the project fingerprint of a selection', () => {
  it('is the whole project’s, whatever --limit and --login-user select (connections reused, not resolved again)', () => {
    const all = selectHostsForCli({}, io());
    const fresh = projectFingerprint({ ...all, resolved: new Map() });
    expect(all.resolved?.size).toBe(HOSTS.length);
    expect(projectFingerprint(all)).toEqual(fresh);
    const one = selectHostsForCli({ limit: HOSTS[0] ?? '', loginUser: 'someone' }, io());
    expect(one.hosts.map((h) => h.user)).toEqual(['someone']);
    // the login user is the run's, not the project's: the fingerprint does not see it
    expect(projectFingerprint(one)).toEqual(fresh);
  });
});
