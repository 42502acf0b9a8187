import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { $ } from 'zx';
import type { Engine } from './engine.ts';

/**
 * A Node base image made here, for machines that reach Debian's packages and the npm registry but no
 * container registry: a minimal Debian (debootstrap --variant=minbase, documentation, locales and apt
 * lists removed) plus the Node binary the project pins through npm (the `node` devDependency) and the
 * npm that runs this build (the Dockerfile's dependency stage needs one). It stands in for
 * node:<version>-bookworm-slim as NODE_IMAGE. It is rebuilt only when its recipe changes (a label
 * holds the recipe's hash), so a second build in the same run reuses it.
 */

export const DEBIAN_SUITE = 'bookworm';
const RECIPE_VERSION = 1;
const RECIPE_LABEL = 'io.obkit.base-recipe';
const TRIMMED = [
  'var/cache/apt/archives',
  'var/lib/apt/lists',
  'usr/share/doc',
  'usr/share/man',
  'usr/share/info',
  'usr/share/locale',
  'dev',
];

export interface LocalBase {
  reference: string;
  /** true when it was built now, false when an image of the same recipe was already there. */
  built: boolean;
}

export interface LocalBaseOptions {
  mirror?: string;
  progress?: (line: string) => void;
}

/** The pinned Node binary and its version, from the `node` package in node_modules. */
export async function pinnedNode(): Promise<{ binary: string; version: string }> {
  const require = createRequire(import.meta.url);
  const manifest = require.resolve('node/package.json');
  const { version } = JSON.parse(await readFile(manifest, 'utf8')) as { version: string };
  return { binary: join(dirname(manifest), 'bin', 'node'), version };
}

/** The npm running this build (npm sets npm_execpath to its CLI script). */
function runningNpm(): { root: string; version: string } {
  const cli = process.env.npm_execpath;
  const version = process.env.npm_config_user_agent?.match(/^npm\/(\S+)/)?.[1];
  if (!cli || !version)
    throw new Error(
      'run the image build through npm (`npm run image`): it copies that npm into the base image',
    );
  return { root: dirname(dirname(cli)), version };
}

export async function ensureLocalBase(engine: Engine, options: LocalBaseOptions = {}): Promise<LocalBase> {
  const node = await pinnedNode();
  const npm = runningNpm();
  const mirror = options.mirror ?? process.env.OBKIT_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
  const recipe = createHash('sha256')
    .update(
      JSON.stringify({ RECIPE_VERSION, suite: DEBIAN_SUITE, node: node.version, npm: npm.version, TRIMMED }),
    )
    .digest('hex')
    .slice(0, 16);
  const reference = `localhost/obkit-node-base:${node.version}-${DEBIAN_SUITE}`;
  if ((await engine.label(reference, RECIPE_LABEL)) === recipe) return { reference, built: false };

  if (process.getuid?.() !== 0)
    throw new Error('debootstrap needs root to make the local base image (or pass --node-image REF)');
  const work = await mkdtemp(join(process.env.OBKIT_IMAGE_WORKDIR ?? tmpdir(), 'obkit-base-'));
  try {
    const rootfs = join(work, 'rootfs');
    options.progress?.(`debootstrap ${DEBIAN_SUITE} (minbase) from ${mirror}`);
    const debootstrap = await $({
      nothrow: true,
      quiet: true,
    })`debootstrap --variant=minbase ${DEBIAN_SUITE} ${rootfs} ${mirror}`;
    if (debootstrap.exitCode !== 0)
      throw new Error(
        `debootstrap failed (exit ${debootstrap.exitCode}): ${debootstrap.stderr.trim().split('\n').slice(-3).join(' / ')}`,
      );
    for (const dir of TRIMMED) {
      await rm(join(rootfs, dir), { recursive: true, force: true });
      await mkdir(join(rootfs, dir), { recursive: true });
    }
    options.progress?.(`adding node ${node.version} (the pinned npm package) and npm ${npm.version}`);
    await cp(node.binary, join(rootfs, 'usr/local/bin/node'));
    await cp(npm.root, join(rootfs, 'usr/local/lib/node_modules/npm'), { recursive: true });
    await symlink('../lib/node_modules/npm/bin/npm-cli.js', join(rootfs, 'usr/local/bin/npm'));
    await symlink('../lib/node_modules/npm/bin/npx-cli.js', join(rootfs, 'usr/local/bin/npx'));
    // A tarball keeps owners, modes and links exactly; ADD unpacks it into the single layer.
    await $({ quiet: true })`tar --numeric-owner -C ${rootfs} -cf ${join(work, 'rootfs.tar')} .`;
    await rm(rootfs, { recursive: true, force: true });
    await writeFile(
      join(work, 'Containerfile'),
      'FROM scratch\nADD rootfs.tar /\nENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nCMD ["node"]\n',
    );
    options.progress?.(`committing ${reference}`);
    await engine.build({
      context: work,
      file: join(work, 'Containerfile'),
      tag: reference,
      labels: {
        [RECIPE_LABEL]: recipe,
        'org.opencontainers.image.description': `Debian ${DEBIAN_SUITE} minbase + Node ${node.version}`,
      },
    });
    return { reference, built: true };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
