import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import * as pulumi from '@pulumi/pulumi';
import { parse, stringify } from 'yaml';
import { helmTemplate } from './helm.ts';
import { type Resource, resourceFromObject } from './policies.ts';

/**
 * Runs the Pulumi program under `pulumi.runtime.setMocks` and records what it registers: type, name,
 * inputs (secrets unwrapped, their paths kept), parent and dependencies (read off the mock monitor's
 * register requests, which the mocks API does not pass on). @pulumi/tls resources get real certificates
 * with the requested subjects, so the policy pack can inspect them as it would in a real preview.
 */

const SECRET_SIG_KEY = '4dabf18193072939515e22adb298388d';
const SECRET_SIG = '1b47061264138c4ac30d75fd1eb44270';

export interface Recorded {
  type: string;
  name: string;
  urn: string;
  // biome-ignore lint/suspicious/noExplicitAny: recorded inputs are whatever the program passed.
  inputs: Record<string, any>;
  /** The state the mock returned (inputs plus mocked provider outputs, e.g. generated names). */
  // biome-ignore lint/suspicious/noExplicitAny: see inputs.
  state: Record<string, any>;
  /** Dotted paths of inputs that were marked secret, e.g. `stringData.password`. */
  secretPaths: string[];
  parent?: string;
  dependencies: string[];
  /** The provider reference (`urn::id`) the resource was registered with, when one was given. */
  provider?: string;
}

export interface StackRun {
  resources: Recorded[];
  // biome-ignore lint/suspicious/noExplicitAny: the program module's exports are the stack outputs.
  outputs: Record<string, any>;
}

/** Replaces secret wrappers by their values, collecting where they were. */
export function unwrapSecrets(value: unknown, path: string, secretPaths: string[]): unknown {
  if (Array.isArray(value))
    return value.map((item, index) => unwrapSecrets(item, `${path}[${index}]`, secretPaths));
  if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if (record[SECRET_SIG_KEY] === SECRET_SIG) {
      secretPaths.push(path);
      return unwrapSecrets(record.value, path, secretPaths);
    }
    return Object.fromEntries(
      Object.entries(record).map(([key, item]) => [
        key,
        unwrapSecrets(item, path ? `${path}.${key}` : key, secretPaths),
      ]),
    );
  }
  return value;
}

type Subject = { commonName?: string; organization?: string };
const csrSubjects = new Map<string, Subject>();

function distinguishedName(subject: Subject): string {
  return [
    subject.commonName && `CN=${subject.commonName}`,
    subject.organization && `O=${subject.organization}`,
  ]
    .filter(Boolean)
    .join(', ');
}

async function certificatePem(subject: string, issuer: string): Promise<string> {
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: '01',
    subject,
    issuer,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    signingAlgorithm: algorithm,
  });
  return certificate.toString('pem');
}

// Provider outputs mocked per type; inputs and outputs are untyped engine data.
type Props = Recorded['inputs'];

async function mockOutputs(type: string, name: string, inputs: Props): Promise<Props> {
  switch (type) {
    case 'tls:index/privateKey:PrivateKey':
      return { privateKeyPem: `-----BEGIN PRIVATE KEY-----\nmock-${name}\n-----END PRIVATE KEY-----\n` };
    case 'tls:index/certRequest:CertRequest': {
      const certRequestPem = `-----BEGIN CERTIFICATE REQUEST-----\nmock-${name}\n-----END CERTIFICATE REQUEST-----\n`;
      csrSubjects.set(certRequestPem, inputs.subject ?? {});
      return { certRequestPem };
    }
    case 'tls:index/selfSignedCert:SelfSignedCert': {
      const subject = distinguishedName(inputs.subject ?? {});
      return { certPem: await certificatePem(subject, subject) };
    }
    case 'tls:index/locallySignedCert:LocallySignedCert': {
      const subject = distinguishedName(csrSubjects.get(inputs.certRequestPem) ?? {});
      const issuer = new x509.X509Certificate(inputs.caCertPem).subject;
      return { certPem: await certificatePem(subject, issuer) };
    }
    case 'random:index/randomPassword:RandomPassword':
      return { result: `mock-random-password-${name}` };
    case 'random:index/randomBytes:RandomBytes':
      return {
        base64: Buffer.from(`mock-random-bytes-${name}`.padEnd(32, '.').slice(0, 32)).toString('base64'),
      };
    default:
      if (type.startsWith('kubernetes:') && inputs.metadata && !inputs.metadata.name) {
        // The Kubernetes provider auto-names objects; so does this mock, predictably.
        return { metadata: { ...inputs.metadata, name: `${name}-generated` } };
      }
      return {};
  }
}

