import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { signJwt } from '../../lib/cdr/index.ts';
import { type HttpExchange, walkSandboxConsent } from '../../lib/cdr/sandbox-consent.ts';
import { RecipientSession, type RegisteredClient } from './recipient-session.ts';
import { SmokeFailure } from './smoke.ts';
import type { Target } from './target.ts';

/**
 * The sandbox smoke test's data-sharing journey for a client it just registered: PAR → the sandbox
 * consent pages (form posts, no browser) → JARM → tokens → the consented accounts through the gateway →
 * the arrangement revoked by the recipient → 401 at the gateway.
 */

export const SMOKE_CUSTOMER = 'sandbox-customer-jane';
export const SMOKE_ACCOUNTS = ['acc-jane-everyday'];
const ACCOUNTS_PATH = '/cds-au/v1/banking/accounts';
/** How long the gateway may take to route a newly published API, or to learn of a revocation. */
const PROPAGATION_MS = 30_000;

export async function dataSharingJourney(
  target: Target,
  client: RegisteredClient,
  pass: (check: string) => void,
): Promise<void> {
  const session = new RecipientSession(target, client);
  try {
    const code = await authorise(session);
    pass(`PAR → sandbox consent (${SMOKE_CUSTOMER}, ${SMOKE_ACCOUNTS.join(', ')}) → JARM code`);
    const tokens = await exchange(session, code.code, code.verifier);
    pass(`authorization code → certificate-bound access token for arrangement ${tokens.arrangementId}`);
    const accounts = () =>
      session.send('GET', `${target.manifest.gateway.url}${ACCOUNTS_PATH}`, {
        headers: { authorization: `Bearer ${tokens.accessToken}`, 'x-v': '2' },
      });
    const listed = await until(accounts, (status) => status !== 404 && status < 500);
    expect('accounts', listed.status === 200, `HTTP ${listed.status} ${listed.text.slice(0, 300)}`);
    const ids = (JSON.parse(listed.text).data?.accounts ?? []).map((a: { accountId: string }) => a.accountId);
    expect('accounts', JSON.stringify(ids) === JSON.stringify(SMOKE_ACCOUNTS), `listed ${ids.join(', ')}`);
    pass(`GET ${ACCOUNTS_PATH} through the gateway: 200, only the consented account`);
    const revoked = await session.form('/arrangements/revoke', {
      cdr_arrangement_jwt: await signJwt({ cdr_arrangement_id: tokens.arrangementId }, {}, client.key),
    });
    expect(
      'revoke arrangement',
      revoked.status === 204,
      `HTTP ${revoked.status} ${revoked.text.slice(0, 300)}`,
    );
    const after = await until(accounts, (status) => status === 401);
    expect('revoked arrangement', after.status === 401, `the gateway still answers HTTP ${after.status}`);
    pass('arrangement revoked by the recipient: 204, then the gateway answers 401');
  } finally {
    await session.close();
  }
}

async function authorise(session: RecipientSession): Promise<{ code: string; verifier: string }> {
  const { identityServer } = session.target.manifest;
  const { client } = session;
  let pushed: Awaited<ReturnType<RecipientSession['pushAuthorization']>>;
  try {
    pushed = await session.pushAuthorization();
  } catch (error) {
    throw new SmokeFailure('PAR', (error as Error).message);
  }
  let redirect: URL;
  try {
    redirect = await walkSandboxConsent(session.send, pushed.authorizeUrl, {
      customer: SMOKE_CUSTOMER,
      accounts: SMOKE_ACCOUNTS,
      approve: true,
    });
  } catch (error) {
    throw new SmokeFailure('consent', (error as Error).message);
  }
  const response = redirect.searchParams.get('response');
  expect(
    'JARM',
    redirect.href.startsWith(client.redirectUri) && !!response,
    `redirected to ${redirect.origin}${redirect.pathname}`,
  );
  const jwks = JSON.parse(
    (await session.send('GET', `${identityServer.url}/oauth2/jwks`, { headers: {} })).text,
  );
  const { payload } = await jwtVerify(response!, createLocalJWKSet(jwks), {
    issuer: identityServer.issuer,
    audience: client.clientId,
  }).catch((error: Error) => {
    throw new SmokeFailure('JARM', `the authorisation response does not verify: ${error.message}`);
  });
  expect(
    'JARM',
    payload.state === pushed.state && typeof payload.code === 'string',
    `no code for our state (${String(payload.error ?? '')})`,
  );
  return { code: payload.code as string, verifier: pushed.verifier };
}

async function exchange(
  session: RecipientSession,
  code: string,
  verifier: string,
): Promise<{ accessToken: string; arrangementId: string }> {
  const response = await session.form('/oauth2/token', {
    grant_type: 'authorization_code',
    code,
    code_verifier: verifier,
    redirect_uri: session.client.redirectUri,
  });
  expect('token', response.status === 200, `HTTP ${response.status} ${response.text.slice(0, 300)}`);
  const body = JSON.parse(response.text) as { access_token: string; cdr_arrangement_id: string };
  expect('token', typeof body.cdr_arrangement_id === 'string', 'no cdr_arrangement_id in the token response');
  expect(
    'token',
    decodeJwt(body.access_token).cdr_arrangement_id === body.cdr_arrangement_id,
    'the access token does not carry the arrangement',
  );
  return { accessToken: body.access_token, arrangementId: body.cdr_arrangement_id };
}

/** Calls `call` until `done(status)` or PROPAGATION_MS; returns the last answer. */
async function until(
  call: () => ReturnType<HttpExchange>,
  done: (status: number) => boolean,
): ReturnType<HttpExchange> {
  const deadline = Date.now() + PROPAGATION_MS;
  for (;;) {
    const response = await call();
    if (done(response.status) || Date.now() > deadline) return response;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function expect(check: string, ok: boolean, detail: string): asserts ok {
  if (!ok) throw new SmokeFailure(check, detail);
}
