import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { FastifyRequest } from 'fastify';
import { decodeJwt } from 'jose';
import pino from 'pino';
import type { Config } from '../../lib/config/index.ts';
import { issuerOf, loadConfig } from '../../lib/config/index.ts';
import { OAuthError } from '../../lib/http/errors.ts';
import { OutboundClient } from '../../lib/http/outbound.ts';
import type {
  DcrRuntime,
  RegistrationContext,
  RegistrationStep,
} from '../../services/identity-server/dcr/context.ts';
import type { DcrDependencies } from '../../services/identity-server/dcr/dependencies.ts';
import { validateRegistrationRequest } from '../../services/identity-server/dcr/index.ts';
import { KeySetCache } from '../../services/identity-server/dcr/key-set-cache.ts';
import { registrationRules, WSO2_KEYS } from '../../services/identity-server/dcr/registration-rules.ts';
import type { ScopeStore } from '../../services/identity-server/scopes/store.ts';
import { defaultStateDir, manifestPath, type TargetFlags } from './target.ts';

/**
 * `obkit dcr explain`: the identity server's own registration steps (the list its POST /register runs),
 * run offline on one request JWT against a configuration, each reported passed, failed or skipped with
 * the rule of docs/dcr-rules.md and the configuration keys that govern it. Keys are fetched as the
 * identity server fetches them (Register JWKS, the SSA's jwks_uri); what needs the Data Holder's
 * database (replay, duplicates) or the connection (mutual TLS) is named and skipped.
 */

export type RuleStatus = 'passed' | 'failed' | 'skipped';

export interface ConfigKey {
  key: string;
  value: unknown;
}

export interface RuleVerdict {
  rule: string;
  title: string;
  status: RuleStatus;
  detail?: string;
  /** The refusal the identity server would answer, for a failed rule. */
  refusal?: { status: number; error: string; error_description: string };
  keys: ConfigKey[];
}

export interface Explanation {
  /** The first failed rule decides the answer, as in the identity server. */
  verdict: 'accepted' | 'refused';
  refusal?: RuleVerdict['refusal'];
  rules: RuleVerdict[];
  /** With --answer: whether the answer received is what this configuration gives. */
  answer?: { received: string; agrees: boolean; note: string };
}

type StepInfo = {
  rule: string;
  title: string;
  keys: (config: Config, context: Partial<RegistrationContext>) => ConfigKey[];
  /** The `[open_banking_cds.dcr]` toggle that turns the step on. */
  toggle?: string;
};

const key = (config: Config, path: string): ConfigKey => ({
  key: path,
  value: path
    .split('.')
    .reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], config),
});
const cds = (name: string) => (config: Config) => [key(config, `open_banking_cds.dcr.${name}`)];

/** What each identity-server step checks, in docs/dcr-rules.md's words, and its configuration keys. */
const STEPS: Record<string, StepInfo> = {
  parseRequestJwt: {
    rule: 'J1',
    title: 'the body is a compact JWS signed PS256 or ES256',
    keys: () => [],
  },
  verifySoftwareStatement: {
    rule: 'S1 S2',
    title: 'the SSA is present and verifies with the Register keys, with every claim a registration needs',
    keys: (config, context) => {
      const unverified = readClaims(context.claims?.software_statement);
      const sandbox =
        unverified?.[config.open_banking_cds.dcr.software_environment_claim] ===
        config.open_banking_cds.dcr.software_environment_sandbox_value;
      return [
        key(config, `open_banking.dcr.jwks_url_${sandbox ? 'sandbox' : 'production'}`),
        key(config, 'open_banking.dcr.regulatory_issuers'),
        key(config, 'open_banking_cds.dcr.software_environment_claim'),
        key(config, 'open_banking_cds.dcr.clock_skew_seconds'),
      ];
    },
  },
  verifyRequestSignature: {
    rule: 'J2',
    title: "the request signature verifies with a key at the SSA's jwks_uri",
    keys: (config) => [
      key(config, 'open_banking.dcr.jwks_retriever'),
      key(config, 'obkit.allow_private_addresses'),
    ],
  },
  checkRequestClaims: {
    rule: 'J3 J4 J5 J6 J8',
    title: 'required claims, iss, aud, exp/iat and the client metadata values',
    keys: (config) => [
      key(config, 'open_banking.dcr.registration'),
      key(config, 'open_banking_cds.dcr.clock_skew_seconds'),
      key(config, 'open_banking_cds.dcr.enable_hybrid_flow'),
    ],
  },
  checkRedirectUris: {
    rule: 'U1',
    title: "redirect_uris are https and a subset of the SSA's",
    keys: () => [],
  },
  checkRedirectUriHostnames: {
    rule: 'U2',
    title: "the SSA's redirect URIs share one host",
    keys: cds('enable_redirect_uri_hostname_validation'),
    toggle: 'enable_redirect_uri_hostname_validation',
  },
  checkUriHostnames: {
    rule: 'toggle',
    title: "logo, client, policy and tos URIs are on the redirect URIs' host",
    keys: cds('enable_hostname_validation'),
    toggle: 'enable_hostname_validation',
  },
  checkUrisAnswer: {
    rule: 'toggle',
    title: 'logo, client, policy and tos URIs answer HTTP 200',
    keys: cds('enable_uri_validation'),
    toggle: 'enable_uri_validation',
  },
  checkSectorIdentifier: {
    rule: 'toggle',
    title: 'every redirect URI is listed at sector_identifier_uri',
    keys: cds('enable_sector_identifier_uri_validation'),
    toggle: 'enable_sector_identifier_uri_validation',
  },
};

