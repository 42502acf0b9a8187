import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/**
 * The PostgreSQL server behind OBKIT_TEST_DATABASE_URL as a Debian cluster this machine can restart
 * (`pg_lsclusters` finds it by port, `pg_ctlcluster` restarts it): what the database fault tests need.
 * They restart the server every other suite uses, so they run in the serial stage after the main run
 * (vitest.faults.config.ts), never beside other suites.
 */
export interface RestartableCluster {
  url: string;
  /** e.g. `15/main` */
  name: string;
  /**
   * Stops the server (fast: sessions are terminated), keeps it down `downMs`, starts it again; resolves
   * once it accepts connections.
   */
  restart(downMs?: number): Promise<{ stoppedAt: number; acceptingAt: number }>;
  /** When the server last started (changes with every restart). */
  startedAt(): Promise<string>;
}

/** The cluster, or why there is none to restart (the suite skips with that reason, or fails in CI). */
export async function restartableCluster(): Promise<RestartableCluster | { reason: string }> {
  const url = process.env.OBKIT_TEST_DATABASE_URL;
  if (!url) return { reason: 'OBKIT_TEST_DATABASE_URL is not set' };
  const { hostname, port } = new URL(url);
  if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(hostname)) {
    return { reason: `${hostname} is not a server on this machine` };
  }
  let listing: string;
  try {
    listing = (await run('pg_lsclusters', ['--no-header'])).stdout;
  } catch (error) {
    return { reason: `pg_lsclusters is not available (${(error as Error).message})` };
  }
  // Ver Cluster Port Status Owner Data-directory Log-file
  const cluster = listing
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .find((fields) => fields[2] === (port || '5432') && fields[3]?.startsWith('online'));
  if (!cluster) return { reason: `no online cluster on port ${port || '5432'} in pg_lsclusters` };
  const [version, name] = cluster as [string, string];
  const startedAt = async () => {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
    await client.connect();
    try {
      return String((await client.query('SELECT pg_postmaster_start_time() AS t')).rows[0].t);
    } finally {
      await client.end();
    }
  };
  return {
    url,
    name: `${version}/${name}`,
    startedAt,
    async restart(downMs = 1000) {
      const ctl = (action: string, ...extra: string[]) =>
        run('pg_ctlcluster', ['--skip-systemctl-redirect', ...extra, version, name, action]);
      let stoppedAt = Date.now();
      try {
        await ctl('stop', '-m', 'fast');
        stoppedAt = Date.now();
        await new Promise((resolve) => setTimeout(resolve, downMs));
      } finally {
        // Whatever happened, the server every other suite uses is started again.
        await ctl('start').catch(() => {});
      }
      await run('pg_isready', ['-q', '-h', '127.0.0.1', '-p', port || '5432', '-t', '30']);
      return { stoppedAt, acceptingAt: Date.now() };
    },
  };
}
