import { chmod, lstat, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The state directory holds keys, the admin credential and the databases: only its owner may read it,
 * whatever umask the caller runs with. New files get owner-only modes from the process umask (PGlite
 * creates its data files 0666 & ~umask); what an earlier version or a wider umask left is tightened.
 */

/** Every file this process creates from now on is owner-only (0600 files, 0700 directories). */
export function ownerOnlyFiles(): void {
  process.umask(0o077);
}

/**
 * Creates `dir` (0700) when missing and removes group and other permissions from it and everything
 * under it. Symbolic links are neither followed nor changed.
 */
export async function tightenTree(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await tighten(dir);
}

async function tighten(path: string): Promise<void> {
  try {
    const stats = await lstat(path);
    if (stats.isSymbolicLink()) return;
    if (stats.mode & 0o077) await chmod(path, stats.mode & 0o700);
    if (!stats.isDirectory()) return;
    for (const entry of await readdir(path)) await tighten(join(path, entry));
  } catch (error) {
    // Removed meanwhile (a PGlite temporary file, a rotated log): nothing left to protect.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
