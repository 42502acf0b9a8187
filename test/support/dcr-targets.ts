import { postgresTarget } from './database.ts';

/** Where a DCR suite runs: PGlite always, the PostgreSQL server too when OBKIT_TEST_DATABASE_URL reaches one. */
export interface DatabaseTarget {
  name: string;
  databaseUrl: string | undefined;
}

export async function databaseTargets(): Promise<DatabaseTarget[]> {
  const postgres = await postgresTarget();
  if (!postgres)
    console.log('DCR suites on PostgreSQL skipped: OBKIT_TEST_DATABASE_URL unset or unreachable');
  return [
    { name: 'PGlite', databaseUrl: undefined },
    ...(postgres ? [{ name: 'PostgreSQL', databaseUrl: postgres.url }] : []),
  ];
}
