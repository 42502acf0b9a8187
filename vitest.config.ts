import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Fault tests restart the shared PostgreSQL server: they run alone afterwards (vitest.faults.config.ts).
    exclude: [...configDefaults.exclude, 'test/faults/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Suites start real HTTPS servers and PGlite instances; two cores do not gain from more forks.
    pool: 'forks',
    maxWorkers: 2,
  },
});
