/**
 * Scopes this Data Holder serves (Consumer Data Standards banking + common, OpenID, registration).
 * An SSA may list more (energy, telco…): those are dropped silently, never rejected (cdr-dcr-rules.md).
 */
export const SUPPORTED_SCOPES: ReadonlySet<string> = new Set([
  'openid',
  'profile',
  'cdr:registration',
  'bank:accounts.basic:read',
  'bank:accounts.detail:read',
  'bank:transactions:read',
  'bank:payees:read',
  'bank:regular_payments:read',
  'common:customer.basic:read',
  'common:customer.detail:read',
]);

export function supportedScopes(scope: string): string {
  return [...new Set(scope.split(' '))].filter((value) => SUPPORTED_SCOPES.has(value)).join(' ');
}
