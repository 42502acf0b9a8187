import { $ } from 'zx';

/**
 * The container engine that builds obkit's image: docker, podman or buildah, whichever works here. A
 * CLI alone is not enough (a docker client without a daemon cannot build), so each is asked for its
 * info first. One interface for the few things the build needs, so nothing else knows which it is.
 */

export type EngineName = 'docker' | 'podman' | 'buildah';
export const ENGINES: readonly EngineName[] = ['docker', 'podman', 'buildah'];

export interface Engine {
  name: EngineName;
  /** `build -f FILE` in `context`, tagged, with build args and labels. */
  build(options: BuildOptions): Promise<void>;
  /** Pulls an image; false when no registry answers. */
  pull(reference: string): Promise<boolean>;
  /** The value of `label` on a local image, undefined when the image is not there. */
  label(reference: string, label: string): Promise<string | undefined>;
  /** Size of a local image, uncompressed with all its layers, e.g. "291 MB". */
  size(reference: string): Promise<string>;
  /** Writes a docker-archive tarball (`kind load image-archive`, `minikube image load`). */
  save(reference: string, file: string): Promise<void>;
}

export interface BuildOptions {
  context: string;
  file: string;
  tag: string;
  args?: Record<string, string>;
  labels?: Record<string, string>;
  /** Build secrets (`RUN --mount=type=secret,id=…`): id → file; never stored in a layer. */
  secrets?: Record<string, string>;
}

/** Why an engine cannot be used here, or undefined when it can. */
async function unusable(name: EngineName): Promise<string | undefined> {
  const probe = name === 'buildah' ? ['info'] : ['info', '--format', '{{json .}}'];
  const result = await $({ nothrow: true, quiet: true })`${name} ${probe}`;
  if (result.exitCode === 0) return undefined;
  if (result.exitCode === 127 || /ENOENT|not found/.test(result.stderr)) return 'not installed';
  return `installed but not usable (${result.stderr.trim().split('\n').at(-1) ?? `exit ${result.exitCode}`})`;
}

/** The engine asked for, or the first usable one; the error lists why each was passed over. */
export async function findEngine(wanted?: string): Promise<Engine> {
  if (wanted !== undefined && !ENGINES.includes(wanted as EngineName))
    throw new Error(`--engine must be one of ${ENGINES.join(', ')} (got ${wanted})`);
  const candidates = wanted ? [wanted as EngineName] : ENGINES;
  const reasons: string[] = [];
  for (const name of candidates) {
    const why = await unusable(name);
    if (!why) return engine(name);
    reasons.push(`${name}: ${why}`);
  }
  throw new Error(
    `no container engine can build here:\n  ${reasons.join('\n  ')}\n` +
      'install one (Debian: apt-get install buildah) or run a Docker daemon',
  );
}

export function engine(name: EngineName): Engine {
  const buildah = name === 'buildah';
  // buildah's chroot isolation needs no OCI runtime and no daemon: it works in CI containers as root.
  const isolation = buildah ? ['--isolation', process.env.BUILDAH_ISOLATION ?? 'chroot'] : [];
  return {
    name,
    async build({ context, file, tag, args = {}, labels = {}, secrets = {} }) {
      const flags = [
        ...Object.entries(args).flatMap(([key, value]) => ['--build-arg', `${key}=${value}`]),
        ...Object.entries(labels).flatMap(([key, value]) => ['--label', `${key}=${value}`]),
        ...Object.entries(secrets).flatMap(([id, src]) => ['--secret', `id=${id},src=${src}`]),
      ];
      const verb = buildah ? ['bud', ...isolation, '--layers'] : ['build'];
      await $({
        stdio: ['ignore', 'inherit', 'inherit'],
      })`${name} ${verb} -f ${file} -t ${tag} ${flags} ${context}`;
    },
    async pull(reference) {
      return (await $({ nothrow: true, quiet: true })`${name} pull ${reference}`).exitCode === 0;
    },
    async label(reference, label) {
      const format = `{{index .${buildah ? 'Docker.Config' : 'Config'}.Labels "${label}"}}`;
      const inspect = buildah ? ['inspect', '--type', 'image'] : ['image', 'inspect'];
      const result = await $({
        nothrow: true,
        quiet: true,
      })`${name} ${inspect} --format ${format} ${reference}`;
      return result.exitCode === 0 ? result.stdout.trim() : undefined;
    },
    async size(reference) {
      if (buildah)
        return (await $({ quiet: true })`buildah images --format {{.Size}} ${reference}`).stdout.trim();
      const bytes = Number(
        (await $({ quiet: true })`${name} image inspect --format {{.Size}} ${reference}`).stdout,
      );
      return `${Math.round(bytes / 1e6)} MB`;
    },
    async save(reference, file) {
      if (buildah) await $({ quiet: true })`buildah push ${reference} docker-archive:${file}:${reference}`;
      else if (name === 'podman')
        await $({ quiet: true })`podman save --format docker-archive -o ${file} ${reference}`;
      else await $({ quiet: true })`docker save -o ${file} ${reference}`;
    },
  };
}
