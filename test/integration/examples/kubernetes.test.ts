/**
 * The example Kubernetes manifests (examples/kubernetes/): rendered by the folder's own
 * `render.sh` (the placeholders `@rollout@` and `@wave@`), each is valid against the Kubernetes
 * API schema (kubernetes-models, offline: `kubectl create --dry-run=client` needs an API server
 * for its schema, which this machine has not); the placeholders sit only in Job names, labels,
 * the WAVE/ROLLOUT values and the subPaths, and render.sh refuses values that are not an id or a
 * wave; the plan and apply Jobs are Indexed with `--shard JOB_COMPLETION_INDEX/N` where N is their
 * completions; every pod runs as non-root on a read-only root filesystem with the SSH Secret
 * mounted read-only and only the parts of the rollout's directory it needs, read-only where it
 * only reads; every `$(VAR)` in args is defined; each kpfleet command line is one the real CLI
 * accepts; the gate's script, run with a stub kpfleet, names the reports of waves 1..K; and
 * rollout.sh, run against a stub kubectl, creates the Jobs in order and stops at a failed gate.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job } from 'kubernetes-models/batch/v1';
import { PersistentVolumeClaim } from 'kubernetes-models/v1';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { EXAMPLES, expectCliAccepts, kpfleetCommands, stubKpfleet } from './example-files.ts';

const DIR = join(EXAMPLES, 'kubernetes');

interface Mount {
  name: string;
  mountPath: string;
  subPath?: string;
  readOnly?: boolean;
}
interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  securityContext?: Record<string, unknown>;
  volumeMounts?: Mount[];
}
interface JobManifest {
  kind: 'Job';
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    completionMode?: string;
    completions?: number;
    template: {
      spec: {
        securityContext?: Record<string, unknown>;
        containers: Container[];
        volumes?: { name: string; secret?: { secretName: string } }[];
      };
    };
  };
}
type Doc = { kind: string } & Record<string, unknown>;

const tmp = mkdtempSync(join(tmpdir(), 'kpfleet-k8s-'));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'));
const parse = (text: string) => parseAllDocuments(text).map((d) => d.toJS() as Doc);
const raw = files.map((file) => ({
  file,
  text: readFileSync(join(DIR, file), 'utf8'),
}));
const isWaveFile = (text: string) => text.includes('@wave@');

/** `render.sh FILE ROLLOUT [WAVE]` of the folder, run as a user runs it. */
function render(file: string, ...values: string[]) {
  return spawnSync('sh', ['./render.sh', file, ...values], { cwd: DIR, encoding: 'utf8' });
}
function rendered(file: string, rollout: string, wave?: number): Doc[] {
  const r = render(file, rollout, ...(wave === undefined ? [] : [String(wave)]));
  expect(r.status, `${file}: ${r.stderr}`).toBe(0);
  return parse(r.stdout);
}

/** Every manifest, rendered for the rollout `r1` (wave files: wave 1). */
const manifests = raw.flatMap(({ file, text }) =>
  rendered(file, 'r1', isWaveFile(text) ? 1 : undefined).map((doc) => ({ file, doc })),
);
const jobs = manifests.filter((m) => m.doc.kind === 'Job') as unknown as {
  file: string;
  doc: JobManifest;
}[];
const job = (name: string): JobManifest => {
  const j = jobs.find((x) => x.doc.metadata.name === name)?.doc;
  if (j === undefined) throw new Error(`no Job ${name}`);
  return j;
};
const container = (name: string): Container => {
  const c = job(name).spec.template.spec.containers[0];
  if (c === undefined) throw new Error(`no container in ${name}`);
  return c;
};

/** The kpfleet command lines of a container: its args, or the kpfleet commands of `sh -c`. */
function commandLines(c: Container): string[][] {
  const words = [...(c.command ?? []), ...(c.args ?? [])];
  if (words[0] === 'kpfleet') return [words.slice(1)];
  if (words[0] === 'sh') return kpfleetCommands(words.slice(2).join('\n'));
  return [];
}