/** Steps that only render the registration: nothing to explain. */
const RENDERING_STEPS = new Set(['buildClientMetadata']);

export async function explainRegistration(
  jwt: string,
  config: Config,
  options: { answer?: unknown } = {},
): Promise<Explanation> {
  const { runtime, close } = await offlineRuntime(config);
  const context = { runtime, request: { body: jwt } as FastifyRequest } as RegistrationContext;
  const rules: RuleVerdict[] = [];
  let blocked: string | undefined;
  let ssaUnverified = false;
  try {
    for (const step of validateRegistrationRequest) {
      if (RENDERING_STEPS.has(step.name)) continue;
      const info = STEPS[step.name] ?? { rule: '?', title: step.name, keys: () => [] };
      const base = { rule: info.rule, title: info.title, keys: info.keys(config, context) };
      const toggle = info.toggle ? key(config, `open_banking_cds.dcr.${info.toggle}`) : undefined;
      if (blocked) {
        rules.push({ ...base, status: 'skipped', detail: blocked });
        continue;
      }
      if (toggle && toggle.value === false) {
        rules.push({ ...base, status: 'skipped', detail: `${toggle.key} = false` });
        continue;
      }
      const verdict = await runStep(step, context, base);
      if (ssaUnverified && verdict.status !== 'skipped')
        verdict.detail = `${verdict.detail ? `${verdict.detail}; ` : ''}on the SSA's unverified claims`;
      rules.push(verdict);
      if (verdict.status !== 'passed' && step.name === 'parseRequestJwt')
        blocked = 'the request JWT could not be read';
      if (verdict.status !== 'passed' && step.name === 'verifySoftwareStatement') {
        // Go on with what the SSA says, so the other rules are explained too.
        const unverified = readClaims(context.claims.software_statement);
        if (unverified) {
          context.ssa = unverified as RegistrationContext['ssa'];
          context.softwareStatement = context.claims.software_statement as string;
          ssaUnverified = true;
        } else blocked = 'no readable software statement';
      }
    }
  } finally {
    await close();
  }
  rules.push(...databaseRules(config, context));
  const failed = rules.find((rule) => rule.status === 'failed');
  const explanation: Explanation = {
    verdict: failed ? 'refused' : 'accepted',
    ...(failed?.refusal ? { refusal: failed.refusal } : {}),
    rules,
  };
  if (options.answer !== undefined) explanation.answer = compareAnswer(explanation, options.answer);
  return explanation;
}

