import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { SANDBOX_CUSTOMERS, sandboxCustomer } from '../../../lib/cdr/sandbox-customers.ts';
import type { Database } from '../../../lib/storage/index.ts';
import type { RecipientNotifier } from '../arrangements/notify-recipient.ts';
import { revokeArrangement } from '../arrangements/revoke.ts';
import type { ArrangementStore } from '../arrangements/store.ts';
import type { RevocationStore } from '../revocation/store.ts';
import { errorPage } from './html.ts';
import { dashboardPage, loginPage } from './pages.ts';
import { CONSENT_PATH, sendPage } from './routes.ts';

/** The sandbox customer's dashboard of active arrangements. */
export const DASHBOARD_PATH = `${CONSENT_PATH}/dashboard`;
const LOGIN_COOKIE = 'obkit_dashboard_login';
const SESSION_COOKIE = 'obkit_dashboard';
const SESSION_SECONDS = 900;

export interface DashboardOptions {
  db: Database;
  arrangements: ArrangementStore;
  revocations: RevocationStore;
  notifier: RecipientNotifier;
  /** Key of the one-time codes, sessions and form tokens (the consent pages' key). */
  codeKey: string;
  logger: Logger;
}

/**
 * Customer-initiated revocation (sandbox): the tester logs in as a test customer with the one-time code
 * the page shows (as on the consent page), sees that customer's active arrangements and stops one. The
 * arrangement ends as a recipient's revocation ends it (every token, here and at every gateway) and the
 * recipient is notified at its `revocation_uri` (notify-recipient.ts). Sessions are HMAC-signed cookies
 * (15 minutes, HttpOnly, SameSite=Strict); each revoke form carries a token bound to the session.
 */
export async function dashboardRoutes(app: FastifyInstance, options: DashboardOptions): Promise<void> {
  await app.register(formbody);
  const sessions = new DashboardSessions(options.codeKey);
  const showLogin = (reply: FastifyReply, status: number, problem?: string) =>
    sessions.showLogin(reply, status, problem);
  const sessionOf = (request: FastifyRequest) => sessions.sessionOf(request);

  app.get<{ Querystring: { revoked?: string } }>(DASHBOARD_PATH, async (request, reply) => {
    const session = sessionOf(request);
    if (!session) return showLogin(reply, 200);
    const notice = request.query.revoked
      ? `Sharing stopped (arrangement ${request.query.revoked}).`
      : undefined;
    const arrangements = await options.arrangements.activeOf(session.customerId);
    const names = await clientNames(
      options.db,
      arrangements.map((a) => a.clientId),
    );
    return sendPage(
      reply,
      200,
      dashboardPage({
        customer: sandboxCustomer(session.customerId)!,
        arrangements: arrangements.map((a) => ({
          ...a,
          accounts: a.accountIds,
          recipient: names.get(a.clientId) ?? a.clientId,
        })),
        revokeAction: `${DASHBOARD_PATH}/revoke`,
        csrf: sessions.csrf(session.value),
        notice,
      }),
    );
  });

  app.post<{ Body: { customer?: string; code?: string } }>(
    `${DASHBOARD_PATH}/login`,
    async (request, reply) => {
      const nonce = cookiesOf(request).get(LOGIN_COOKIE);
      const customer = sandboxCustomer(String(request.body?.customer ?? ''));
      if (!nonce || !customer || !same(String(request.body?.code ?? '').trim(), sessions.loginCode(nonce))) {
        return showLogin(
          reply,
          400,
          'Choose a test customer and enter the one-time code shown on this page.',
        );
      }
      reply.header('set-cookie', [sessions.sessionCookie(customer.customerId), cookie(LOGIN_COOKIE, '', 0)]);
      return reply.redirect(DASHBOARD_PATH, 303);
    },
  );

  app.post<{ Body: { arrangement_id?: string; csrf?: string } }>(
    `${DASHBOARD_PATH}/revoke`,
    async (request, reply) => {
      const session = sessionOf(request);
      if (!session) return showLogin(reply, 401, 'Your session has ended: log in again.');
      if (!same(String(request.body?.csrf ?? ''), sessions.csrf(session.value))) {
        return sendPage(
          reply,
          403,
          errorPage('invalid_request', 'this form does not belong to your session'),
        );
      }
      const arrangementId = String(request.body?.arrangement_id ?? '');
      const revoked = await revokeArrangement(options.revocations, arrangementId, {
        customerId: session.customerId,
      });
      if (!revoked) {
        return sendPage(reply, 404, errorPage('invalid_request', 'you have no such active arrangement'));
      }
      options.logger.info(
        { arrangementId, clientId: revoked.clientId },
        'arrangement revoked by the customer',
      );
      await options.notifier.arrangementRevoked(revoked.clientId, arrangementId);
      return reply.redirect(`${DASHBOARD_PATH}?${new URLSearchParams({ revoked: arrangementId })}`, 303);
    },
  );
}

