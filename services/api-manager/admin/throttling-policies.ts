import type { SubscriptionPolicy } from '../../../lib/gateway-feed/snapshot.ts';

/**
 * WSO2's default subscription tiers (business plans), with WSO2's default limits. They are fixed:
 * obkit does not offer creating tiers.
 */
export const SUBSCRIPTION_POLICIES: readonly (SubscriptionPolicy & {
  displayName: string;
  description: string;
})[] = [
  {
    name: 'Unlimited',
    displayName: 'Unlimited',
    description: 'Allows unlimited requests',
    requestCount: null,
    unitTime: 1,
    timeUnit: 'min',
  },
  {
    name: 'Gold',
    displayName: 'Gold',
    description: 'Allows 5000 requests per minute',
    requestCount: 5000,
    unitTime: 1,
    timeUnit: 'min',
  },
  {
    name: 'Silver',
    displayName: 'Silver',
    description: 'Allows 2000 requests per minute',
    requestCount: 2000,
    unitTime: 1,
    timeUnit: 'min',
  },
  {
    name: 'Bronze',
    displayName: 'Bronze',
    description: 'Allows 1000 requests per minute',
    requestCount: 1000,
    unitTime: 1,
    timeUnit: 'min',
  },
];

export function isSubscriptionPolicy(name: string): boolean {
  return SUBSCRIPTION_POLICIES.some((policy) => policy.name === name);
}

/**
 * Operation-level and API-level (advanced) throttling: only Unlimited is offered, and anything else is
 * refused rather than accepted and not enforced.
 */
export const UNLIMITED = 'Unlimited';

/** The admin v4 SubscriptionThrottlePolicyDTO of a tier. */
export function subscriptionPolicyDto(policy: (typeof SUBSCRIPTION_POLICIES)[number]) {
  return {
    policyId: policy.name.toLowerCase(),
    policyName: policy.name,
    displayName: policy.displayName,
    description: policy.description,
    isDeployed: true,
    type: 'SubscriptionThrottlePolicy',
    defaultLimit:
      policy.requestCount === null
        ? {
            type: 'REQUESTCOUNTLIMIT',
            requestCount: { timeUnit: policy.timeUnit, unitTime: policy.unitTime, requestCount: 2147483647 },
          }
        : {
            type: 'REQUESTCOUNTLIMIT',
            requestCount: {
              timeUnit: policy.timeUnit,
              unitTime: policy.unitTime,
              requestCount: policy.requestCount,
            },
          },
    rateLimitCount: 0,
    rateLimitTimeUnit: null,
    billingPlan: 'FREE',
    stopOnQuotaReach: true,
    customAttributes: [],
    subscriberCount: 0,
    permissions: null,
  };
}
