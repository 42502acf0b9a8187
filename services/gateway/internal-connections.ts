import { existsSync, readFileSync } from 'node:fs';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { Agent, request } from 'undici';
import type { Config } from '../../lib/config/index.ts';
import {
  PLAN_USAGE_PATH,
  type PlanUsageAnswer,
  type PlanUsageReport,
  planUsageAnswerSchema,
} from '../../lib/gateway-feed/plan-usage.ts';

export interface InternalConnections {
  /** The gateway's internal client certificate and the CAs it trusts, for backends and key managers. */
  tls: { secureContext: SecureContext };
  /** Feed, key managers (JWKS, introspection, revocations) and plan usage, within the key-manager time-out. */
  agent: Agent;
}

/** The gateway's side of the internal mutual TLS (its `CN=obkit-gateway` certificate). */
export function internalConnections(ob: Config['obkit'], timeoutMs: number): InternalConnections {
  const ca = [...rootCertificates];
  for (const file of [ob.tls.outbound_ca, ob.tls.internal_ca]) {
    if (file && existsSync(file)) ca.push(readFileSync(file, 'utf8'));
  }
  // One TLS context for every internal connection: parsing the CA list per connection costs milliseconds.
  const tls = {
    secureContext: createSecureContext({
      cert: readFileSync(ob.tls.internal_client_certificate, 'utf8'),
      key: readFileSync(ob.tls.internal_client_key, 'utf8'),
      ca,
    }),
  };
  const agent = new Agent({
    connect: { ...tls, timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  return { tls, agent };
}

/** One usage report to api-manager over the gateway's internal connection (lib/gateway-feed/plan-usage.ts). */
export async function reportPlanUsage(
  apiManagerUrl: string,
  dispatcher: Agent,
  report: PlanUsageReport,
): Promise<PlanUsageAnswer> {
  const response = await request(`${apiManagerUrl}${PLAN_USAGE_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(report),
    dispatcher,
  });
  const text = await response.body.text();
  if (response.statusCode !== 200) throw new Error(`api-manager answered ${response.statusCode}`);
  return planUsageAnswerSchema.parse(JSON.parse(text));
}
