import pg from 'pg';

/**
 * The PostgreSQL server the suites run against besides PGlite: `OBKIT_TEST_DATABASE_URL` (CI sets it).
 * Returns undefined — and the suites skip with a printed reason — when it is unset or unreachable.
 */
export async function postgresTarget(): Promise<
  { url: string; dropSchema(schema: string): Promise<void> } | undefined
> {
  const url = process.env.OBKIT_TEST_DATABASE_URL;
  if (!url) return undefined;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    if (process.env.CI)
      throw new Error(`OBKIT_TEST_DATABASE_URL is set but unreachable: ${(error as Error).message}`);
    console.log(`PostgreSQL suites skipped: ${url} unreachable (${(error as Error).message})`);
    return undefined;
  } finally {
    await client.end().catch(() => {});
  }
  return {
    url,
    async dropSchema(schema) {
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    },
  };
}
