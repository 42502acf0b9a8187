import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { RecipientKeys } from './recipient.ts';
import { signJwt } from './recipient.ts';

/**
 * A recipient's side of the CDR authorisation flow against an obkit sandbox: PKCE, a signed request
 * object for PAR, and a walk through the sandbox consent pages with plain HTTP form posts (what a
 * browser does, without one). Shared by the smoke test and the tests.
 */

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export interface RequestObjectOptions {
  clientId: string;
  /** The Data Holder's issuer. */
  audience: string;
  key: RecipientKeys;
  redirectUri: string;
  scope: string;
  /** Seconds; 0 for a one-off consent. */
  sharingDuration: number;
}

/** A CDR request object: code + JARM, PKCE S256, 5 minutes; with the PKCE verifier and the state. */
export async function buildRequestObject(
  options: RequestObjectOptions,
): Promise<{ jwt: string; verifier: string; state: string }> {
  const { verifier, challenge } = pkce();
  const now = Math.floor(Date.now() / 1000);
  const state = randomUUID();
  const jwt = await signJwt(
    {
      iss: options.clientId,
      aud: options.audience,
      client_id: options.clientId,
      response_type: 'code',
      response_mode: 'jwt',
      redirect_uri: options.redirectUri,
      scope: options.scope,
      state,
      nonce: randomUUID(),
      code_challenge: challenge,
      code_challenge_method: 'S256',
      sharing_duration: options.sharingDuration,
      nbf: now,
      iat: now,
      exp: now + 300,
      jti: randomUUID(),
    },
    {},
    options.key,
  );
  return { jwt, verifier, state };
}

/** An HTTP exchange as the consent walk needs it: no redirect followed, every `set-cookie` line kept. */
export type HttpExchange = (
  method: 'GET' | 'POST',
  url: string,
  init: { headers: Record<string, string>; body?: string },
) => Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }>;

/** Cookies by name, as a browser would send them back to this one server (paths ignored: names differ). */
export class CookieJar {
  readonly #cookies = new Map<string, string>();

  take(headers: Record<string, string | string[] | undefined>): void {
    for (const line of [headers['set-cookie'] ?? []].flat()) {
      const [pair, ...attributes] = line.split(';');
      const [name, ...value] = pair!.split('=');
      const expired = attributes.some((attribute) => /expires=Thu, 01 Jan 1970/i.test(attribute));
      if (expired) this.#cookies.delete(name!.trim());
      else this.#cookies.set(name!.trim(), value.join('='));
    }
  }

  header(): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

export interface ConsentDecision {
  customer: string;
  accounts: string[];
  approve: boolean;
}

/**
 * Follows the browser's path from `/oauth2/authorize…` (`start`, absolute) to the redirect back to the
 * recipient: logs in as `customer` with the one-time code the login page shows, then approves sharing
 * `accounts` (or denies). Returns the final redirect's URL.
 */
export async function walkSandboxConsent(
  send: HttpExchange,
  start: string,
  decision: ConsentDecision,
): Promise<URL> {
  const jar = new CookieJar();
  const exchange = async (method: 'GET' | 'POST', url: URL | string, form?: URLSearchParams) => {
    const headers: Record<string, string> = { cookie: jar.header() };
    if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const response = await send(method, String(url), { headers, ...(form ? { body: form.toString() } : {}) });
    jar.take(response.headers);
    return response;
  };
  const locationOf = (response: Awaited<ReturnType<HttpExchange>>, base: URL | string) => {
    if (response.status !== 303 && response.status !== 302) {
      throw new Error(`expected a redirect, got ${response.status}: ${response.text.slice(0, 300)}`);
    }
    return new URL(String(response.headers.location), base);
  };

  let consent = locationOf(await exchange('GET', start), start);
  const loginPage = await exchange('GET', consent);
  const code = /data-testid="one-time-code">(\d{6})</.exec(loginPage.text)?.[1];
  if (!code) throw new Error(`no one-time code on the login page: ${loginPage.text.slice(0, 300)}`);
  const loginUrl = new URL(`${consent.pathname}/login`, consent);
  const loggedIn = locationOf(
    await exchange('POST', loginUrl, new URLSearchParams({ customer: decision.customer, code })),
    consent,
  );
  consent = locationOf(await exchange('GET', loggedIn), loggedIn);
  const form = new URLSearchParams({ decision: decision.approve ? 'approve' : 'deny' });
  for (const account of decision.accounts) form.append('accounts', account);
  const confirmed = locationOf(
    await exchange('POST', new URL(`${consent.pathname}/confirm`, consent), form),
    consent,
  );
  return locationOf(await exchange('GET', confirmed), confirmed);
}