export async function runStack(
  stack: string,
  config: Record<string, string>,
  secretKeys: string[] = [],
): Promise<StackRun> {
  const byUrn = new Map<string, Recorded>();
  const pending: Array<{ type: string; name: string; parent: string; dependencies: string[] }> = [];
  await pulumi.runtime.setMocks(
    {
      newResource: async (args) => {
        const secretPaths: string[] = [];
        const inputs = unwrapSecrets(args.inputs, '', secretPaths) as Record<string, unknown>;
        const outputs = await mockOutputs(args.type, args.name, inputs);
        return { id: args.custom ? `${args.name}-id` : undefined, state: { ...inputs, ...outputs } };
      },
      call: (args) => args.inputs,
    },
    'obkit',
    stack,
    false,
  );
  // The mocks API hides parent and dependencies; the monitor's requests carry them.
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    // biome-ignore lint/suspicious/noExplicitAny: protobuf request/response objects.
    registerResource(req: any, callback: (error: unknown, response: any) => void): void;
  };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) => {
    const request = {
      type: req.getType() as string,
      name: req.getName() as string,
      parent: req.getParent() as string,
      dependencies: req.getDependenciesList() as string[],
      provider: req.getProvider() as string,
    };
    pending.push(request);
    register(req, (error, response) => {
      if (!error && response) {
        const secretPaths: string[] = [];
        const inputs = unwrapSecrets(
          pulumi.runtime.deserializeProperties(req.getObject()),
          '',
          secretPaths,
        ) as Recorded['inputs'];
        const urn = response.getUrn() as string;
        const state = pulumi.runtime.deserializeProperties(response.getObject()) as Recorded['state'];
        const parent = request.parent ? { parent: request.parent } : {};
        byUrn.set(urn, { ...request, ...parent, urn, inputs, state, secretPaths });
      }
      callback(error, response);
    });
  };
  pulumi.runtime.setAllConfig(config, secretKeys);

  const program = (await import('../../stacks/index.ts')) as Record<string, unknown>;
  await Promise.all(Object.values(program).map((value) => resolve(value)));
  // Resources register asynchronously: wait until no new registration arrives for a while.
  let seen = -1;
  while (seen !== pending.length || byUrn.size < pending.length) {
    seen = pending.length;
    await new Promise((done) => setTimeout(done, 50));
  }
  return { resources: [...byUrn.values()], outputs: program };
}

/** The resolved value of an Output (or plain value), nested objects included. */
export function resolve<T>(value: T): Promise<pulumi.Unwrap<T>> {
  return new Promise((done) => pulumi.output(value).apply((resolved) => done(resolved as pulumi.Unwrap<T>)));
}

export async function isSecretOutput(value: unknown): Promise<boolean> {
  return pulumi.Output.isInstance(value) ? await pulumi.isSecret(value) : false;
}

/** Recorded Kubernetes and Helm resources in the shape the policy pack sees. */
export function policyResources(resources: Recorded[]): Resource[] {
  return resources
    .filter((resource) => resource.type.startsWith('kubernetes:'))
    .map((resource) => ({
      type: resource.type,
      name: resource.name,
      urn: resource.urn,
      props: resource.state,
    }));
}

/** Whether the input at this dotted path was marked secret (itself or an enclosing object). */
export function isSecretAt(resource: Recorded, path: string): boolean {
  return resource.secretPaths.some((secret) => path === secret || path.startsWith(`${secret}.`));
}

export function ofType(run: StackRun, type: string): Recorded[] {
  return run.resources.filter((resource) => resource.type === type);
}

export function one(run: StackRun, type: string, name: string): Recorded {
  const found = run.resources.find((resource) => resource.type === type && resource.name === name);
  if (!found) throw new Error(`no ${type} named ${name} was registered`);
  return found;
}

/** The Kubernetes Secret the program created with this metadata.name. */
export function secretNamed(run: StackRun, name: string): Recorded {
  const found = ofType(run, 'kubernetes:core/v1:Secret').find(
    (secret) => secret.inputs.metadata?.name === name,
  );
  if (!found) throw new Error(`no Secret named ${name}`);
  return found;
}

/** The objects `helm template` renders from the values the stack passed to the obkit chart. */
export async function renderStackChart(run: StackRun, namespace: string): Promise<Resource[]> {
  const chart = one(run, 'kubernetes:helm.sh/v4:Chart', 'obkit');
  const dir = await mkdtemp(join(tmpdir(), 'obkit-stack-values-'));
  try {
    const valuesFile = join(dir, 'values.yaml');
    await writeFile(valuesFile, stringify(chart.inputs.values));
    const objects = await helmTemplate([valuesFile], [], { release: chart.inputs.name, namespace });
    return objects.map((object) => resourceFromObject(object));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The `config:` of a committed stack file (Pulumi.<stack>.yaml) as setAllConfig takes it. */
export async function stackFileConfig(stack: string): Promise<Record<string, string>> {
  const file = join(import.meta.dirname, '../..', `Pulumi.${stack}.yaml`);
  const { config } = parse(await readFile(file, 'utf8')) as { config: Record<string, unknown> };
  // Pulumi keeps structured values (lists, objects) as JSON text in config.
  return Object.fromEntries(
    Object.entries(config).map(([key, value]) => [
      key,
      typeof value === 'object' ? JSON.stringify(value) : String(value),
    ]),
  );
}
