import { defineConfig } from 'vitest/config';

// Five projects, each a folder under test/ (docs/testing.md says which command runs which):
// - unit: pure code from data, and the engine over an in-memory transport; no network, no
//   processes beyond a shell for a step's script. Fast.
// - integration: real files, real child processes (the CLI via tsx, Ansible when present), the
//   in-process SSH lab and a real sshd on loopback.
// - e2e: the built CLI (dist/) as a user runs it, on the real-SSH fleet; `npm run test:e2e`
//   builds first.
// - faults: the fault matrix on the real-SSH fleet; `npm run test:faults` builds first and writes
//   docs/reliability.md.
// - vm: the built CLI against a real Debian kernel under QEMU; `npm run test:vm` sets it up.
export default defineConfig({
  test: {
    restoreMocks: true,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], testTimeout: 120_000 },
      },
      {
        extends: true,
        test: {
          name: 'faults',
          include: ['test/faults/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          maxConcurrency: 6,
        },
      },
      {
        extends: true,
        test: {
          name: 'vm',
          include: ['test/vm/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          // one VM at a time: each test file boots its own (TCG on a shared 2-core machine)
          fileParallelism: false,
        },
      },
    ],
  },
});
