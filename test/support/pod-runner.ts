import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmod, chown, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * Runs pod specs rendered by `helm template` from a built image with buildah (chroot isolation), the way a
 * kubelet would run them as far as the image is concerned: the container's args after the image's
 * entrypoint, its env (Secret references resolved from files given here), its volume mounts (ConfigMaps
 * from the rendered objects, Secrets from the files given here, emptyDirs and claims as fresh writable
 * directories) and the security context's uid/gid. Every pod shares one network namespace made for the
 * run (buildah's chroot isolation runs in its caller's), where the Service names resolve to its loopback,
 * so in-cluster URLs and ports work unchanged without touching the machine's own ports.
 * Not reproduced: the kernel-enforced read-only root (checked afterwards instead: see `writtenPaths`),
 * probes, resource limits, NetworkPolicies, Service load balancing.
 */

const run = promisify(execFile);
const BUILDAH_MARKER = '/run/.containerenv';

// biome-ignore lint/suspicious/noExplicitAny: pod specs are untyped rendered YAML.
export type PodSpec = Record<string, any>;
export type SecretFiles = Record<string, Record<string, string>>;

export interface PodRunnerOptions {
  image: string;
  namespace: string;
  workDir: string;
  /** Rendered ConfigMaps by name → data. */
  configMaps: Record<string, Record<string, string>>;
  /** Secrets by name → key → content. */
  secrets: SecretFiles;
  /** Host names that resolve to the namespace's loopback (the release's Service names). */
  hostnames: string[];
}

export interface Finished {
  code: number | null;
  output: string;
}

export class PodRunner {
  readonly #options: PodRunnerOptions;
  readonly #containers: string[] = [];
  readonly #running: ChildProcess[] = [];
  #hostsFile = '';

  constructor(options: PodRunnerOptions) {
    this.#options = options;
  }

  async start(): Promise<void> {
    const { namespace, workDir, hostnames } = this.#options;
    await run('ip', ['netns', 'add', namespace]);
    await run('ip', ['netns', 'exec', namespace, 'ip', 'link', 'set', 'lo', 'up']);
    this.#hostsFile = join(workDir, 'hosts');
    await writeFile(this.#hostsFile, `127.0.0.1 localhost ${hostnames.join(' ')}\n`, { mode: 0o644 });
  }

  /** Starts a pod in the background; its output accumulates in `output()`. */
  async spawn(name: string, pod: PodSpec): Promise<{ process: ChildProcess; output: () => string }> {
    const child = spawn('ip', await this.#command(name, pod), { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr!.on('data', (chunk) => {
      output += chunk;
    });
    this.#running.push(child);
    return { process: child, output: () => output };
  }

  /** Runs a pod to completion (a Job's or a test hook's). */
  async complete(name: string, pod: PodSpec, timeoutMs = 180_000): Promise<Finished> {
    const { process, output } = await this.spawn(name, pod);
    const timer = setTimeout(() => process.kill('SIGKILL'), timeoutMs);
    const code = await new Promise<number | null>((resolve) => process.on('exit', resolve));
    clearTimeout(timer);
    return { code, output: output() };
  }

  /** Files and links the pods wrote into their containers' root filesystems (overlay upper layers). */
  async writtenPaths(): Promise<string[]> {
    const graphRoot = (await run('buildah', ['info', '--format', '{{.store.GraphRoot}}'])).stdout.trim();
    const containers = JSON.parse(
      await readFile(join(graphRoot, 'overlay-containers', 'containers.json'), 'utf8'),
    ) as { names?: string[]; layer: string }[];
    const written: string[] = [];
    for (const name of this.#containers) {
      const layer = containers.find((c) => c.names?.includes(name))?.layer;
      if (!layer) throw new Error(`no storage layer for container ${name}`);
      const upper = join(graphRoot, 'overlay', layer, 'diff');
      // buildah creates the mount points it needs as directories, and its /run/.containerenv marker;
      // anything else was written by the pod.
      for (const entry of await readdir(upper, { recursive: true, withFileTypes: true })) {
        const path = join(entry.parentPath, entry.name).slice(upper.length);
        if (!entry.isDirectory() && path !== BUILDAH_MARKER) written.push(path);
      }
    }
    return written;
  }

