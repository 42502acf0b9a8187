import { randomUUID, type X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { InvalidField, InvalidHeader, Unauthorized } from '../../lib/http/errors.ts';
import { ARRANGEMENT_HEADER, isGatewayConnection } from '../../lib/http/forwarded-certificate.ts';
import { accountsOf, bankingAccountV2, bankingBalance, coveredAccount } from './accounts.ts';
import type { ArrangementClient, ArrangementGrant } from './arrangement-client.ts';
import { paginate } from './pagination.ts';
import { negotiateVersion } from './versions.ts';

/** Where the gateway reaches the API: the CDS base path, kept whole so paths read as the standard's. */
export const BANKING_BASE_PATH = '/cds-au/v1/banking';
const ACCOUNTS_SCOPE = 'bank:accounts.basic:read';
/** Versions served per endpoint (CDS: Get Accounts v2, Get Account Balance v1). */
const VERSIONS = { accounts: [2], balance: [1] } as const;
const INTERACTION_ID = 'x-fapi-interaction-id';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const OPEN_STATUSES = new Set(['OPEN', 'CLOSED', 'ALL']);
const PRODUCT_CATEGORIES = new Set([
  'BUSINESS_LOANS',
  'CRED_AND_CHRG_CARDS',
  'LEASES',
  'MARGIN_LOANS',
  'OVERDRAFTS',
  'PERS_LOANS',
  'REGULATED_TRUST_ACCOUNTS',
  'RESIDENTIAL_MORTGAGES',
  'TERM_DEPOSITS',
  'TRADE_FINANCE',
  'TRANS_AND_SAVINGS_ACCOUNTS',
  'TRAVEL_CARDS',
]);

export interface BankingRouteOptions {
  arrangements: ArrangementClient;
  /** The internal CA: the gateway's certificate chains to it. */
  internalCas: () => readonly X509Certificate[];
  /** Base of `links` when the gateway named no host (never in practice). */
  publicUrl: string;
}

type Query = Record<string, string | undefined>;

/**
 * The sandbox CDS Banking subset. Every request: an `x-fapi-interaction-id` echoed (or generated), the
 * gateway's connection required (only it vouches for the arrangement header, which it sets from the
 * access token it validated), the arrangement read from the identity server, the version negotiated.
 */
export async function bankingRoutes(app: FastifyInstance, options: BankingRouteOptions): Promise<void> {
  app.addHook('onRequest', async (request, reply) => {
    const given = request.headers[INTERACTION_ID];
    const valid = typeof given === 'string' && UUID.test(given);
    reply.header(INTERACTION_ID, valid ? given : randomUUID());
    if (given !== undefined && !valid) throw new InvalidHeader(`${INTERACTION_ID} must be a UUID`);
  });

  const grantOf = async (request: FastifyRequest): Promise<ArrangementGrant> => {
    if (!isGatewayConnection(request.raw.socket as TLSSocket, options.internalCas())) {
      throw new Unauthorized('the banking API is served through the gateway only');
    }
    const arrangementId = request.headers[ARRANGEMENT_HEADER];
    if (typeof arrangementId !== 'string' || !arrangementId) {
      throw new Unauthorized('the access token carries no CDR arrangement');
    }
    const grant = await options.arrangements.grant(arrangementId);
    if (!grant.scopes.has(ACCOUNTS_SCOPE)) {
      throw new Unauthorized(`the arrangement does not include ${ACCOUNTS_SCOPE}`);
    }
    return grant;
  };
  const selfOf = (request: FastifyRequest) => {
    const host = request.headers['x-forwarded-host'];
    return new URL(request.url, typeof host === 'string' && host ? `https://${host}` : options.publicUrl);
  };

  app.get<{ Querystring: Query }>(`${BANKING_BASE_PATH}/accounts`, async (request, reply) => {
    const version = negotiateVersion(request.headers, VERSIONS.accounts);
    const query = request.query;
    const openStatus = query['open-status'] ?? 'ALL';
    if (!OPEN_STATUSES.has(openStatus)) throw new InvalidField('open-status must be OPEN, CLOSED or ALL');
    const category = query['product-category'];
    if (category !== undefined && !PRODUCT_CATEGORIES.has(category)) {
      throw new InvalidField(`product-category ${category} is not a CDS product category`);
    }
    if (query['is-owned'] !== undefined && !['true', 'false'].includes(query['is-owned'])) {
      throw new InvalidField('is-owned must be true or false');
    }
    const grant = await grantOf(request);
    // Every sandbox account is owned by its customer: is-owned=false lists none.
    const accounts = accountsOf(grant).filter(
      (account) =>
        (openStatus === 'ALL' || account.openStatus === openStatus) &&
        (category === undefined || account.productCategory === category) &&
        query['is-owned'] !== 'false',
    );
    const page = paginate(accounts, query, selfOf(request));
    reply.header('x-v', String(version));
    return { data: { accounts: page.items.map(bankingAccountV2) }, links: page.links, meta: page.meta };
  });

  app.get<{ Params: { accountId: string } }>(
    `${BANKING_BASE_PATH}/accounts/:accountId/balance`,
    async (request, reply) => {
      const version = negotiateVersion(request.headers, VERSIONS.balance);
      const account = coveredAccount(await grantOf(request), request.params.accountId);
      reply.header('x-v', String(version));
      return { data: bankingBalance(account), links: { self: selfOf(request).toString() }, meta: {} };
    },
  );
}
