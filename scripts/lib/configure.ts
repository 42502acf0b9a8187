import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdminApi, ManagementSession, PublisherApi } from './api-client.ts';
import { publishDcrApi } from './dcr-api.ts';
import { configureKeyManager } from './key-manager.ts';
import type { Progress, StepResult } from './report.ts';
import { restartServices } from './restart.ts';
import { type GivenRecipient, givenRecipientOptions, readGivenRecipient, runSmokeTest } from './smoke.ts';
import type { Target } from './target.ts';
import { addCertificates, readCertificateFiles, targetTruststore } from './truststore.ts';

/**
 * Every console step in WSO2's order — key manager → publish APIs → truststores → restart (where the
 * target needs one) → smoke registration — on one management session.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_API_DIR = join(ROOT, 'apis', 'cdr-dcr', '0.2');
export const DEFAULT_INSEQUENCE = join(DEFAULT_API_DIR, 'insequence.xml.tmpl');

/** obkit's own DCR definition: the one OpenAPI/Swagger file in apis/cdr-dcr/0.2/. */
export function defaultDefinition(): string {
  const files = existsSync(DEFAULT_API_DIR)
    ? readdirSync(DEFAULT_API_DIR).filter((f) => /\.(ya?ml|json)$/.test(f))
    : [];
  if (files.length !== 1)
    throw new Error(`expected one API definition in ${DEFAULT_API_DIR}; give --definition FILE`);
  return join(DEFAULT_API_DIR, files[0]!);
}

export interface ConfigureOptions {
  definitionFile?: string;
  inSequenceFile?: string;
  /** CA certificate files for the truststores; sandbox default: the sandbox CA bundle. */
  trustCertificates?: string[];
  smoke?: boolean;
  given?: GivenRecipient;
  progress?: Progress;
}

/** The flags of `configure` besides the target's (node:util parseArgs shape). */
export const configureFlags = {
  definition: { type: 'string' },
  insequence: { type: 'string' },
  trust: { type: 'string', multiple: true },
  'no-smoke': { type: 'boolean', default: false },
  ...givenRecipientOptions,
} as const;

export interface ConfigureFlagValues {
  definition?: string | undefined;
  insequence?: string | undefined;
  trust?: string[] | undefined;
  'no-smoke'?: boolean | undefined;
  ssa?: string | undefined;
  'signing-key'?: string | undefined;
}

/** What the `configure` flags ask for; reads the given SSA and signing key, if any. */
export async function configureOptionsFrom(values: ConfigureFlagValues): Promise<ConfigureOptions> {
  const given = await readGivenRecipient(values);
  return {
    smoke: !values['no-smoke'],
    ...(values.definition ? { definitionFile: values.definition } : {}),
    ...(values.insequence ? { inSequenceFile: values.insequence } : {}),
    ...(values.trust ? { trustCertificates: values.trust } : {}),
    ...(given ? { given } : {}),
  };
}

export function managementSession(target: Target): ManagementSession {
  return new ManagementSession(target.http(target.manifest.apiManager.url), target.admin);
}

export async function keyManagerStep(
  target: Target,
  progress?: Progress,
  session = managementSession(target),
): Promise<StepResult> {
  return configureKeyManager(new AdminApi(session), {
    identityServerUrl: target.manifest.identityServer.url,
    connector: target.identityServerAdmin,
    ...(progress ? { progress } : {}),
  });
}

export async function publishStep(
  target: Target,
  files: { definitionFile?: string | undefined; inSequenceFile?: string | undefined },
  progress?: Progress,
  session = managementSession(target),
): Promise<StepResult> {
  const definitionFile = files.definitionFile ?? defaultDefinition();
  const inSequenceFile = files.inSequenceFile ?? DEFAULT_INSEQUENCE;
  for (const file of [definitionFile, inSequenceFile])
    if (!existsSync(file)) throw new Error(`${file} does not exist`);
  return publishDcrApi(new PublisherApi(session), {
    definitionFile,
    inSequenceFile,
    identityServerUrl: target.manifest.identityServer.url,
    identityServerAdmin: target.identityServerAdmin,
    vhost: target.manifest.gateway.vhost,
    ...(progress ? { progress } : {}),
  });
}

export async function truststoreStep(
  target: Target,
  files: string[] | undefined,
  progress?: Progress,
): Promise<StepResult> {
  const sources =
    files ??
    (target.manifest.mode === 'sandbox' && target.manifest.pki.caCertificate
      ? [target.manifest.pki.caCertificate]
      : []);
  if (!sources.length) {
    return {
      step: 'load-truststore',
      status: 'skipped',
      actions: ['no CA certificates given (--trust FILE)'],
    };
  }
  return addCertificates(targetTruststore(target), await readCertificateFiles(sources), progress);
}

export async function configure(target: Target, options: ConfigureOptions = {}): Promise<StepResult[]> {
  const progress = options.progress;
  const session = managementSession(target);
  const results: StepResult[] = [];
  progress?.('key manager');
  results.push(await keyManagerStep(target, progress, session));
  progress?.('DCR API');
  results.push(
    await publishStep(
      target,
      { definitionFile: options.definitionFile, inSequenceFile: options.inSequenceFile },
      progress,
      session,
    ),
  );
  progress?.('truststore');
  const truststore = await truststoreStep(target, options.trustCertificates, progress);
  results.push(truststore);
  if (truststore.status === 'updated' && target.manifest.target !== 'native') {
    results.push(await restartServices(target, progress ? { progress } : {}));
  } else {
    results.push({
      step: 'restart',
      status: 'skipped',
      actions: [
        target.manifest.target === 'native'
          ? 'native services reload the truststore without a restart'
          : 'truststore unchanged',
      ],
    });
  }
  if (options.smoke !== false) {
    progress?.('smoke test');
    results.push(
      await runSmokeTest(target, {
        ...(progress ? { progress } : {}),
        ...(options.given ? { given: options.given } : {}),
      }),
    );
  }
  return results;
}
