import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Suites start real HTTPS servers and PGlite instances; two cores do not gain from more forks.
    pool: 'forks',
    maxWorkers: 2,
  },
});
