import { X509Certificate } from 'node:crypto';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateThumbprint } from '../../services/identity-server/oauth/access-tokens.ts';
import {
  createRecipientKeys,
  insertCdrClient,
  type RecipientKeys,
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
  keys = await createRecipientKeys('PS256');
  jwks = await startJwksServer(is.pki, keys.jwks);
  clientId = await insertCdrClient(is.db, { jwksUri: jwks.url });
});

afterAll(async () => {
  await jwks?.close();
  await is?.close();
});

describe('client_credentials with private_key_jwt over mutual TLS', () => {
  it('issues a PS256 JWT access token bound to the presented certificate', async () => {
    const response = await requestClientCredentialsToken(is, { clientId, keys, scope: 'cdr:registration' });
    expect(response.status, response.text).toBe(200);
    const body = response.json();
    expect(body.token_type).toBe('Bearer');
    const claims = decodeJwt(body.access_token);
    const thumbprint = certificateThumbprint(new X509Certificate(is.clientIdentity.certificatePem));
    expect(claims.cnf).toEqual({ 'x5t#S256': thumbprint });
    expect(claims.client_id).toBe(clientId);
    expect(claims.scope).toBe('cdr:registration');
  });
});
