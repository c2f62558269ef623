import { configDefaults, defineConfig } from 'vitest/config';

const FAILOVER_TESTS = ['test/integration/redis-sentinel.test.ts', 'test/integration/postgres-switchover.test.ts'];
/**
 * The unit tier: everything that runs in-process with the memory adapters (no Postgres, Redis or
 * S3 server, no package install). `npm run test:unit` runs it alone.
 */
const UNIT_TESTS = ['app/**/*.test.ts', 'regions/**/*.test.ts', 'test/unit/**/*.test.ts', 'test/contract/**/*.memory.test.ts'];

export default defineConfig({
  test: {
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      {
        test: {
          name: 'unit',
          include: UNIT_TESTS,
          testTimeout: 10_000,
          pool: 'forks',
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'suite',
          include: ['infra/**/*.test.ts', 'scripts/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...UNIT_TESTS, 'test/rehearsal/**', ...FAILOVER_TESTS],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
          pool: 'forks',
          sequence: { groupOrder: 0 },
        },
      },
      {
        // Failovers timed against bounds (Redis Sentinel, Postgres switchover): run on their own,
        // after the other suites, so a busy machine does not stretch a failover past its bound.
        test: {
          name: 'failover',
          include: FAILOVER_TESTS,
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          pool: 'forks',
          sequence: { groupOrder: 1 },
        },
      },
      {
        // The multi-region rehearsals (network namespaces, ~20 processes each): they run alone,
        // after every other file has finished, so it neither slows them down nor is slowed by them.
        test: {
          name: 'rehearsal',
          include: ['test/rehearsal/**/*.test.ts'],
          // One rehearsal at a time: two would share two cores between ~40 processes.
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 180_000,
          pool: 'forks',
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
