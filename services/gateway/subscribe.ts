import { AccessDenied, TooManyRequests } from '../../lib/http/errors.ts';
import type { PlanLimits } from './rate-limit.ts';
import type { Route } from './router.ts';
import { applicationKeyOf, type Endpoint, type Runtime } from './runtime.ts';
import type { ValidatedToken } from './tokens.ts';

/**
 * Pipeline step 4: the subscription check and its business-plan limit; returns the endpoint for the
 * token's key type.
 */
export function subscribe(
  current: Runtime,
  matched: Route,
  token: ValidatedToken,
  limiter: PlanLimits,
): Endpoint | null {
  const { api } = matched;
  const application = current.applicationsByKey.get(applicationKeyOf(token.keyManager.name, token.clientId));
  const subscription = application?.subscriptions.get(api.api.apiId);
  if (application && subscription) {
    const blocked =
      subscription.status === 'BLOCKED' ||
      (subscription.status === 'PROD_ONLY_BLOCKED' && application.keyType === 'PRODUCTION');
    if (blocked) throw new AccessDenied(`the subscription to ${api.api.name} is blocked`);
    const quota = current.plans.get(subscription.throttlingPolicy);
    if (quota) {
      const retryAfter = limiter.take(`${application.applicationId}:${api.api.apiId}`, quota);
      if (retryAfter) throw new TooManyRequests(retryAfter);
    }
    return application.keyType === 'SANDBOX' ? api.sandbox : api.production;
  }
  // Out-of-band provisioned clients (CDR DCR) reach the regulatory APIs without a subscription.
  if (token.keyManager.enableMapOAuthConsumerApps && current.regulatoryApis.has(api.api.name)) {
    return api.production;
  }
  throw new AccessDenied(`the client is not subscribed to ${api.api.name}`);
}