  async stop(): Promise<void> {
    const pids = await run('ip', ['netns', 'pids', this.#options.namespace]).then(
      (result) => result.stdout.split('\n').filter(Boolean),
      () => [],
    );
    for (const pid of pids) process.kill(Number(pid), 'SIGTERM');
    await Promise.all(
      this.#running
        .filter((child) => child.exitCode === null && child.signalCode === null)
        .map((child) => new Promise((resolve) => child.on('exit', resolve))),
    );
    await run('ip', ['netns', 'del', this.#options.namespace]).catch(() => undefined);
    for (const id of this.#containers) await run('buildah', ['rm', id]).catch(() => undefined);
  }

  async #command(name: string, pod: PodSpec): Promise<string[]> {
    const [container] = pod.containers;
    const security = { ...pod.securityContext, ...container.securityContext };
    const user = `${security.runAsUser}:${security.runAsGroup ?? security.runAsUser}`;
    const volumes = await this.#volumes(
      name,
      pod,
      Number(security.runAsUser),
      Number(pod.securityContext?.fsGroup),
    );
    const mounts = (container.volumeMounts as { name: string; mountPath: string; readOnly?: boolean }[]).map(
      (mount) => `${volumes[mount.name]}:${mount.mountPath}${mount.readOnly ? ':ro' : ''}`,
    );
    const env = ((container.env ?? []) as PodSpec[]).map(
      (variable) => `${variable.name}=${this.#envValue(variable)}`,
    );
    const id = (
      await run('buildah', ['from', '--name', `${this.#options.namespace}-${name}`, this.#options.image])
    ).stdout.trim();
    this.#containers.push(id);
    // Kubernetes mounts the pod's volume over the image's VOLUME /var/lib/obkit; buildah 1.28 also mounts
    // an anonymous volume there and either one may win (seen: the state emptyDir left empty), so the
    // working container drops the declaration.
    for (const mount of container.volumeMounts as { mountPath: string }[])
      await run('buildah', ['config', '--volume', `${mount.mountPath}-`, id]);
    return [
      'netns',
      'exec',
      this.#options.namespace,
      'buildah',
      'run',
      '--isolation',
      'chroot',
      '--network',
      'host',
      '--no-hosts',
      '--user',
      user,
      '-v',
      `${this.#hostsFile}:/etc/hosts:ro`,
      ...mounts.flatMap((mount) => ['-v', mount]),
      ...env.flatMap((variable) => ['-e', variable]),
      id,
      '--',
      'node',
      ...container.args,
    ];
  }

  #envValue(variable: PodSpec): string {
    if (variable.value !== undefined) return String(variable.value);
    const ref = variable.valueFrom?.secretKeyRef;
    const value = ref && this.#options.secrets[ref.name]?.[ref.key];
    if (value === undefined)
      throw new Error(`env ${variable.name}: no value for ${JSON.stringify(variable.valueFrom)}`);
    return value;
  }

  /** Host directories for the pod's volumes: Secret files 0440 root:fsGroup (defaultMode 288), like a kubelet. */
  async #volumes(pod: string, spec: PodSpec, uid: number, fsGroup: number): Promise<Record<string, string>> {
    const paths: Record<string, string> = {};
    for (const volume of spec.volumes as PodSpec[]) {
      const dir = join(this.#options.workDir, 'pods', pod, volume.name);
      await mkdir(dir, { recursive: true });
      paths[volume.name] = dir;
      let files: Record<string, string> | undefined;
      if (volume.configMap) files = this.#options.configMaps[volume.configMap.name];
      if (volume.secret) files = this.#options.secrets[volume.secret.secretName];
      if (volume.configMap || volume.secret) {
        if (!files) throw new Error(`${pod}: volume ${volume.name} refers to a missing ConfigMap/Secret`);
        const items = (volume.configMap ?? volume.secret).items as
          | { key: string; path: string }[]
          | undefined;
        for (const { key, path } of items ?? Object.keys(files).map((key) => ({ key, path: key }))) {
          const file = join(dir, path);
          await writeFile(file, files[key] ?? '');
          await chown(file, 0, fsGroup);
          await chmod(file, volume.secret ? 0o440 : 0o444);
        }
        await chmod(dir, 0o755);
      } else {
        // emptyDir or a claim: writable by the pod's user only.
        await chown(dir, uid, fsGroup);
        await chmod(dir, 0o770);
      }
    }
    return paths;
  }
}
