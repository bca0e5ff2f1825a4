import { defineConfig } from 'vitest/config';

// Three projects, each a folder under test/:
// - unit: pure code from data; no network, no processes. Fast.
// - integration: real files, real child processes (the CLI via tsx, Ansible when present), and
//   from the transport issue on, a real sshd on loopback.
// - e2e: the built CLI (dist/) as a user runs it; `npm run test:e2e` builds first.
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
        // the fault matrix on the real-SSH fleet (issue 15): `npm run test:faults` builds first
        // and writes docs/reliability.md
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
        // a real Debian kernel under QEMU (issue 7): `npm run test:vm` sets it up first
        extends: true,
        test: {
          name: 'vm',
          include: ['test/vm/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
