import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { XMLBuilder } from 'fast-xml-parser';
import type { Progress } from '../report.ts';
import type { Target, TargetFlags } from '../target.ts';
import {
  CASES,
  type CaseContext,
  CaseFailed,
  CaseSkipped,
  type Certificate,
  type Conformance,
  type ConformanceCase,
  cleanUp,
} from './cases.ts';
import { Caller, describeAnswer, type Exchange } from './exchange.ts';
import { issueTransportCertificate, SandboxRegister } from './recipient.ts';

/**
 * `obkit conformance dcr`: every case of cases.ts against a target, in order (later cases build on the
 * registrations earlier ones make), each reported passed, failed (with its rule, the requests and the
 * answers) or skipped (with why), then what it registered deleted.
 */

/** The gateway's DCR path, as the DCR API obkit publishes (and WSO2's au-dcr-swagger.yaml) define it. */
export const DCR_PATH = '/open-banking/0.2/register';

/** `--target native|kubernetes|wso2`, or `--target MANIFEST` (a manifest file, as `--environment`). */
export function conformanceTargetFlags(flags: TargetFlags): TargetFlags {
  const target = flags.target as string | undefined;
  if (target === undefined || ['native', 'kubernetes', 'wso2'].includes(target)) return flags;
  if (!existsSync(target))
    throw new Error(
      `--target must be native, kubernetes, wso2 or an environment manifest file (got ${target})`,
    );
  const { target: _manifest, ...rest } = flags;
  return { ...rest, environment: target };
}

export type CaseStatus = 'passed' | 'failed' | 'skipped';

export interface CaseResult {
  id: string;
  rule: string;
  title: string;
  status: CaseStatus;
  /** Why it failed or was skipped. */
  detail?: string;
  /** Failed cases: each request and its answer. */
  exchanges?: { request: string; answer: string }[];
  seconds: number;
}

export interface ConformanceReport {
  target: string;
  passed: number;
  failed: number;
  skipped: number;
  seconds: number;
  cases: CaseResult[];
}

export async function runConformance(
  target: Target,
  options: { progress?: Progress } = {},
): Promise<ConformanceReport> {
  const started = Date.now();
  const conformance = await prepare(target);
  const results: CaseResult[] = [];
  const context = (exchanges: Exchange[]): CaseContext => ({
    conformance,
    exchanges,
    call: (call) => conformance.caller.call(call, exchanges),
  });
  try {
    for (const testCase of CASES) {
      const result = await runCase(testCase, context);
      results.push(result);
      options.progress?.(
        `${result.status === 'passed' ? '✓' : result.status === 'failed' ? '✗' : '-'} ${testCase.id}: ${testCase.title}${result.detail ? ` (${result.detail})` : ''}`,
      );
    }
  } finally {
    await cleanUp(context([])).catch(() => undefined);
    await conformance.caller.close();
    await conformance.register.close();
  }
  const count = (status: CaseStatus) => results.filter((result) => result.status === status).length;
  return {
    target: target.manifest.gateway.url,
    passed: count('passed'),
    failed: count('failed'),
    skipped: count('skipped'),
    seconds: (Date.now() - started) / 1000,
    cases: results,
  };
}

async function runCase(
  testCase: ConformanceCase,
  context: (exchanges: Exchange[]) => CaseContext,
): Promise<CaseResult> {
  const exchanges: Exchange[] = [];
  const started = Date.now();
  const base = { id: testCase.id, rule: testCase.rule, title: testCase.title };
  try {
    await testCase.run(context(exchanges));
    return { ...base, status: 'passed', seconds: (Date.now() - started) / 1000 };
  } catch (error) {
    const seconds = (Date.now() - started) / 1000;
    if (error instanceof CaseSkipped) return { ...base, status: 'skipped', detail: error.message, seconds };
    return {
      ...base,
      status: 'failed',
      detail: error instanceof CaseFailed ? error.message : `error: ${(error as Error).message}`,
      exchanges: exchanges.map((exchange) => ({
        request: exchange.request,
        answer: describeAnswer(exchange.answer),
      })),
      seconds,
    };
  }
}

