import { createHmac, timingSafeEqual } from 'node:crypto';
import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';
import {
  SANDBOX_CUSTOMERS,
  type SandboxCustomer,
  sandboxCustomer,
} from '../../../lib/cdr/sandbox-customers.ts';
import { ArrangementNotFound, type ArrangementStore } from '../arrangements/store.ts';
import { sharingDurationOf } from '../oauth/cdr-request-parameters.ts';
import { dataClustersOf } from './data-clusters.ts';
import { errorPage } from './html.ts';
import { consentPage, loginPage } from './pages.ts';

/** A one-off consent's grant: the code is exchanged and its access token used within this time. */
const ONE_OFF_GRANT_SECONDS = 3600;

/** Where oidc-provider sends the browser for an interaction (`/consent/<uid>`). */
export const CONSENT_PATH = '/consent';

export interface ConsentRouteOptions {
  /** The provider serving now (it is rebuilt when keys or scopes change). */
  provider(): Provider;
  arrangements: ArrangementStore;
  /** Keys the one-time codes are derived with (the provider's cookie keys). */
  codeKey: string;
  logger: Logger;
}

interface Details {
  uid: string;
  prompt: { name: string; details: Record<string, unknown> };
  params: Record<string, unknown>;
  session?: { accountId?: string };
}

/**
 * The sandbox consent journey, on oidc-provider's interactions: the tester logs in as a test customer
 * with the one-time code the page shows (a stand-in for the bank's real authentication), then picks
 * accounts, reads the data clusters and sharing period asked for, and approves or denies. Approval stores
 * the grant and the CDR arrangement; the provider then answers the recipient (JARM).
 */
export function consentRoutes(options: ConsentRouteOptions) {
  const journey = new ConsentJourney(options);
  return async function registerConsentRoutes(app: FastifyInstance): Promise<void> {
    await app.register(formbody);

    app.get<{ Params: { uid: string } }>(`${CONSENT_PATH}/:uid`, async (request, reply) => {
      const details = await journey.interactionOf(request, reply);
      if (!details) return reply;
      if (details.prompt.name === 'login') return sendPage(reply, 200, journey.loginView(details));
      return sendPage(reply, 200, await journey.consentView(details));
    });

    app.post<{ Params: { uid: string }; Body: { customer?: string; code?: string } }>(
      `${CONSENT_PATH}/:uid/login`,
      async (request, reply) => {
        const details = await journey.interactionOf(request, reply);
        if (!details) return reply;
        if (details.prompt.name !== 'login') return sendPage(reply, 200, await journey.consentView(details));
        const customer = sandboxCustomer(String(request.body?.customer ?? ''));
        if (!customer || !sameCode(String(request.body?.code ?? ''), journey.oneTimeCode(details.uid))) {
          return sendPage(
            reply,
            400,
            journey.loginView(
              details,
              'Choose a test customer and enter the one-time code shown on this page.',
            ),
          );
        }
        reply.hijack();
        await options
          .provider()
          .interactionFinished(request.raw, reply.raw, { login: { accountId: customer.customerId } });
      },
    );

    app.post<{ Params: { uid: string }; Body: ConfirmBody }>(
      `${CONSENT_PATH}/:uid/confirm`,
      async (request, reply) => {
        const details = await journey.interactionOf(request, reply);
        if (!details) return reply;
        if (details.prompt.name !== 'consent') return sendPage(reply, 200, journey.loginView(details));
        return journey.confirm(details, request.body, request, reply);
      },
    );
  };
}

interface ConfirmBody {
  decision?: string;
  accounts?: string | string[];
}

/** What an interaction is finished with: a login or consent result, or an error for the recipient. */
type InteractionResult = Parameters<Provider['interactionFinished']>[2];

/** The journey's pages, its one-time codes, and the grant and arrangement an approval records. */
class ConsentJourney {
  readonly #options: ConsentRouteOptions;

  constructor(options: ConsentRouteOptions) {
    this.#options = options;
  }

