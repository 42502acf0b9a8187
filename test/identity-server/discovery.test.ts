import https from 'node:https';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecipientKeys, type RecipientKeys } from '../../lib/cdr/recipient.ts';
import { rotateSigningKey } from '../../services/identity-server/oauth/signing-keys.ts';
import {
  insertCdrClient,
  requestClientCredentialsToken,
  type StartedIdentityServer,
  startIdentityServer,
  startJwksServer,
} from '../support/identity-server.ts';

let is: StartedIdentityServer;
let keys: RecipientKeys;
let jwks: Awaited<ReturnType<typeof startJwksServer>>;
let clientId: string;

beforeAll(async () => {
  is = await startIdentityServer();
  keys = await createRecipientKeys();
  jwks = await startJwksServer(is.pki, keys.jwks);
  clientId = await insertCdrClient(is.db, { jwksUri: jwks.url });
});

afterAll(async () => {
  await jwks?.close();
  await is?.close();
});

describe('discovery', () => {
  it('is served under the issuer, as WSO2 IS does, with the registration endpoint and mTLS aliases', async () => {
    const response = await is.request('/oauth2/token/.well-known/openid-configuration');
    expect(response.status).toBe(200);
    const metadata = response.json();
    expect(is.issuer).toBe(`${is.url}/oauth2/token`);
    expect(metadata).toMatchObject({
      issuer: is.issuer,
      token_endpoint: `${is.url}/oauth2/token`,
      jwks_uri: `${is.url}/oauth2/jwks`,
      introspection_endpoint: `${is.url}/oauth2/introspect`,
      revocation_endpoint: `${is.url}/oauth2/revoke`,
      userinfo_endpoint: `${is.url}/oauth2/userinfo`,
      authorization_endpoint: `${is.url}/oauth2/authorize`,
      registration_endpoint: `${is.url}/api/openbanking/dynamic-client-registration/register`,
      tls_client_certificate_bound_access_tokens: true,
      token_endpoint_auth_signing_alg_values_supported: ['PS256', 'ES256'],
    });
    expect(metadata.mtls_endpoint_aliases).toMatchObject({
      token_endpoint: `${is.url}/oauth2/token`,
      revocation_endpoint: `${is.url}/oauth2/revoke`,
      introspection_endpoint: `${is.url}/oauth2/introspect`,
    });
    expect(metadata.grant_types_supported).toEqual(
      expect.arrayContaining(['client_credentials', 'refresh_token']),
    );
    expect(metadata.token_endpoint_auth_methods_supported).toContain('private_key_jwt');
    expect(metadata.scopes_supported).toEqual(expect.arrayContaining(['openid', 'cdr:registration']));
  });

  it('derives endpoint URLs from the configured URL, not from the Host header', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const request = https.get(
        `${is.url}/oauth2/token/.well-known/openid-configuration`,
        { ca: is.pki.ca, servername: 'localhost', headers: { host: 'attacker.example' } },
        (response) => {
          let text = '';
          response.on('data', (chunk) => {
            text += chunk;
          });
          response.on('end', () => resolve(text));
        },
      );
      request.on('error', reject);
    });
    expect(JSON.parse(body).token_endpoint).toBe(`${is.url}/oauth2/token`);
  });
});

describe('signing keys', () => {
  it('publishes PS256 and ES256 public keys at /oauth2/jwks, without private members', async () => {
    const { keys: published } = (await is.request('/oauth2/jwks')).json();
    expect(published.map((key: { alg: string }) => key.alg).sort()).toEqual(['ES256', 'PS256']);
    for (const key of published) {
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(key).not.toHaveProperty(member);
    }
    const rsa = published.find((key: { alg: string }) => key.alg === 'PS256');
    expect(Buffer.from(rsa.n, 'base64url').length * 8).toBe(2048);
  });

  it('keeps verifying tokens of a rotated key via /oauth2/jwks until it is retired and pruned', async () => {
    const token = async () => {
      const response = await requestClientCredentialsToken(is, { clientId, keys, scope: 'cdr:registration' });
      expect(response.status, response.text).toBe(200);
      return response.json().access_token as string;
    };
    const verifyAtJwks = async (accessToken: string) => {
      const set = createLocalJWKSet((await is.request('/oauth2/jwks')).json());
      return jwtVerify(accessToken, set, { issuer: is.issuer, algorithms: ['PS256'] });
    };
    const before = await token();
    const oldKid = decodeProtectedHeader(before).kid;

    const newKid = await rotateSigningKey(is.db, is.server.secrets, 'PS256');
    await is.server.reloadProvider();
    const after = await token();
    expect(decodeProtectedHeader(after).kid).toBe(newKid);
    expect(newKid).not.toBe(oldKid);

    // Both verify against what the server publishes, and both pass the server's own checks.
    await expect(verifyAtJwks(before)).resolves.toBeDefined();
    await expect(verifyAtJwks(after)).resolves.toBeDefined();
    await expect(is.server.dependencies.verifyAccessToken(before)).resolves.toMatchObject({
      client_id: clientId,
    });

    // Once the retired key is past its retention it is no longer published, nor accepted.
    await is.db.query(`UPDATE signing_keys SET retired_at = now() - interval '1 day' WHERE kid = $1`, [
      oldKid,
    ]);
    await is.server.reloadProvider();
    const kids = (await is.request('/oauth2/jwks')).json().keys.map((key: { kid: string }) => key.kid);
    expect(kids).not.toContain(oldKid);
    await expect(verifyAtJwks(before)).rejects.toThrow();
    await expect(is.server.dependencies.verifyAccessToken(before)).rejects.toMatchObject({
      error: 'invalid_token',
    });
    expect(decodeJwt(after).client_id).toBe(clientId);
  });

  it('keeps its keys across restarts (persisted in signing_keys)', async () => {
    const { rows } = await is.db.query<{ n: number }>(
      'SELECT count(*)::integer AS n FROM signing_keys WHERE retired_at IS NULL',
    );
    expect(rows[0]!.n).toBe(2);
  });
});
