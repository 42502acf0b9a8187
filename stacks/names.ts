/**
 * Names the stack, the chart and the Jobs agree on. The chart is installed with fullnameOverride
 * "obkit", so its Services are "obkit-<component>" (charts/obkit/templates/_helpers.tpl). The components
 * and their ports are lib/config/components.ts.
 */

import { COMPONENT_KEYS, COMPONENTS, type ComponentKey } from '../lib/config/components.ts';

export const FULLNAME = 'obkit';

export function serviceName(component: ComponentKey): string {
  return `${FULLNAME}-${COMPONENTS[component].name}`;
}

/**
 * The in-cluster URL of a component as the Jobs (same namespace) reach it: the short Service name, the
 * same URL the chart writes into the services' TOML, so issuer and audience values agree.
 */
export function inClusterUrl(component: ComponentKey): string {
  return `https://${serviceName(component)}:${COMPONENTS[component].port}`;
}

/** Every DNS name a pod may use for a component's Service, for the server certificate's SANs. */
export function serviceDnsNames(namespace: string): string[] {
  return COMPONENT_KEYS.flatMap((component) => {
    const service = serviceName(component);
    return [
      service,
      `${service}.${namespace}`,
      `${service}.${namespace}.svc`,
      `${service}.${namespace}.svc.cluster.local`,
    ];
  });
}

/** Secrets the stack creates and the chart and Jobs reference by name (never by value). */
export const SECRETS = {
  serverTls: `${FULLNAME}-server-tls`,
  truststore: `${FULLNAME}-truststore`,
  serverCa: `${FULLNAME}-server-ca`,
  internalCa: `${FULLNAME}-internal-ca`,
  gatewayInternalClient: `${FULLNAME}-gateway-internal-client`,
  bankingInternalClient: `${FULLNAME}-banking-internal-client`,
  smokeClient: `${FULLNAME}-smoke-client`,
  admin: `${FULLNAME}-admin`,
  encryption: `${FULLNAME}-encryption`,
  dcrBackend: `${FULLNAME}-dcr-backend`,
  database: `${FULLNAME}-database`,
  databaseOwner: `${FULLNAME}-database-owner`,
} as const;

/** Recommended labels for objects of a component (the chart uses the same keys). */
export function componentLabels(component: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': FULLNAME,
    'app.kubernetes.io/instance': FULLNAME,
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/part-of': 'obkit',
    'app.kubernetes.io/managed-by': 'pulumi',
  };
}

/** Label the policy pack reads to tell generated sandbox PKI from supplied PKI (one definition). */
export { PKI_ORIGIN_LABEL } from '../policies/rules/production-no-sandbox-ca.ts';
