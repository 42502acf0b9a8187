import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CACHE_DIR } from './cache.ts';

/**
 * The processes of `obkit up` run from bundles: each entry point with the project sources and the
 * packages it imports in a few ES module files (code split, so shared chunks are compiled once into
 * Node's compile cache). A process then reads a handful of files instead of resolving and loading
 * hundreds of TypeScript sources and CommonJS package files, which was most of its start-up CPU
 * (measured: identity-server's modules 0.36 s → 0.20 s CPU, mock-register 0.28 s → 0.12 s), and six of
 * them start at once on two cores. Bundles are built with esbuild (a devDependency) into the package's
 * `node_modules/.cache/obkit/bundles/` and rebuilt when a source they were built from (size, mtime) or
 * package-lock.json changed. `OBKIT_BUNDLES=0`, or no esbuild, runs the sources.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BUNDLES_DIR = join(CACHE_DIR, 'bundles');
/** The record of the current build in a bundles directory. */
const CURRENT = 'current.json';
/** Builds other than the current one are removed once this old (a running `up` may still restart from one). */
const KEEP_OLD_BUILDS_MS = 24 * 3600_000;
/**
 * Left to Node's own resolution (from the bundles' place under the package's node_modules, so it must
 * stay there): PGlite finds its WebAssembly and data files next to its own module, and
 * esbuild itself is only the builder.
 */
const EXTERNAL = ['@electric-sql/pglite', 'esbuild'];

/** Entry points, relative to the package root. */
export const BUNDLE_ENTRIES = [
  'services/embedded-database/main.ts',
  'services/mock-register/main.ts',
  'services/identity-server/main.ts',
  'services/api-manager/main.ts',
  'services/gateway/main.ts',
  'services/banking/main.ts',
  'scripts/lib/up.ts',
];

interface BuildRecord {
  /** The build's directory, under BUNDLES_DIR. */
  dir: string;
  node: string;
  /** Every source file of the build (relative to the package root) with its size and mtime. */
  inputs: Record<string, [number, number]>;
}

export class Bundles {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** The bundle of `entry` (a source path relative to the package root). */
  of(entry: string): string {
    return join(this.dir, entry.replace(/\.ts$/, '.mjs'));
  }
}

/** The current build when it is up to date with the sources; no building. */
export function freshBundles(bundlesDir = BUNDLES_DIR): Bundles | undefined {
  if (process.env.OBKIT_BUNDLES === '0') return undefined;
  try {
    const record = JSON.parse(readFileSync(join(bundlesDir, CURRENT), 'utf8')) as BuildRecord;
    if (record.node !== process.version) return undefined;
    for (const [file, [size, mtime]] of Object.entries(record.inputs)) {
      const stats = statSync(join(ROOT, file), { throwIfNoEntry: false });
      if (!stats || stats.size !== size || stats.mtimeMs !== mtime) return undefined;
    }
    const dir = join(bundlesDir, record.dir);
    return existsSync(dir) ? new Bundles(dir) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Fresh bundles, built first when stale. Undefined (run the sources) when disabled, when esbuild is not
 * installed, or when the build fails; `onBuild` says which, and how long a build took.
 */
export async function ensureBundles(
  onBuild: (line: string) => void,
  bundlesDir = BUNDLES_DIR,
): Promise<Bundles | undefined> {
  if (process.env.OBKIT_BUNDLES === '0') return undefined;
  const fresh = freshBundles(bundlesDir);
  if (fresh) return fresh;
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch {
    onBuild('esbuild is not installed: running the sources (slower start)');
    return undefined;
  }
  const started = performance.now();
  try {
    const bundles = await build(esbuild, bundlesDir);
    onBuild(
      `bundled the processes in ${((performance.now() - started) / 1000).toFixed(1)} s (${bundlesDir})`,
    );
    return bundles;
  } catch (error) {
    onBuild(`could not bundle the processes, running the sources: ${(error as Error).message}`);
    return undefined;
  } finally {
    // esbuild's service process would otherwise live on beside `up`.
    await esbuild.stop();
  }
}

async function build(esbuild: typeof import('esbuild'), bundlesDir: string): Promise<Bundles> {
  const name = `build-${Date.now()}-${process.pid}`;
  const dir = join(bundlesDir, name);
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: BUNDLE_ENTRIES,
    outdir: dir,
    outbase: '.',
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: `node${process.versions.node.split('.')[0]}`,
    external: EXTERNAL,
    metafile: true,
    logLevel: 'silent',
    // CommonJS packages inside an ES module bundle still call require() for Node's built-in modules.
    // (import.meta.filename: the bundle's own location, which the plugin below leaves alone.)
    banner: {
      js: "import { createRequire as __obkitRequire } from 'node:module';\nconst require = __obkitRequire(import.meta.filename);",
    },
    plugins: [sourceLocation],
  });
  const inputs: BuildRecord['inputs'] = {};
  for (const file of [...Object.keys(result.metafile.inputs), 'package-lock.json']) {
    if (file.startsWith('node_modules/')) continue;
    const stats = await stat(join(ROOT, file));
    inputs[file] = [stats.size, stats.mtimeMs];
  }
  const record: BuildRecord = { dir: name, node: process.version, inputs };
  // Replaced in one step: an `up` starting meanwhile sees the old build or the new one, never half of one.
  const temporary = join(bundlesDir, `${CURRENT}.${process.pid}.tmp`);
  await writeFile(temporary, JSON.stringify(record));
  await rename(temporary, join(bundlesDir, CURRENT));
  await removeOldBuilds(bundlesDir, name);
  return new Bundles(dir);
}

/**
 * The project's modules keep their own `import.meta.url` (the source file's), so paths they derive from
 * it (the package root, the cache directory) are the same bundled or not.
 */
const sourceLocation: import('esbuild').Plugin = {
  name: 'obkit-source-location',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, async (args) => {
      if (relative(ROOT, args.path).startsWith('node_modules')) return undefined;
      const source = await readFile(args.path, 'utf8');
      const url = JSON.stringify(pathToFileURL(args.path).href);
      return { contents: source.replaceAll('import.meta.url', url), loader: 'ts' };
    });
  },
};

async function removeOldBuilds(bundlesDir: string, current: string): Promise<void> {
  await mkdir(bundlesDir, { recursive: true });
  for (const entry of await readdir(bundlesDir)) {
    if (entry === current || !entry.startsWith('build-')) continue;
    const path = join(bundlesDir, entry);
    const stats = await stat(path).catch(() => undefined);
    if (stats && Date.now() - stats.mtimeMs > KEEP_OLD_BUILDS_MS)
      await rm(path, { recursive: true, force: true });
  }
}
