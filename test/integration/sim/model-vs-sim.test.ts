/**
 * The planner's host model (lab/model.ts) is a fake too, so it is checked against the
 * simulator: random sequences of kpatch install/load/unload/uninstall and dnf install/remove
 * (kpatch-patch upgrades and downgrades included), run on both, must leave the same sysfs
 * entries, resident modules with their refcounts, installed files and packages, and succeed or
 * fail alike (docs/kpatch-behaviour.md §2.4–2.8, §4.3, §5.3).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, expect, it } from 'vitest';
import { newHost } from '../../../lab/model.ts';
import type { ModelHost, ModelModule } from '../../../lab/model.ts';
import {
  kpatchInstall,
  kpatchLoad,
  kpatchUninstall,
  kpatchUnload,
  packageInstall,
  packageRemove,
} from '../../../lab/model.ts';
import { packageModule } from '../../../src/plan/packages.ts';
import type { SimHost } from '../../../lab/sim-host.ts';
import { cleanup, host } from './helpers.ts';

afterAll(cleanup);

const K1 = '5.14.0-362.8.1.el9_3.x86_64';
const K2 = '5.14.0-427.13.1.el9_4.x86_64';

interface Mod {
  file: string;
  name: string;
  kernel: string;
  replace: boolean;
}

const genMod = fc.record({
  kernel: fc.constantFrom(K1, K2),
  replace: fc.boolean(),
  custom: fc.boolean(),
});

type Op =
  | { op: 'install'; i: number; k: 0 | 1 }
  | { op: 'load' | 'unload' | 'uninstall'; i: number }
  | { op: 'pkg-install' | 'pkg-remove'; i: number };

const genOp: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant('install' as const),
    i: fc.nat(3),
    k: fc.constantFrom(0 as const, 1 as const),
  }),
  fc.record({
    op: fc.constantFrom('load' as const, 'unload' as const, 'uninstall' as const),
    i: fc.nat(3),
  }),
  fc.record({ op: fc.constantFrom('pkg-install' as const, 'pkg-remove' as const), i: fc.nat(2) }),
);

function snapshot(h: ModelHost) {
  return {
    sysfs: [...h.sysfs].map(([n, s]) => `${n}=${s.enabled ? '1' : '0'}`).sort(),
    resident: [...h.resident].map(([n, r]) => `${n}:${String(r)}`).sort(),
    installed: h.installed.map((f) => `${f.kernel}/${f.file}`).sort(),
    packages: [...h.packages].sort(),
  };
}

async function simSnapshot(s: SimHost) {
  const st = s.readSysfs();
  const pk = await s.run(['rpm', '-qa', 'kpatch-patch*']);
  return {
    sysfs: Object.entries(st.patches)
      .map(([n, p]) => `${n}=${p.enabled}`)
      .sort(),
    resident: Object.entries(st.modules)
      .map(([n, m]) => `${n}:${m.refcnt}`)
      .sort(),
    installed: st.installed.map((f) => `${f.kernel}/${f.file}`).sort(),
    packages: pk.stdout.split('\n').filter(Boolean).sort(),
  };
}

it('the host model and the simulator agree, step by step', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(genMod, { minLength: 1, maxLength: 4 }),
      fc.constantFrom(K1, K2),
      fc.array(genOp, { minLength: 1, maxLength: 8 }),
      async (gen, kernel, ops) => {
        const sim = host({
          KERNEL_RELEASE: kernel,
          INSTALLED_KERNELS: `${K1} ${K2}`,
          KPATCH_VERSION: '0.9.7',
          KPATCH_FLAVOR: 'rhel',
        });
        const mods: Mod[] = gen.map((g, i) => ({
          file: g.custom ? `build-${String(i)}-v1.ko` : `livepatch-m${String(i)}.ko`,
          name: `livepatch_m${String(i)}`,
          kernel: g.kernel,
          replace: g.replace,
        }));
        const files = new Map<string, ModelModule>();
        const shaOf = new Map<string, string>();
        for (const m of mods) {
          const path = sim.makeModule(`mods/${m.file}`, {
            name: m.name,
            kernel: m.kernel,
            replace: m.replace,
          });
          const sha = createHash('sha256').update(readFileSync(path)).digest('hex');
          shaOf.set(m.file, sha);
          files.set(sha, { name: m.name, kernel: m.kernel, replace: m.replace, sha256: sha });
        }
        // two versions of one kpatch-patch stream for the running kernel (an upgrade/downgrade)
        const repo: ModelHost['repo'] = new Map();
        const nvras = ['1', '2'].map((v) => sim.addPackage({ version: v, release: '1' }));
        for (const nvra of nvras) {
          const name = packageModule(nvra) ?? '';
          repo.set(nvra, {
            nvra,
            module: { name, kernel, replace: true, sha256: `rpm:${nvra}` },
          });
          files.set(`rpm:${nvra}`, { name, kernel, replace: true, sha256: `rpm:${nvra}` });
        }
        const model = newHost({
          kernel,
          kernels: [K1, K2],
          service: { present: true, enabled: false },
          files,
          repo,
        });
        for (const o of ops) {
          let argv: string[];
          let step: () => void;
          if (o.op === 'pkg-install' || o.op === 'pkg-remove') {
            const nvra = nvras[o.i % nvras.length] ?? '';
            argv = ['dnf', o.op === 'pkg-install' ? 'install' : 'remove', '-y', nvra];
            step = () => {
              if (o.op === 'pkg-install') packageInstall(model, nvra);
              else packageRemove(model, nvra);
            };
          } else {
            const m = mods[o.i % mods.length];
            if (!m) continue;
            const sha = shaOf.get(m.file) ?? '';
            switch (o.op) {
              case 'install': {
                const k = o.k === 0 ? K1 : K2;
                argv = ['kpatch', 'install', '-k', k, `mods/${m.file}`];
                step = () => kpatchInstall(model, k, sha, m.file);
                break;
              }
              case 'load':
                argv = ['kpatch', 'load', m.name];
                step = () => kpatchLoad(model, { module: m.name });
                break;
              case 'unload':
                argv = ['kpatch', 'force', 'unload', m.name];
                step = () => kpatchUnload(model, m.name);
                break;
              case 'uninstall':
                argv = ['kpatch', 'uninstall', '-k', m.kernel, m.file];
                step = () => kpatchUninstall(model, m.kernel, m.file);
                break;
            }
          }
          const r = await sim.run(argv);
          let modelOk = true;
          try {
            step();
          } catch {
            modelOk = false;
          }
          const where = `${argv.join(' ')} → sim exit ${String(r.code)}: ${r.stderr.trim()}`;
          expect(modelOk, where).toBe(r.code === 0);
          expect(snapshot(model), where).toEqual(await simSnapshot(sim));
        }
      },
    ),
    { numRuns: Number(process.env.RUNS ?? 25), seed: Number(process.env.SEED ?? 20261125) },
  );
}, 300_000);