  /** Approve (the chosen accounts, at least one) or decline; the provider then answers the recipient. */
  async confirm(
    details: Details,
    body: ConfirmBody | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<FastifyReply | undefined> {
    const provider = this.#options.provider();
    const finish = async (result: InteractionResult, merge?: { mergeWithLastSubmission: boolean }) => {
      reply.hijack();
      await provider.interactionFinished(request.raw, reply.raw, result, merge);
      return undefined;
    };
    if (body?.decision !== 'approve') {
      return finish({
        error: 'access_denied',
        error_description: 'the customer declined to share their data',
      });
    }
    const customer = sandboxCustomer(details.session?.accountId ?? '')!;
    const chosen = [body?.accounts ?? []].flat();
    const accountIds = customer.accounts
      .map((account) => account.accountId)
      .filter((id) => chosen.includes(id));
    if (accountIds.length === 0) {
      return sendPage(reply, 400, await this.consentView(details, 'Choose at least one account to share.'));
    }
    const sharingDuration = sharingDurationOf(details.params.sharing_duration as string | undefined);
    const grantId = await this.saveGrant(provider, details, customer.customerId, sharingDuration);
    try {
      const { replacedGrantId } = await this.#options.arrangements.record({
        clientId: String(details.params.client_id),
        customerId: customer.customerId,
        grantId,
        accountIds,
        scope: String(details.params.scope ?? ''),
        sharingDuration,
        amends: details.params.cdr_arrangement_id as string | undefined,
      });
      if (replacedGrantId) await this.endGrant(provider, replacedGrantId);
    } catch (error) {
      if (!(error instanceof ArrangementNotFound)) throw error;
      return finish({
        error: 'invalid_request',
        error_description: 'the arrangement to amend is not an active arrangement of this customer',
      });
    }
    return finish({ consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  /** The interaction named in the path, or an error page when it is unknown, expired or not this browser's. */
  async interactionOf(
    request: FastifyRequest<{ Params: { uid: string } }>,
    reply: FastifyReply,
  ): Promise<Details | undefined> {
    let details: Details;
    try {
      details = (await this.#options
        .provider()
        .interactionDetails(request.raw, reply.raw)) as unknown as Details;
    } catch {
      sendPage(
        reply,
        400,
        errorPage('expired', 'this consent request has expired or was not started in this browser'),
      );
      return undefined;
    }
    if (details.uid !== request.params.uid) {
      sendPage(reply, 400, errorPage('invalid_request', 'this consent request is not the one in progress'));
      return undefined;
    }
    return details;
  }

  loginView(details: Details, problem?: string): string {
    return loginPage({
      action: `${CONSENT_PATH}/${details.uid}/login`,
      customers: SANDBOX_CUSTOMERS,
      code: this.oneTimeCode(details.uid),
      problem,
    });
  }

  async consentView(details: Details, problem?: string): Promise<string> {
    const customer = sandboxCustomer(details.session?.accountId ?? '') as SandboxCustomer;
    const client = await this.#options.provider().Client.find(String(details.params.client_id));
    const scopes = String(details.params.scope ?? '').split(' ');
    return consentPage({
      action: `${CONSENT_PATH}/${details.uid}/confirm`,
      recipient: String(client?.clientName ?? client?.metadata().org_name ?? details.params.client_id),
      customer,
      clusters: dataClustersOf(scopes),
      sharingDuration: sharingDurationOf(details.params.sharing_duration as string | undefined),
      amending: details.params.cdr_arrangement_id !== undefined,
      problem,
    });
  }

  /**
   * The grant the tokens are issued from: what the provider found missing (OpenID scopes and claims, the
   * data API's scopes), all of it requested by the recipient and now consented to.
   */
  async saveGrant(
    provider: Provider,
    details: Details,
    accountId: string,
    sharingDuration: number,
  ): Promise<string> {
    const grant = new provider.Grant({ accountId, clientId: String(details.params.client_id) });
    const missing = details.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(resource, scopes.join(' '));
    }
    // It lives for the sharing period, or just long enough to collect the data once.
    // A token's `expiresIn` (base_token.js) overrides ttl.Grant; the typings do not list it.
    Object.assign(grant, { expiresIn: sharingDuration > 0 ? sharingDuration : ONE_OFF_GRANT_SECONDS });
    return grant.save();
  }

  /** An amended arrangement's previous grant: gone, with the refresh tokens issued from it. */
  async endGrant(provider: Provider, grantId: string): Promise<void> {
    const grant = await provider.Grant.find(grantId);
    await grant?.destroy();
    await Promise.all(
      [provider.RefreshToken, provider.AuthorizationCode].map((model) => model.revokeByGrantId(grantId)),
    );
    this.#options.logger.info({ grantId }, 'amended arrangement: previous grant ended');
  }

  oneTimeCode(uid: string): string {
    const digest = createHmac('sha256', this.#options.codeKey).update(`consent-login:${uid}`).digest();
    return String(digest.readUInt32BE(0) % 1_000_000).padStart(6, '0');
  }
}

function sameCode(given: string, expected: string): boolean {
  const a = Buffer.from(given.trim());
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function sendPage(reply: FastifyReply, status: number, body: string): FastifyReply {
  return (
    reply
      .status(status)
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      // No form-action: Chrome applies it to the redirect back to the recipient after the last form.
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
      .header('x-frame-options', 'DENY')
      .send(body)
  );
}
