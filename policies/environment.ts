import type { PolicyConfigSchema } from '@pulumi/policy';

/**
 * Which environment a stack is, for the production-only rules. In order: the rule's policy config
 * `environment` (`pulumi preview --policy-pack policies --policy-pack-config policies/config/<env>.json`),
 * then the stack tag `obkit:environment`, and otherwise production: a stack that forgot to say what it is
 * gets the strict rules, and the violation says how to mark a sandbox.
 */

export type Environment = 'sandbox' | 'production';

export const ENVIRONMENT_TAG = 'obkit:environment';

export const environmentConfigSchema: PolicyConfigSchema = {
  properties: {
    environment: {
      type: 'string',
      enum: ['sandbox', 'production'],
      description: `Environment of the stack; when unset, the stack tag ${ENVIRONMENT_TAG}, else production.`,
    },
  },
};

interface EnvironmentArgs {
  getConfig<T extends object>(): T;
  stackTags: ReadonlyMap<string, string>;
}

export function environmentOf(args: EnvironmentArgs): Environment {
  const configured = args.getConfig<{ environment?: string }>().environment;
  const tagged = args.stackTags.get(ENVIRONMENT_TAG);
  const value = configured ?? tagged;
  return value === 'sandbox' ? 'sandbox' : 'production';
}

/** Appended to production-only violations so a mislabelled sandbox stack knows what to do. */
export const PRODUCTION_HINT =
  `(production rule; for a sandbox stack set policy config environment=sandbox or the stack tag ` +
  `${ENVIRONMENT_TAG}=sandbox)`;