/** The DCR pipeline's runtime without a server: real fetches (Register and recipient keys), no database. */
async function offlineRuntime(config: Config): Promise<{ runtime: DcrRuntime; close(): Promise<void> }> {
  const logger = pino({ level: 'silent' });
  const outbound = new OutboundClient(
    {
      allowPrivateAddresses: config.obkit.allow_private_addresses,
      connectTimeoutMs: config.open_banking.dcr.jwks_retriever.connection_timeout,
      readTimeoutMs: config.open_banking.dcr.jwks_retriever.read_timeout,
      maxBytes: config.open_banking.dcr.jwks_retriever.size_limit,
      extraCa: config.obkit.tls.outbound_ca
        ? await readFile(config.obkit.tls.outbound_ca, 'utf8').catch(() => undefined)
        : undefined,
    },
    logger,
  );
  // The identity server fetches the Register's keys from its own configuration, private addresses allowed.
  const registerClient = new OutboundClient({ ...outbound.policy, allowPrivateAddresses: true }, logger);
  const keyCache = (client: OutboundClient, serveStaleOnError: boolean) =>
    new KeySetCache({
      fetch: (url) => client.getJson(url),
      maxAgeMs: 60_000,
      cooldownMs: 0,
      serveStaleOnError,
      maxEntries: 8,
    });
  const runtime: DcrRuntime = {
    deps: { config, issuer: issuerOf(config), logger, outbound } as unknown as DcrDependencies,
    rules: registrationRules(config),
    // Read only by the rendering step, which explain does not run.
    scopes: undefined as unknown as ScopeStore,
    registerKeys: keyCache(registerClient, true),
    recipientKeys: keyCache(outbound, false),
  };
  return { runtime, close: async () => void (await Promise.all([outbound.close(), registerClient.close()])) };
}

async function runStep(
  step: RegistrationStep,
  context: RegistrationContext,
  base: Omit<RuleVerdict, 'status'>,
): Promise<RuleVerdict> {
  try {
    await step(context);
    return { ...base, status: 'passed' };
  } catch (error) {
    if (!(error instanceof OAuthError))
      return { ...base, status: 'skipped', detail: `could not be checked: ${(error as Error).message}` };
    const refusal = { status: error.status, error: error.error, error_description: error.message };
    if (error.status >= 500) {
      // The Data Holder's fault (Register keys unreachable), not the request's.
      return {
        ...base,
        status: 'skipped',
        detail: `could not be checked from here: ${error.message} (HTTP ${error.status} ${error.error})`,
      };
    }
    const keys =
      step.name === 'checkRequestClaims' ? claimKeys(context, error.message, base.keys) : base.keys;
    return { ...base, keys, status: 'failed', detail: error.message, refusal };
  }
}

/** The configuration key of the claim a request-claims refusal names. */
function claimKeys(context: RegistrationContext, description: string, fallback: ConfigKey[]): ConfigKey[] {
  const config = context.runtime.deps.config;
  if (/\((exp|iat)\)$/.test(description)) return [key(config, 'open_banking_cds.dcr.clock_skew_seconds')];
  if (/audience/i.test(description))
    return [
      {
        key: 'open_banking.dcr.registration.audience',
        value: context.runtime.rules.claims.aud.allowed ?? [context.runtime.deps.issuer],
      },
    ];
  if (/^Invalid issuer/.test(description))
    return [{ key: "(the SSA's software_id)", value: context.ssa?.software_id }];
  if (/hybrid/.test(description)) return [key(config, 'open_banking_cds.dcr.enable_hybrid_flow')];
  const claim = Object.keys(context.runtime.rules.claims).find((name) =>
    new RegExp(`\\b${name}\\b`).test(description),
  );
  if (!claim) return fallback;
  const name = WSO2_KEYS[claim as keyof typeof WSO2_KEYS] ?? claim;
  return [
    {
      key: `open_banking.dcr.registration.${name}`,
      value: context.runtime.rules.claims[claim as keyof typeof context.runtime.rules.claims],
    },
  ];
}

