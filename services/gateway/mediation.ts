import type { CompiledStep } from './runtime.ts';
import type { SecretVault } from './vault.ts';

/** Header map of the message being mediated: lower-case names, as Node and undici give them. */
export type Headers = Record<string, string | string[] | undefined>;

/**
 * Runs compiled Synapse `header`/`property` steps in order over one message. `transport` scope acts on
 * the message's HTTP headers; `default` scope on message-context properties, which start with
 * `api.ut.consumerKey` and `api.ut.userName` from the validated token; `wso2:vault-lookup` reads the
 * gateway's secret store (vault.ts). An expression that yields
 * nothing (e.g. `api.ut.consumerKey` on an unsecured operation) removes the header rather than sending
 * an empty or client-supplied one.
 */
export function mediate(
  steps: readonly CompiledStep[],
  headers: Headers,
  properties: Map<string, string>,
  vault: SecretVault,
): void {
  for (const { step, expression, header } of steps) {
    const transport = step.scope === 'transport';
    if (step.action === 'remove') {
      if (transport) delete headers[header];
      else properties.delete(step.name);
      continue;
    }
    let value: string | undefined;
    if (step.value !== undefined) value = step.value;
    else if (expression?.type === 'literal') value = expression.value;
    else if (expression?.type === 'property') value = properties.get(expression.name);
    else if (expression?.type === 'transportHeader') {
      const current = headers[expression.name.toLowerCase()];
      value = Array.isArray(current) ? current.join(', ') : current;
    } else if (expression?.type === 'vaultLookup') value = vault.lookup(expression.alias);
    if (transport) {
      if (value === undefined) delete headers[header];
      else headers[header] = value;
    } else if (value === undefined) properties.delete(step.name);
    else properties.set(step.name, value);
  }
}