/** Every string in a document, with its path (`a.b.0.c`). */
function strings(v: unknown, path = ''): { path: string; value: string }[] {
  if (typeof v === 'string') return [{ path, value: v }];
  if (Array.isArray(v)) return v.flatMap((x, i) => strings(x, `${path}.${String(i)}`));
  if (v !== null && typeof v === 'object')
    return Object.entries(v).flatMap(([k, x]) => strings(x, path === '' ? k : `${path}.${k}`));
  return [];
}

const JOBS = [
  'kpfleet-apply-r1-w1',
  'kpfleet-gate-r1-w1',
  'kpfleet-init-r1',
  'kpfleet-merge-r1',
  'kpfleet-plan-r1',
];

describe('examples/kubernetes', () => {
  it('has the init, plan, merge, apply-wave and gate Jobs, named with the rollout id, and the shared volume', () => {
    expect(jobs.map((j) => j.doc.metadata.name).sort()).toEqual(JOBS);
    expect(manifests.map((m) => m.doc.kind)).toContain('PersistentVolumeClaim');
    for (const { doc } of jobs) expect(doc.metadata.labels?.['kpfleet.dev/rollout']).toBe('r1');
  });

  it('every manifest, rendered for each wave, is valid against the Kubernetes API schema', () => {
    for (const { file, text } of raw) {
      for (const wave of isWaveFile(text) ? [1, 2, 3] : [undefined]) {
        for (const doc of rendered(file, 'a1b2c3d-202612050300', wave)) {
          const Model =
            doc.kind === 'Job'
              ? Job
              : doc.kind === 'PersistentVolumeClaim'
                ? PersistentVolumeClaim
                : undefined;
          expect(Model, `${file}: ${doc.kind}`).toBeDefined();
          if (Model === undefined) continue;
          expect(() => new Model(doc as never).validate(), file).not.toThrow();
        }
      }
    }
    // and the check can fail: a wrong type, a missing required field
    const plan = structuredClone(job('kpfleet-plan-r1'));
    (plan.spec as Record<string, unknown>).completions = 'four';
    expect(() => new Job(plan as never).validate()).toThrow();
    const noName = structuredClone(job('kpfleet-plan-r1'));
    delete (noName.spec.template.spec.containers[0] as Partial<Container>).name;
    expect(() => new Job(noName as never).validate()).toThrow();
  });

  it('the placeholders sit only in Job names, labels, the WAVE/ROLLOUT values and subPaths; render.sh rewrites nothing else', () => {
    const seen = { wave: new Set<string>(), rollout: new Set<string>() };
    for (const { file, text } of raw) {
      for (const doc of parse(text)) {
        const env = (p: string) => {
          const m = /^(spec\.template\.spec\.containers\.[0-9]+\.env\.[0-9]+)\.value$/.exec(p);
          return m === null
            ? undefined
            : (strings(doc).find((s) => s.path === `${m[1] ?? ''}.name`)?.value ?? '');
        };
        for (const { path, value } of strings(doc)) {
          if (value.includes('@wave@')) {
            const where = env(path) ?? path;
            expect(
              ['metadata.name', 'metadata.labels.kpfleet.dev/wave', 'WAVE'],
              `${file}: ${path}`,
            ).toContain(where);
            if (where !== 'metadata.name') expect(value, `${file}: ${path}`).toBe('@wave@');
            seen.wave.add(`${file} ${where}`);
          }
          if (value.includes('@rollout@')) {
            const where = env(path) ?? path.replace(/volumeMounts\.[0-9]+\.subPath$/, 'subPath');
            expect(value, `${file}: ${path}`).not.toContain('..');
            expect(where, `${file}: ${path}`).toMatch(
              /^(metadata\.name|metadata\.labels\.kpfleet\.dev\/rollout|ROLLOUT|spec\.template\.spec\.containers\.[0-9]+\.subPath)$/,
            );
            if (where.endsWith('subPath')) expect(value).toMatch(/^@rollout@\/[a-z]+$/);
            seen.rollout.add(file);
          }
        }
      }
    }
    expect([...seen.wave].sort()).toEqual(
      ['apply-wave-job.yaml', 'gate-job.yaml'].flatMap((f) =>
        ['WAVE', 'metadata.labels.kpfleet.dev/wave', 'metadata.name'].map((w) => `${f} ${w}`),
      ),
    );
    expect([...seen.rollout].sort()).toEqual(
      files.filter((f) => f !== 'shared-volume.yaml').sort(),
    );
    // wave 2: the WAVE value and the name change, NO_COLOR '1' does not
    for (const file of ['apply-wave-job.yaml', 'gate-job.yaml']) {
      const [doc] = rendered(file, 'r9', 2) as unknown as JobManifest[];
      const env = doc?.spec.template.spec.containers[0]?.env ?? [];
      expect(env.find((e) => e.name === 'WAVE')?.value, file).toBe('2');
      expect(env.find((e) => e.name === 'NO_COLOR')?.value, file).toBe('1');
      expect(doc?.metadata.name, file).toMatch(/^kpfleet-[a-z]+-r9-w2$/);
      expect(doc?.metadata.labels?.['kpfleet.dev/wave'], file).toBe('2');
    }
  });

  it('render.sh refuses a rollout id or a wave that is not one, before sed sees it', () => {
    for (const id of ['', 'A1', '../x', 'a/b', '-a', 'a-', 'a b', 'a&b', 'x'.repeat(31)]) {
      const r = render('plan-job.yaml', id);
      expect(r.status, JSON.stringify(id)).toBe(64);
      expect(r.stdout).toBe('');
    }
    for (const wave of ['0', 'x', '1;x', '1/', '01']) {
      const r = render('apply-wave-job.yaml', 'r1', wave);
      expect(r.status, wave).toBe(64);
      expect(r.stdout).toBe('');
    }
    expect(render('apply-wave-job.yaml', 'r1').status).toBe(64); // a wave's Job needs the wave
    expect(render('plan-job.yaml', 'r1', '2').status).toBe(64); // and no other takes one
    expect(render('plan-job.yaml', 'x'.repeat(30)).status).toBe(0);
  });

  it('plan and apply are Indexed Jobs whose pods each take shard JOB_COMPLETION_INDEX/N of N', () => {
    for (const name of ['kpfleet-plan-r1', 'kpfleet-apply-r1-w1']) {
      const j = job(name);
      expect(j.spec.completionMode, name).toBe('Indexed');
      const [argv = []] = commandLines(container(name));
      const shard = argv[argv.indexOf('--shard') + 1];
      expect(shard, name).toBe(`JOB_COMPLETION_INDEX/${String(j.spec.completions)}`);
    }
    const N = job('kpfleet-plan-r1').spec.completions ?? 0;
    const apply = commandLines(container('kpfleet-apply-r1-w1'))[0] ?? [];
    expect(apply.slice(0, 3)).toEqual(['apply', '--wave', '$(WAVE)']);
    expect(apply).toEqual(expect.arrayContaining(['--yes', '--report']));
    expect(apply.at(-1)).toBe('/shared/plan/plan.json');
    // the merge names each shard's plan: no glob another file could satisfy
    const merge = commandLines(container('kpfleet-merge-r1'))[0] ?? [];
    expect(merge.slice(0, 4)).toEqual(['plan', 'merge', '--out', '/shared/plan/plan.json']);
    expect(merge.slice(4)).toEqual(
      Array.from({ length: N }, (_, i) => `/shared/plans/plan-index-${String(i)}.json`),
    );
    const gate = commandLines(container('kpfleet-gate-r1-w1'))[0] ?? [];
    expect(gate.slice(0, 6)).toEqual([
      'report',
      'merge',
      '--plan',
      '/shared/plan/plan.json',
      '--wave',
      '"$WAVE"',
    ]);
  });

  it('runs as non-root on a read-only root filesystem; the SSH keys come from a Secret mounted read-only', () => {
    for (const { file, doc } of jobs) {
      const pod = doc.spec.template.spec;
      expect(pod.securityContext?.runAsNonRoot, file).toBe(true);
      for (const c of pod.containers) {
        expect(c.securityContext, file).toMatchObject({
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
        });
        for (const v of pod.volumes ?? []) {
          if (v.secret === undefined) continue;
          const mount = c.volumeMounts?.find((m) => m.name === v.name);
          expect(mount?.readOnly, `${file}: ${v.name}`).toBe(true);
        }
      }
    }
    const secretOf = (name: string) =>
      job(name).spec.template.spec.volumes?.find((v) => v.secret)?.secret?.secretName;
    // the plan reads with the user that has no sudo; only apply holds the deploy key
    expect(secretOf('kpfleet-plan-r1')).toBe('kpfleet-ssh-readonly');
    expect(secretOf('kpfleet-apply-r1-w1')).toBe('kpfleet-ssh-deploy');
    expect(secretOf('kpfleet-merge-r1')).toBeUndefined();
    expect(secretOf('kpfleet-gate-r1-w1')).toBeUndefined();
    expect(secretOf('kpfleet-init-r1')).toBeUndefined();
  });

  it("each Job mounts only its parts of the rollout's directory, read-only where it only reads", () => {
    const shared = (name: string) =>
      (container(name).volumeMounts ?? [])
        .filter((m) => m.name === 'shared')
        .map(
          (m) =>
            `${m.mountPath} ${m.subPath ?? '(whole volume)'} ${m.readOnly === true ? 'ro' : 'rw'}`,
        );
    expect(shared('kpfleet-init-r1')).toEqual(['/shared (whole volume) rw']);
    expect(shared('kpfleet-plan-r1')).toEqual(['/shared/plans r1/plans rw']);
    expect(shared('kpfleet-merge-r1')).toEqual([
      '/shared/plans r1/plans ro',
      '/shared/plan r1/plan rw',
    ]);
    expect(shared('kpfleet-apply-r1-w1')).toEqual([
      '/shared/plan r1/plan ro',
      '/shared/reports r1/reports rw',
      '/shared/audit r1/audit rw',
    ]);
    expect(shared('kpfleet-gate-r1-w1')).toEqual([
      '/shared/plan r1/plan ro',
      '/shared/reports r1/reports ro',
      '/shared/gate r1/gate rw',
    ]);
    // the init Job makes the rollout's directory with mkdir (no -p: a used id fails) and each
    // sub-directory the others mount
    const init = (container('kpfleet-init-r1').args ?? []).join(' ');
    expect(init).toContain('mkdir "/shared/$ROLLOUT" &&');
    expect(init).not.toContain('mkdir -p');
    expect(init).toContain('mkdir plans plan reports audit gate');
    // and what each writes is under the directory it may write
    expect(commandLines(container('kpfleet-plan-r1'))[0]?.join(' ')).toContain(
      '--out /shared/plans/',
    );
    const apply = commandLines(container('kpfleet-apply-r1-w1'))[0] ?? [];
    expect(apply[apply.indexOf('--report') + 1]).toMatch(/^\/shared\/reports\//);
    expect(apply[apply.indexOf('--audit-log') + 1]).toMatch(/^\/shared\/audit\//);
  });

  it('every $(VAR) in args is defined by the container; every kpfleet command line is one the CLI accepts', async () => {
    let lines = 0;
    for (const { file, doc } of jobs) {
      for (const c of doc.spec.template.spec.containers) {
        const defined = new Set((c.env ?? []).map((e) => e.name));
        for (const ref of (c.args ?? []).join(' ').matchAll(/\$\(([A-Z_]+)\)/g))
          expect(defined.has(ref[1] ?? ''), `${file}: $(${String(ref[1])})`).toBe(true);
        for (const argv of commandLines(c)) {
          lines++;
          await expectCliAccepts(argv, file);
        }
      }
    }
    expect(lines).toBe(4);
  });

  it("the gate's script calls report merge --plan --wave K with the report of every index of waves 1..K, and its exit is kpfleet's", () => {
    const c = container('kpfleet-gate-r1-w1');
    expect(c.command).toEqual(['sh', '-c']);
    // as the kubelet expands args: $(VAR) from the container's env, $$ to $
    const script = (c.args ?? [])
      .join(' ')
      .replace(/\$\$|\$\(([A-Za-z_]+)\)/g, (m, v: string | undefined) =>
        m === '$$' ? '$' : (c.env?.find((e) => e.name === v)?.value ?? m),
      );
    const stub = stubKpfleet(tmp);
    const N = job('kpfleet-plan-r1').spec.completions ?? 0;
    for (const wave of [1, 3]) {
      for (const code of [0, 1]) {
        stub.reset();
        const r = spawnSync('sh', ['-c', script], {
          encoding: 'utf8',
          env: {
            PATH: `${stub.bin}:${process.env.PATH ?? ''}`,
            WAVE: String(wave),
            STUB_EXIT: String(code),
          },
        });
        expect(r.status, r.stderr).toBe(code);
        const reports = Array.from({ length: wave }, (_, k) =>
          Array.from(
            { length: N },
            (_, i) => `/shared/reports/report-w${String(k + 1)}-index-${String(i)}.json`,
          ),
        ).flat();
        expect(stub.argv()).toEqual([
          'report',
          'merge',
          '--plan',
          '/shared/plan/plan.json',
          '--wave',
          String(wave),
          '--out',
          `/shared/gate/merged-w${String(wave)}.json`,
          ...reports,
        ]);
      }
    }
    // the apply pods write exactly those names
    const apply = commandLines(container('kpfleet-apply-r1-w1'))[0] ?? [];
    expect(apply[apply.indexOf('--report') + 1]).toBe(
      '/shared/reports/report-w$(WAVE)-index-$(SHARD_INDEX).json',
    );
  });

  describe('rollout.sh, against a stub kubectl', () => {
    const bin = join(tmp, 'kubectl-bin');
    const log = join(tmp, 'kubectl-log');
    mkdirSync(bin, { recursive: true });
    // create: logs the Job's name; get: the Job's true conditions (Failed for the names in FAIL)
    writeFileSync(
      join(bin, 'kubectl'),
      [
        '#!/bin/sh',
        'case $1 in',
        `  create) echo "create $(sed -n 's/^  name: //p' | head -n 1)" >> "${log}" ;;`,
        '  get) name=${2#job/}; case " $FAIL " in *" $name "*) echo "Failed " ;; *) echo "SuccessCriteriaMet Complete " ;; esac ;;',
        `  logs) echo "logs \${2#job/}" >> "${log}" ;;`,
        '  *) exit 2 ;;',
        'esac',
        '',
      ].join('\n'),
    );
    chmodSync(join(bin, 'kubectl'), 0o755);
    const run = (fail: string, answer: string, args = ['r1', '3']) => {
      writeFileSync(log, '');
      const r = spawnSync('sh', [join(DIR, 'rollout.sh'), ...args], {
        encoding: 'utf8',
        input: `${answer}\n`,
        env: { PATH: `${bin}:${process.env.PATH ?? ''}`, FAIL: fail },
      });
      return {
        status: r.status,
        stderr: r.stderr,
        log: readFileSync(log, 'utf8').trim().split('\n'),
      };
    };
    const start = [
      'create kpfleet-init-r1',
      'create kpfleet-plan-r1',
      'create kpfleet-merge-r1',
      'logs kpfleet-merge-r1',
    ];
    const wave = (k: number) => [
      `create kpfleet-apply-r1-w${String(k)}`,
      `create kpfleet-gate-r1-w${String(k)}`,
    ];

    it('runs every wave and its gate in order; a failed shard still goes to its gate', () => {
      const r = run('kpfleet-apply-r1-w1', 'y');
      expect(r.status, r.stderr).toBe(0);
      expect(r.log).toEqual([
        ...start,
        ...wave(1),
        ...wave(2),
        ...wave(3),
        'logs kpfleet-gate-r1-w3',
      ]);
    });

    it('stops at a gate that failed: the next wave is never created', () => {
      const r = run('kpfleet-gate-r1-w2', 'y');
      expect(r.status).toBe(1);
      expect(r.log).toEqual([...start, ...wave(1), ...wave(2), 'logs kpfleet-gate-r1-w2']);
      expect(r.stderr).toContain('the gate after wave 2 failed');
    });

    it('stops when the directory could not be made, when not confirmed, and on a bad id', () => {
      expect(run('kpfleet-init-r1', 'y').log).toEqual(['create kpfleet-init-r1']);
      const no = run('', 'n');
      expect(no.status).toBe(1);
      expect(no.log).toEqual(start);
      const bad = run('', 'y', ['R1', '3']);
      expect(bad.status).not.toBe(0);
      expect(bad.log).toEqual(['']);
    });
  });
});