/** The rules the identity server checks in its database when it stores the client. */
function databaseRules(config: Config, context: Partial<RegistrationContext>): RuleVerdict[] {
  const toggle = (name: string) => key(config, `open_banking_cds.dcr.${name}`);
  const jti = toggle('request_jti_validation_enabled');
  const ssaJti = toggle('ssa_jti_validation_enabled');
  const offline = "needs the Data Holder's database (checked when the client is stored)";
  return [
    {
      rule: 'J7',
      title: 'the request jti has not been seen',
      status: 'skipped',
      detail: jti.value ? offline : `${jti.key} = false`,
      keys: [jti],
    },
    {
      rule: 'toggle',
      title: "the SSA's jti has not been seen",
      status: 'skipped',
      detail: ssaJti.value ? offline : `${ssaJti.key} = false`,
      keys: [ssaJti],
    },
    {
      rule: 'D1',
      title: `no active registration of software_id ${String(context.ssa?.software_id ?? '?')}`,
      status: 'skipped',
      detail: offline,
      keys: [],
    },
    {
      rule: 'T1',
      title: 'mutual TLS with a trusted client certificate',
      status: 'skipped',
      detail: 'a property of the connection, not of the request',
      keys: [key(config, 'obkit.tls.truststore')],
    },
  ];
}

function compareAnswer(explanation: Explanation, answer: unknown): Explanation['answer'] {
  const body = (answer ?? {}) as Record<string, unknown>;
  const refused = typeof body.error === 'string';
  const received = refused
    ? `${String(body.error)}: ${String(body.error_description ?? '')}`
    : `accepted (client_id ${String(body.client_id ?? '?')})`;
  if (!refused) {
    return explanation.verdict === 'accepted'
      ? { received, agrees: true, note: 'accepted, as this configuration accepts it' }
      : {
          received,
          agrees: false,
          note: 'the Data Holder accepted a request this configuration refuses: is this the configuration in force?',
        };
  }
  const { refusal } = explanation;
  if (refusal && refusal.error === body.error && refusal.error_description === body.error_description)
    return { received, agrees: true, note: 'the refusal is the first failed rule above' };
  if (refusal && refusal.error === body.error)
    return {
      received,
      agrees: true,
      note: `the same error; this configuration's first failed rule says: ${refusal.error_description}`,
    };
  return {
    received,
    agrees: false,
    note: refusal
      ? `this configuration refuses with ${refusal.error}: ${refusal.error_description}`
      : 'every rule checkable offline passes: the refusal comes from a rule checked in the database or on the connection (J7, D1, T1), the rate limits, or another configuration',
  };
}

function readClaims(jwt: unknown): Record<string, unknown> | undefined {
  if (typeof jwt !== 'string') return undefined;
  try {
    return decodeJwt(jwt);
  } catch {
    return undefined;
  }
}

/**
 * The configuration to explain against: `--config FILE` (a TOML, as the identity server reads it), else
 * the effective configuration `obkit up` recorded in the environment manifest, else the defaults and
 * the environment (OBKIT_CONFIG, OBKIT__*).
 */
export async function explainConfig(
  flags: TargetFlags & { config?: string | undefined },
): Promise<{ config: Config; source: string }> {
  if (flags.config) return { config: loadConfig({ file: flags.config }), source: resolve(flags.config) };
  const manifest = resolve((flags.environment as string | undefined) ?? manifestPath(defaultStateDir(flags)));
  if (existsSync(manifest)) {
    const effective = (JSON.parse(await readFile(manifest, 'utf8')) as { config?: { effective?: Config } })
      .config?.effective;
    if (effective) return { config: effective, source: `${manifest} (the configuration obkit up runs)` };
  }
  return { config: loadConfig(), source: 'the defaults and the environment (OBKIT_CONFIG, OBKIT__*)' };
}

const MARK = { passed: '✓', failed: '✗', skipped: '-' } as const;

export function formatExplanation(explanation: Explanation): string {
  const lines: string[] = [];
  for (const rule of explanation.rules) {
    lines.push(
      `${MARK[rule.status]} ${rule.rule.padEnd(5)} ${rule.title}: ${rule.status}${rule.detail ? ` — ${rule.detail}` : ''}`,
    );
    for (const entry of rule.keys) lines.push(`        ${entry.key} = ${JSON.stringify(entry.value)}`);
  }
  lines.push(
    explanation.refusal
      ? `verdict: refused — HTTP ${explanation.refusal.status} ${explanation.refusal.error}: ${explanation.refusal.error_description}`
      : 'verdict: accepted by every rule checkable offline',
  );
  if (explanation.answer)
    lines.push(
      `answer received: ${explanation.answer.received} — ${explanation.answer.agrees ? 'agrees' : 'differs'}: ${explanation.answer.note}`,
    );
  return lines.join('\n');
}
