import { readFileSync } from 'node:fs';
import type { FastifyInstance, onRequestAsyncHookHandler } from 'fastify';
import { type SchemaTypedApp, schemaTyped } from '../../../lib/http/route-schemas.ts';
import { DEVPORTAL_API } from '../../../lib/wso2/management-api.ts';
import { requireScope } from '../auth/require-scope.ts';
import type { ApiManagerContext } from '../context.ts';
import { applicationRoutes } from './application-routes.ts';
import { ApplicationStore } from './applications.ts';
import { KeyManagerConnector } from './key-generation.ts';
import { keyListRoutes, keyRoutes } from './key-routes.ts';
import { subscriptionRoutes } from './subscription-routes.ts';

/** What every devportal resource's routes share. */
export interface Devportal {
  app: SchemaTypedApp;
  context: ApiManagerContext;
  applications: ApplicationStore;
  manageApps: onRequestAsyncHookHandler;
}

/** Devportal v3 (minimal): applications, subscriptions and key generation through a key manager. */
export function registerDevportalRoutes(app: FastifyInstance, context: ApiManagerContext): void {
  const outboundCa = context.config.obkit.tls.outbound_ca;
  const connector = new KeyManagerConnector({
    extraCa: outboundCa ? readFileSync(outboundCa, 'utf8') : undefined,
    timeoutMs: context.config.open_banking.dcr.jwks_retriever.read_timeout,
  });
  app.addHook('onClose', () => connector.close());
  app.register(
    async (scope) => {
      const devportal: Devportal = {
        app: schemaTyped(scope),
        context,
        applications: new ApplicationStore(context.db),
        manageApps: requireScope(context.tokens, 'apim:app_manage', 'apim:subscribe'),
      };
      applicationRoutes(devportal);
      keyRoutes(devportal, connector);
      keyListRoutes(devportal);
      subscriptionRoutes(devportal);
    },
    { prefix: DEVPORTAL_API },
  );
}
