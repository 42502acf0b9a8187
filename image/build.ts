#!/usr/bin/env node
// `npm run image`: builds the obkit image from the Dockerfile with docker, podman or buildah, whichever
// works here. The Dockerfile's NODE_IMAGE (node:<pinned version>-bookworm-slim) is pulled when a
// registry answers; where none does, a base image is made locally (image/local-base.ts) and passed as
// NODE_IMAGE instead. Prints the image size and the build time.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { $ } from 'zx';
import { parseCommandLine } from '../scripts/lib/command-line.ts';
import { findEngine } from './engine.ts';
import { ensureLocalBase, pinnedNode } from './local-base.ts';

const ROOT = resolve(import.meta.dirname, '..');

const USAGE = `Usage: npm run image -- [--tag REF] [--engine docker|podman|buildah] [--node-image REF | --local-base]
                        [--archive FILE]

Builds the obkit image (every component; non-root uid 10001, read-only root filesystem) from the
Dockerfile with the first usable engine of docker, podman and buildah (buildah: chroot isolation).

  --tag REF              image reference (default localhost/obkit:<package version>, what the sandbox
                         stack deploys)
  --engine NAME          use this engine instead of the first usable one
  --node-image REF       base image with node and npm (default node:<pinned node>-bookworm-slim, pulled;
                         when no registry answers, a local base is made with debootstrap instead)
  --local-base           make the local base straight away (no registry attempt)
  --archive FILE         also write a docker-archive tarball, for \`kind load image-archive FILE\` or
                         \`minikube image load FILE\``;

const { values } = parseCommandLine(
  'npm run image',
  {
    options: {
      tag: { type: 'string' },
      engine: { type: 'string' },
      'node-image': { type: 'string' },
      'local-base': { type: 'boolean', default: false },
      archive: { type: 'string' },
    },
  },
  USAGE,
);

try {
  const started = Date.now();
  const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const tag = values.tag ?? `localhost/obkit:${version}`;
  const engine = await findEngine(values.engine);
  console.error(`engine: ${engine.name}`);
  const nodeImage = values['node-image'] ?? (await baseImage(engine, Boolean(values['local-base'])));
  console.error(`building ${tag} on ${nodeImage}`);
  const scratch = await mkdtemp(join(tmpdir(), 'obkit-image-'));
  try {
    await engine.build({
      context: ROOT,
      file: join(ROOT, 'Dockerfile'),
      tag,
      args: { NODE_IMAGE: nodeImage, VERSION: version },
      secrets: await npmFetchSettings(scratch),
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  if (values.archive) {
    await engine.save(tag, resolve(values.archive));
    console.error(`wrote ${resolve(values.archive)}`);
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  console.log(`${tag}: ${await engine.size(tag)}, built in ${seconds} s with ${engine.name} on ${nodeImage}`);
} catch (error) {
  console.error(`npm run image: ${(error as Error).message}`);
  process.exitCode = 1;
}

/**
 * How this machine's npm reaches its registry (registry, proxies, the CA file of a TLS-intercepting
 * proxy), handed to the Dockerfile's `npm ci` as build secrets so the same install works inside the
 * build. Secrets are mounted for that one RUN and never stored in a layer.
 */
async function npmFetchSettings(scratch: string): Promise<Record<string, string>> {
  const get = async (key: string) => {
    const value = (await $({ quiet: true, nothrow: true })`npm config get ${key}`).stdout.trim();
    return value === 'null' || value === 'undefined' ? '' : value;
  };
  const lines = [`registry=${await get('registry')}`];
  for (const key of ['proxy', 'https-proxy', 'noproxy']) {
    const value = await get(key);
    if (value) lines.push(`${key}=${value}`);
  }
  const secrets: Record<string, string> = { npmrc: join(scratch, 'npmrc') };
  const cafile = (await get('cafile')) || process.env.NODE_EXTRA_CA_CERTS || '';
  if (cafile && existsSync(cafile)) {
    lines.push('cafile=/run/secrets/npm-ca');
    secrets['npm-ca'] = cafile;
  }
  await writeFile(secrets.npmrc!, `${lines.join('\n')}\n`, { mode: 0o600 });
  return secrets;
}

/** The registry's node image when one answers, else the local base (made now or reused). */
async function baseImage(
  engine: Awaited<ReturnType<typeof findEngine>>,
  localOnly: boolean,
): Promise<string> {
  const upstream = `node:${(await pinnedNode()).version}-bookworm-slim`;
  if (!localOnly) {
    if (await engine.pull(upstream)) return upstream;
    console.error(`${upstream}: no registry answers; making a local base image from Debian's packages`);
  }
  const base = await ensureLocalBase(engine, { progress: (line) => console.error(`  ${line}`) });
  console.error(`${base.reference}: ${base.built ? 'built' : 'reused (same recipe)'}`);
  return base.reference;
}
