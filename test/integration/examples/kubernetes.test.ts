/**
 * The example Kubernetes manifests (examples/kubernetes/): each is valid against the Kubernetes
 * API schema (kubernetes-models, offline: `kubectl create --dry-run=client` needs an API server
 * for its schema, which this machine has not), the plan and apply Jobs are Indexed with
 * `--shard JOB_COMPLETION_INDEX/N` where N is their completions, every pod runs as non-root on a
 * read-only root filesystem with the SSH Secret mounted read-only, every `$(VAR)` in args is a
 * variable the container defines, and each kpfleet command line is one the real CLI accepts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Job } from 'kubernetes-models/batch/v1';
import { PersistentVolumeClaim } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { EXAMPLES, expectCliAccepts, kpfleetCommands } from './example-files.ts';

const DIR = join(EXAMPLES, 'kubernetes');

interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env?: { name: string }[];
  securityContext?: Record<string, unknown>;
  volumeMounts?: { name: string; readOnly?: boolean }[];
}
interface JobManifest {
  kind: 'Job';
  metadata: { name: string };
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

const manifests = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((file) =>
    parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((d) => ({
      file,
      doc: d.toJS() as { kind: string } & Record<string, unknown>,
    })),
  );
const jobs = manifests.filter((m) => m.doc.kind === 'Job') as unknown as {
  file: string;
  doc: JobManifest;
}[];
const job = (name: string) => jobs.find((j) => j.doc.metadata.name === name)?.doc;

/** The kpfleet command lines of a container: its args, or the kpfleet commands of `sh -c`. */
function commandLines(c: Container): string[][] {
  const words = [...(c.command ?? []), ...(c.args ?? [])];
  if (words[0] === 'kpfleet') return [words.slice(1)];
  if (words[0] === 'sh') return kpfleetCommands(words.slice(2).join('\n'));
  return [];
}

describe('examples/kubernetes', () => {
  it('has the plan, merge, apply-wave and gate Jobs and the shared volume', () => {
    expect(jobs.map((j) => j.doc.metadata.name).sort()).toEqual([
      'kpfleet-apply-wave-1',
      'kpfleet-gate-wave-1',
      'kpfleet-plan',
      'kpfleet-plan-merge',
    ]);
    expect(manifests.map((m) => m.doc.kind)).toContain('PersistentVolumeClaim');
  });

  it('every manifest is valid against the Kubernetes API schema', () => {
    for (const { file, doc } of manifests) {
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
    // and the check can fail: a wrong type, a missing required field
    const plan = structuredClone(job('kpfleet-plan')) as JobManifest;
    (plan.spec as Record<string, unknown>).completions = 'four';
    expect(() => new Job(plan as never).validate()).toThrow();
    const noImage = structuredClone(job('kpfleet-plan')) as JobManifest;
    delete (noImage.spec.template.spec.containers[0] as Partial<Container>).name;
    expect(() => new Job(noImage as never).validate()).toThrow();
  });

  it('plan and apply are Indexed Jobs whose pods each take shard JOB_COMPLETION_INDEX/N of N', () => {
    for (const name of ['kpfleet-plan', 'kpfleet-apply-wave-1']) {
      const j = job(name);
      expect(j?.spec.completionMode, name).toBe('Indexed');
      const [argv = []] = commandLines(j?.spec.template.spec.containers[0] as Container);
      const shard = argv[argv.indexOf('--shard') + 1];
      expect(shard, name).toBe(`JOB_COMPLETION_INDEX/${String(j?.spec.completions)}`);
    }
    const apply =
      commandLines(job('kpfleet-apply-wave-1')?.spec.template.spec.containers[0] as Container)[0] ??
      [];
    expect(apply.slice(0, 3)).toEqual(['apply', '--wave', '$(WAVE)']);
    expect(apply).toEqual(expect.arrayContaining(['--yes', '--report']));
    expect(apply.at(-1)).toBe('/shared/plan.json');
    const merge = commandLines(
      job('kpfleet-plan-merge')?.spec.template.spec.containers[0] as Container,
    )[0];
    expect(merge?.slice(0, 2)).toEqual(['plan', 'merge']);
    const gate = commandLines(
      job('kpfleet-gate-wave-1')?.spec.template.spec.containers[0] as Container,
    )[0];
    expect(gate?.slice(0, 2)).toEqual(['report', 'merge']);
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
      job(name)?.spec.template.spec.volumes?.find((v) => v.secret)?.secret?.secretName;
    // the plan reads with the user that has no sudo; only apply holds the deploy key
    expect(secretOf('kpfleet-plan')).toBe('kpfleet-ssh-readonly');
    expect(secretOf('kpfleet-apply-wave-1')).toBe('kpfleet-ssh-deploy');
    expect(secretOf('kpfleet-plan-merge')).toBeUndefined();
    expect(secretOf('kpfleet-gate-wave-1')).toBeUndefined();
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
});
