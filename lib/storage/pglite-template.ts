import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { CACHE_DIR } from '../process/cache.ts';
import { tightenTree } from '../process/owner-only.ts';

/**
 * PGlite runs initdb for every new data directory, which costs seconds of CPU (≈6 s on a 2-core
 * machine, more when several start at once). A new data directory is instead a copy of one cluster
 * initialised once per PGlite version and kept in the package's `node_modules/.cache/obkit/` (≈40 MB,
 * copied in ≈0.1 s). Where that cache cannot be written, PGlite initialises the directory itself.
 */

/**
 * PGlite on `dataDir`, made a cluster first when it is not one yet, readable by its owner only: a copied
 * template keeps the cache's modes, a directory from an earlier version may be wider, and PGlite's WASM
 * file system writes the relation-cache files it rebuilds at start (`pg_internal.init`) 0644 whatever
 * the process umask.
 */
export async function openPgliteCluster(dataDir: string): Promise<PGlite> {
  await prepareDataDir(dataDir);
  const db = await PGlite.create({ dataDir });
  await tightenTree(dataDir);
  return db;
}

/** Makes `dataDir` a PostgreSQL cluster, unless it already is one. */
export async function prepareDataDir(dataDir: string): Promise<void> {
  if (existsSync(join(dataDir, 'PG_VERSION'))) return;
  const template = await clusterTemplate();
  if (!template) {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    return;
  }
  if (existsSync(dataDir)) {
    if ((await readdir(dataDir)).length) return; // not ours to overwrite: PGlite will say what is wrong
    await rmdir(dataDir);
  }
  await mkdir(dirname(dataDir), { recursive: true, mode: 0o700 });
  // Copied beside it and renamed, so a crash mid-copy never leaves half a cluster.
  const copy = `${dataDir}.${process.pid}.tmp`;
  await cp(template, copy, { recursive: true });
  await rename(copy, dataDir);
}

/** The initialised cluster for this PGlite version, built on first use; undefined when it cannot be. */
async function clusterTemplate(): Promise<string | undefined> {
  const template = clusterTemplatePath();
  if (existsSync(join(template, 'PG_VERSION'))) return template;
  const building = `${template}.${process.pid}.tmp`;
  try {
    await mkdir(CACHE_DIR, { recursive: true });
    const db = await PGlite.create({ dataDir: building });
    await db.close();
    await rename(building, template);
  } catch (error) {
    await rm(building, { recursive: true, force: true });
    // Another process finished first: use theirs.
    if (existsSync(join(template, 'PG_VERSION'))) return template;
    if (['EACCES', 'EROFS', 'EPERM'].includes((error as NodeJS.ErrnoException).code ?? '')) return undefined;
    throw error;
  }
  return template;
}

/** Where the template of this PGlite version is kept (it may not be built yet). */
export function clusterTemplatePath(): string {
  return join(CACHE_DIR, `pglite-${pgliteVersion()}`);
}

function pgliteVersion(): string {
  const entry = fileURLToPath(import.meta.resolve('@electric-sql/pglite'));
  const manifest = join(dirname(dirname(entry)), 'package.json');
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}