/** The dashboard's login codes, signed session cookies and session-bound form tokens (HMAC, one key). */
class DashboardSessions {
  readonly #key: string;

  constructor(key: string) {
    this.#key = key;
  }

  #mac(purpose: string, value: string): string {
    return createHmac('sha256', this.#key).update(`${purpose}:${value}`).digest('base64url');
  }

  loginCode(nonce: string): string {
    const digest = Buffer.from(this.#mac('dashboard-login', nonce), 'base64url');
    return String(digest.readUInt32BE(0) % 1_000_000).padStart(6, '0');
  }

  csrf(session: string): string {
    return this.#mac('dashboard-csrf', session);
  }

  /** The login page, with a fresh nonce cookie its one-time code is derived from. */
  showLogin(reply: FastifyReply, status: number, problem?: string): FastifyReply {
    const nonce = randomBytes(16).toString('base64url');
    reply.header('set-cookie', cookie(LOGIN_COOKIE, nonce, 600));
    const body = loginPage({
      action: `${DASHBOARD_PATH}/login`,
      customers: SANDBOX_CUSTOMERS,
      code: this.loginCode(nonce),
      problem,
    });
    return sendPage(reply, status, body);
  }

  sessionCookie(customerId: string): string {
    const expires = Math.floor(Date.now() / 1000) + SESSION_SECONDS;
    const value = `${customerId}.${expires}`;
    return cookie(SESSION_COOKIE, `${value}.${this.#mac('dashboard-session', value)}`, SESSION_SECONDS);
  }

  /** The customer of a valid, unexpired session cookie. */
  sessionOf(request: FastifyRequest): { customerId: string; value: string } | undefined {
    const value = cookiesOf(request).get(SESSION_COOKIE);
    const [customerId, expires, signature] = value?.split('.') ?? [];
    if (!value || !customerId || !expires || !signature) return undefined;
    if (!same(signature, this.#mac('dashboard-session', `${customerId}.${expires}`))) return undefined;
    if (Number(expires) * 1000 < Date.now() || !sandboxCustomer(customerId)) return undefined;
    return { customerId, value };
  }
}

async function clientNames(db: Database, clientIds: string[]): Promise<Map<string, string>> {
  if (clientIds.length === 0) return new Map();
  const { rows } = await db.query<{ client_id: string; name: string | null }>(
    `SELECT client_id, COALESCE(metadata->>'client_name', registration->>'org_name') AS name
       FROM clients WHERE client_id = ANY($1::text[])`,
    [clientIds],
  );
  return new Map(rows.flatMap((row) => (row.name ? [[row.client_id, row.name] as const] : [])));
}

function cookie(name: string, value: string, maxAgeSeconds: number): string {
  return `${name}=${value}; Path=${DASHBOARD_PATH}; Max-Age=${maxAgeSeconds}; HttpOnly; Secure; SameSite=Strict`;
}

function cookiesOf(request: FastifyRequest): Map<string, string> {
  const header = request.headers.cookie ?? '';
  return new Map(
    header
      .split(';')
      .map((part) => part.trim().split('='))
      .filter((pair): pair is [string, string] => pair.length === 2 && pair[0] !== ''),
  );
}

function same(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
