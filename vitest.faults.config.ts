import { defineConfig } from 'vitest/config';

/**
 * The serial stage after the main run (`npm test` runs both): fault tests that restart the PostgreSQL
 * server every other suite uses, so nothing else may run beside them.
 */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
  },
});
