/**
 * The parts of WSO2 API Manager's management REST contract that both sides speak: api-manager serves
 * them and the scripts' API client (and the tests) call them. One definition, so a scope or a base path
 * can never drift between the server and its callers.
 */

/** The `apim:*` scopes of the management REST APIs (what a management token asks for and is granted). */
export const MANAGEMENT_SCOPES = [
  'apim:api_view',
  'apim:api_create',
  'apim:api_publish',
  'apim:api_delete',
  'apim:mediation_policy_create',
  'apim:mediation_policy_view',
  'apim:common_operation_policy_view',
  'apim:subscribe',
  'apim:app_manage',
  'apim:sub_manage',
  'apim:admin',
  'apim:tier_view',
  'apim:tier_manage',
] as const;
export type ManagementScope = (typeof MANAGEMENT_SCOPES)[number];

/** Base paths of the REST API versions of WSO2 API Manager 4.x that obkit speaks. */
export const PUBLISHER_API = '/api/am/publisher/v4';
export const ADMIN_API = '/api/am/admin/v4';
export const DEVPORTAL_API = '/api/am/devportal/v3';

/**
 * The names of the APIs obkit publishes: the scripts publish them under these names, and api-manager's
 * default `open_banking.gateway.regulatory_apis` lists them (a CDR client reaches them with its tokens
 * alone, no subscription).
 */
export const DCR_API_NAME = 'CDRDynamicClientRegistrationAPI';
export const BANKING_API_NAME = 'CDSBankingAPI';
