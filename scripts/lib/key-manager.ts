import { isDeepStrictEqual } from 'node:util';
import { REVOCATION_FEED_PROPERTY, REVOCATIONS_PATH } from '../../lib/gateway-feed/revocations.ts';
import { AUDIENCE_PROPERTY } from '../../lib/gateway-feed/snapshot.ts';
import type { AdminApi, KeyManagerDto } from './api-client/admin.ts';
import type { Credentials } from './api-client/management-session.ts';
import { type FingerprintKey, fingerprint } from './fingerprint.ts';
import { type Progress, StepRecorder, type StepResult } from './report.ts';

/**
 * The "add the OBKM key manager" console step: create or update `OBKM` (type ObKeyManager) pointing at
 * the identity server, give the Resident Key Manager the connector credentials and disable it. Servers
 * may mask passwords when they return a key manager, so a fingerprint of what obkit applied (credentials
 * included: an HMAC under a key kept away from the server, see fingerprint.ts) rides in the description
 * and tells a changed credential from an unchanged one.
 */

export const OBKM_NAME = 'OBKM';
export const RESIDENT_KEY_MANAGER = 'Resident Key Manager';

export function obkmPayload(identityServerUrl: string, connector: Credentials): KeyManagerDto {
  const is = identityServerUrl.replace(/\/+$/, '');
  return {
    name: OBKM_NAME,
    displayName: OBKM_NAME,
    type: 'ObKeyManager',
    description: 'Open Banking key manager (identity server)',
    wellKnownEndpoint: `${is}/oauth2/token/.well-known/openid-configuration`,
    issuer: `${is}/oauth2/token`,
    clientRegistrationEndpoint: `${is}/keymanager-operations/dcr/register`,
    introspectionEndpoint: `${is}/oauth2/introspect`,
    tokenEndpoint: `${is}/oauth2/token`,
    revokeEndpoint: `${is}/oauth2/revoke`,
    userInfoEndpoint: `${is}/oauth2/userinfo?schema=openid`,
    authorizeEndpoint: `${is}/oauth2/authorize`,
    scopeManagementEndpoint: `${is}/api/identity/oauth2/v1.0/scopes`,
    certificates: { type: 'JWKS', value: `${is}/oauth2/jwks` },
    availableGrantTypes: ['client_credentials', 'refresh_token', 'authorization_code'],
    enableTokenGeneration: true,
    enableMapOAuthConsumerApps: true,
    enableOAuthAppCreation: true,
    enableSelfValidationJWT: true,
    enableTokenEncryption: false,
    enableTokenHashing: false,
    consumerKeyClaim: 'azp',
    scopesClaim: 'scope',
    tokenValidation: [{ id: 0, enable: true, type: 'JWT', value: {} }],
    enabled: true,
    additionalProperties: {
      Username: connector.username,
      Password: connector.password,
      self_validate_jwt: true,
      // obkit's gateway follows it to refuse revoked tokens within seconds, and accepts only tokens for
      // this audience (the identity server's `aud`); WSO2 keeps both as plain properties.
      [REVOCATION_FEED_PROPERTY]: `${is}${REVOCATIONS_PATH}`,
      [AUDIENCE_PROPERTY]: is,
    },
  };
}

export async function configureKeyManager(
  admin: AdminApi,
  options: {
    identityServerUrl: string;
    connector: Credentials;
    fingerprintKey: FingerprintKey;
    progress?: Progress;
    /** configure --plan: report what would change, change nothing. */
    dryRun?: boolean;
  },
): Promise<StepResult> {
  const step = new StepRecorder('configure-key-manager', options.progress, options.dryRun);
  const mark = (value: unknown) => `[obkit hmac ${fingerprint(options.fingerprintKey, value)}]`;
  const desired = obkmPayload(options.identityServerUrl, options.connector);
  desired.description = `${desired.description} ${mark(desired)}`;

  const all = await admin.listKeyManagers();
  const existing = all.find((km) => km.name === OBKM_NAME);
  const subject = `key manager ${OBKM_NAME}`;
  if (!existing?.id) {
    await step.apply(`created ${subject}`, { action: 'create', subject }, () => admin.addKeyManager(desired));
  } else {
    const current = await admin.getKeyManager(existing.id);
    const drift = differences(current, desired);
    if (drift.length) {
      await step.apply(
        `updated ${subject} (${drift.join(', ')})`,
        { action: 'update', subject, fields: drift },
        () => admin.updateKeyManager(existing.id!, { ...current, ...desired, id: existing.id }),
      );
    } else step.note(`${subject} as configured`);
  }

  const resident = all.find((km) => km.name === RESIDENT_KEY_MANAGER || km.type === 'default');
  if (!resident?.id) {
    step.note(`no ${RESIDENT_KEY_MANAGER} on this target`);
  } else {
    const current = await admin.getKeyManager(resident.id);
    const wanted: KeyManagerDto = {
      ...current,
      enabled: false,
      description:
        `${stripFingerprint(current.description)} ${mark({ enabled: false, ...options.connector })}`.trim(),
      additionalProperties: {
        ...current.additionalProperties,
        Username: options.connector.username,
        Password: options.connector.password,
      },
    };
    const drift = differences(current, wanted);
    if (drift.length) {
      await step.apply(
        `${RESIDENT_KEY_MANAGER}: connector credentials set, disabled (${drift.join(', ')})`,
        { action: 'update', subject: `key manager ${RESIDENT_KEY_MANAGER}`, fields: drift },
        () => admin.updateKeyManager(resident.id!, wanted),
      );
    } else step.note(`${RESIDENT_KEY_MANAGER} disabled`);
  }
  if (options.fingerprintKey.source === 'ephemeral')
    step.note('fingerprint key for this run only: set OBKIT_FINGERPRINT_KEY to keep re-runs "unchanged"');
  return step.result();
}

/** Fields whose current value differs from the desired one; masked secrets are judged by the fingerprint. */
function differences(current: KeyManagerDto, desired: KeyManagerDto): string[] {
  const drift: string[] = [];
  for (const [key, value] of Object.entries(desired)) {
    if (key === 'additionalProperties') {
      const have = (current.additionalProperties ?? {}) as Record<string, unknown>;
      for (const [name, wanted] of Object.entries(value as Record<string, unknown>)) {
        if (name === 'Password') continue;
        if (!isDeepStrictEqual(have[name], wanted)) drift.push(`additionalProperties.${name}`);
      }
    } else if (key === 'tokenValidation') {
      // Servers assign ids and defaults to validation entries: what matters is JWT validation being on.
      const jwtOn = (list: unknown) =>
        ((list ?? []) as { type?: string; enable?: boolean }[]).some((v) => v.type === 'JWT' && v.enable);
      if (jwtOn(value) !== jwtOn(current.tokenValidation)) drift.push(key);
    } else if (!isDeepStrictEqual(current[key], value)) drift.push(key);
  }
  return drift;
}

/** The description without obkit's mark (also the unkeyed `[obkit <sha256>]` of earlier versions). */
function stripFingerprint(description: string | undefined): string {
  return (description ?? '').replace(/\s*\[obkit (hmac )?[0-9a-f]+\]$/, '');
}
