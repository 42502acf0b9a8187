import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdminApi } from './api-client/admin.ts';
import { ManagementSession } from './api-client/management-session.ts';
import { PublisherApi } from './api-client/publisher.ts';
import { publishBankingApi } from './banking-api.ts';
import { publishDcrApi } from './dcr-api.ts';
import { fingerprintKey } from './fingerprint.ts';
import { configureKeyManager } from './key-manager.ts';
import type { PlannedChange, Progress, StepResult } from './report.ts';
import { restartServices } from './restart.ts';
import { type GivenRecipient, givenRecipientOptions, readGivenRecipient, runSmokeTest } from './smoke.ts';
import type { Target } from './target.ts';
import { addCertificates, checkCertificates, readCertificateFiles, targetTruststore } from './truststore.ts';

/**
 * Every console step in WSO2's order — key manager → publish APIs (DCR, then the sandbox banking API
 * where the target runs it) → truststores → restart (where the
 * target needs one) → smoke registration — on one management session.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_API_DIR = join(ROOT, 'apis', 'cdr-dcr', '0.2');
export const DEFAULT_INSEQUENCE = join(DEFAULT_API_DIR, 'insequence.xml');

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
  plan: { type: 'boolean', default: false },
  ...givenRecipientOptions,
} as const;

export interface ConfigureFlagValues {
  definition?: string | undefined;
  insequence?: string | undefined;
  trust?: string[] | undefined;
  'no-smoke'?: boolean | undefined;
  plan?: boolean | undefined;
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
  dryRun = false,
): Promise<StepResult> {
  return configureKeyManager(new AdminApi(session), {
    identityServerUrl: target.manifest.identityServer.url,
    connector: target.identityServerAdmin,
    fingerprintKey: await fingerprintKey(target.manifest.stateDir),
    dryRun,
    ...(progress ? { progress } : {}),
  });
}

export async function publishStep(
  target: Target,
  files: { definitionFile?: string | undefined; inSequenceFile?: string | undefined },
  progress?: Progress,
  session = managementSession(target),
  dryRun = false,
): Promise<StepResult> {
  const definitionFile = files.definitionFile ?? defaultDefinition();
  const inSequenceFile = files.inSequenceFile ?? DEFAULT_INSEQUENCE;
  for (const file of [definitionFile, inSequenceFile])
    if (!existsSync(file)) throw new Error(`${file} does not exist`);
  return publishDcrApi(new PublisherApi(session), {
    definitionFile,
    inSequenceFile,
    identityServerUrl: target.manifest.identityServer.url,
    vhost: target.manifest.gateway.vhost,
    fingerprintKey: await fingerprintKey(target.manifest.stateDir),
    dryRun,
    ...(target.manifest.gateway.environment
      ? { gatewayEnvironment: target.manifest.gateway.environment }
      : {}),
    ...(progress ? { progress } : {}),
  });
}

/** The sandbox banking API, where the target runs obkit's banking service (skipped elsewhere, e.g. WSO2). */
export async function bankingStep(
  target: Target,
  progress?: Progress,
  session = managementSession(target),
  dryRun = false,
): Promise<StepResult> {
  const banking = target.manifest.banking;
  if (!banking) {
    return {
      step: 'publish-banking-api',
      status: 'skipped',
      actions: ['the target runs no banking service'],
    };
  }
  return publishBankingApi(new PublisherApi(session), {
    bankingUrl: banking.url,
    vhost: target.manifest.gateway.vhost,
    gatewayEnvironment: target.manifest.gateway.environment,
    fingerprintKey: await fingerprintKey(target.manifest.stateDir),
    dryRun,
    progress,
  });
}

export async function truststoreStep(
  target: Target,
  files: string[] | undefined,
  progress?: Progress,
  dryRun = false,
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
  const inputs = await readCertificateFiles(sources);
  if (target.manifest.target === 'kubernetes')
    return checkCertificates(targetTruststore(target), inputs, target);
  return addCertificates(targetTruststore(target), inputs, progress, dryRun);
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
  progress?.('banking API');
  results.push(await bankingStep(target, progress, session));
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

/** One change `configure` would make, with the step that would make it. */
export interface PlanChange extends PlannedChange {
  step: string;
}

export interface ConfigurePlan {
  inSync: boolean;
  changes: PlanChange[];
  /** What each step found as wanted and would leave as it is. */
  unchanged: { step: string; actions: string[] }[];
}

/**
 * `configure --plan`: the same steps, reading the target and changing nothing — what configure would
 * create, update or delete (the restart it would need too), and what it would leave.
 */
export async function planConfigure(
  target: Target,
  options: Omit<ConfigureOptions, 'smoke' | 'given' | 'progress'> = {},
): Promise<ConfigurePlan> {
  const session = managementSession(target);
  const results = [
    await keyManagerStep(target, undefined, session, true),
    await publishStep(
      target,
      { definitionFile: options.definitionFile, inSequenceFile: options.inSequenceFile },
      undefined,
      session,
      true,
    ),
    await bankingStep(target, undefined, session, true),
    await truststoreStep(target, options.trustCertificates, undefined, true),
  ];
  const changes: PlanChange[] = results.flatMap((result) =>
    ((result.data?.changes ?? []) as PlannedChange[]).map((change) => ({ step: result.step, ...change })),
  );
  const truststoreChanges = changes.some((change) => change.step === 'load-truststore');
  if (truststoreChanges && target.manifest.target !== 'native')
    changes.push({ step: 'restart', action: 'update', subject: 'restart of the servers (new truststore)' });
  return {
    inSync: changes.length === 0,
    changes,
    unchanged: results.map((result) => ({
      step: result.step,
      actions: (result.data?.kept ?? []) as string[],
    })),
  };
}

const PLAN_SIGNS = { create: '+', update: '~', delete: '-' } as const;

export function formatPlan(plan: ConfigurePlan): string {
  const lines = plan.changes.map(
    (change) =>
      `${PLAN_SIGNS[change.action]} ${change.action} ${change.subject}${change.fields?.length ? ` (${change.fields.join(', ')})` : ''}   [${change.step}]`,
  );
  for (const step of plan.unchanged)
    for (const action of step.actions) lines.push(`= leave ${action}   [${step.step}]`);
  lines.push(
    plan.inSync
      ? 'in sync: configure would change nothing'
      : `drift: configure would make ${plan.changes.length} change(s)`,
  );
  return lines.join('\n');
}