/** What the cases need of the target: URLs, the recipient's certificates and the sandbox Register. */
async function prepare(target: Target): Promise<Conformance> {
  const { manifest } = target;
  if (!target.clientCertificate)
    throw new Error(
      'conformance needs a recipient transport certificate: --client-cert FILE --client-key FILE',
    );
  if (!manifest.mockRegister)
    throw new Error(
      'conformance needs a sandbox Register to issue SSAs: obkit up’s, or --register URL (a Register with obkit’s admin API)',
    );
  const transport: Certificate = {
    name: 'the recipient transport certificate',
    pair: target.clientCertificate,
  };
  const sandboxCa = readSandboxCa(manifest.pki.caKey);
  const issue = async (name: string, options: Parameters<typeof issueTransportCertificate>[0]) => ({
    name,
    pair: await issueTransportCertificate(options),
  });
  const optional = sandboxCa
    ? {
        expired: await issue('an expired certificate from the sandbox CA', {
          commonName: 'obkit-conformance-expired',
          issuer: sandboxCa,
          expired: true,
        }),
        serverOnly: await issue('a sandbox-CA certificate for serverAuth only', {
          commonName: 'obkit-conformance-server-only',
          issuer: sandboxCa,
          usage: 'serverAuth',
        }),
        otherTrusted: await issue('another trusted transport certificate', {
          commonName: 'obkit-conformance-other',
          issuer: sandboxCa,
        }),
      }
    : {};
  const gateway = new URL(manifest.gateway.url);
  const hosts = new Map<string, string>();
  if (manifest.gateway.vhost !== gateway.hostname)
    hosts.set(
      gateway.origin,
      gateway.port ? `${manifest.gateway.vhost}:${gateway.port}` : manifest.gateway.vhost,
    );
  return {
    caller: new Caller(target.ca, hosts),
    register: new SandboxRegister({
      url: manifest.mockRegister.url,
      ca: target.ca,
      transport: target.clientCertificate,
      admin: target.registerAdmin,
    }),
    registrationUrl: `${manifest.gateway.url.replace(/\/+$/, '')}${DCR_PATH}`,
    discoveryUrl: `${manifest.identityServer.issuer}/.well-known/openid-configuration`,
    issuer: manifest.identityServer.issuer,
    transport,
    untrusted: await issue('a certificate from an untrusted CA', {
      commonName: 'obkit-conformance-untrusted',
    }),
    ...optional,
    state: {},
  };
}

/** The sandbox issuing CA (its key beside its certificate, as `obkit up` writes them), when the manifest names it. */
function readSandboxCa(keyFile: string | undefined): { certificatePem: string; keyPem: string } | undefined {
  if (!keyFile) return undefined;
  const certificateFile = keyFile.replace(/\.key$/, '.pem');
  if (!existsSync(keyFile) || !existsSync(certificateFile)) return undefined;
  return { certificatePem: readFileSync(certificateFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') };
}

export function formatReport(report: ConformanceReport): string {
  const lines: string[] = [];
  for (const result of report.cases) {
    const mark = result.status === 'passed' ? '✓' : result.status === 'failed' ? '✗' : '-';
    lines.push(`${mark} ${result.id}: ${result.title}`);
    if (result.status === 'skipped') lines.push(`    skipped: ${result.detail}`);
    if (result.status === 'failed') {
      lines.push(`    rule: ${result.rule} (docs/dcr-rules.md)`, `    failure: ${result.detail}`);
      for (const exchange of result.exchanges ?? [])
        lines.push(`    request: ${exchange.request}`, `    answer:  ${exchange.answer}`);
    }
  }
  lines.push(
    `conformance dcr against ${report.target}: ${report.passed} passed, ${report.failed} failed, ${report.skipped} skipped (${report.seconds.toFixed(1)} s)`,
  );
  return lines.join('\n');
}

export function junitReport(report: ConformanceReport): string {
  const builder = new XMLBuilder({ ignoreAttributes: false, format: true, suppressEmptyNode: true });
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build({
    testsuites: {
      testsuite: {
        '@_name': 'obkit conformance dcr',
        '@_tests': report.cases.length,
        '@_failures': report.failed,
        '@_skipped': report.skipped,
        '@_time': report.seconds.toFixed(3),
        testcase: report.cases.map((result) => ({
          // Grouped by the rule's id (T1, J5…); the setup cases have none.
          '@_classname': `obkit.conformance.dcr.${/^[A-Z]\d/.test(result.rule) ? result.rule.split(' ')[0] : 'setup'}`,
          '@_name': `${result.id}: ${result.title}`,
          '@_time': result.seconds.toFixed(3),
          ...(result.status === 'skipped' ? { skipped: { '@_message': result.detail } } : {}),
          ...(result.status === 'failed'
            ? {
                failure: {
                  '@_message': `${result.rule}: ${result.detail}`,
                  '#text': (result.exchanges ?? [])
                    .map((exchange) => `request: ${exchange.request}\nanswer: ${exchange.answer}`)
                    .join('\n'),
                },
              }
            : {}),
        })),
      },
    },
  })}`;
}

export async function writeJunit(file: string, report: ConformanceReport): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, junitReport(report));
}
