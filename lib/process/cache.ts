import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * obkit's machine-local caches, in the package's `node_modules/.cache/obkit/` (gone with a fresh
 * install, never in a state directory): the initialised PGlite cluster template and Node's compile
 * cache, which spares every process of `obkit up` recompiling the same modules at each start.
 */
export const CACHE_DIR = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'node_modules',
  '.cache',
  'obkit',
);

export const COMPILE_CACHE_DIR = join(CACHE_DIR, 'compile');
