import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecipientKeys } from '../../lib/cdr/recipient.ts';
import {
  insertCdrClient,
  requestClientCredentialsToken,
  type StartedIdentityServer,
  startIdentityServer,
  startJwksServer,
} from '../support/identity-server.ts';

let is: StartedIdentityServer;

beforeAll(async () => {
  is = await startIdentityServer({ overrides: { obkit: { allow_private_addresses: false } } });
});

afterAll(async () => {
  await is?.close();
});

describe('client JWKS fetches follow the SSRF policy', () => {
  it('does not fetch a client jwks_uri on a loopback address unless private addresses are allowed', async () => {
    const keys = await createRecipientKeys();
    const jwks = await startJwksServer(is.pki, keys.jwks);
    try {
      const clientId = await insertCdrClient(is.db, { jwksUri: jwks.url });
      const response = await requestClientCredentialsToken(is, { clientId, keys, scope: 'cdr:registration' });
      expect(response.status).toBe(401);
      expect(response.json().error).toBe('invalid_client');
      expect(jwks.requests()).toBe(0);
    } finally {
      await jwks.close();
    }
  });
});
