import type { ResourceValidationPolicy } from '@pulumi/policy';
import { environmentConfigSchema, environmentOf, PRODUCTION_HINT } from '../environment.ts';
import { containersOf, kindOf, nameOf, podTemplateOf } from '../kube.ts';
import { obkitChartValues, obkitTomlDocuments } from '../obkit-config.ts';

const ENV_OVERRIDE = 'OBKIT__OBKIT__ALLOW_PRIVATE_ADDRESSES';

/**
 * In production obkit never fetches JWKS or sector-identifier documents from loopback or private
 * addresses: a recipient-supplied URL must not reach into the cluster network (SSRF). The allowance
 * exists only so a sandbox can reach an in-cluster mock-register.
 */
export const productionNoPrivateAddresses: ResourceValidationPolicy = {
  name: 'production-no-private-addresses',
  description: 'Production stacks must not set allow_private_addresses = true.',
  enforcementLevel: 'mandatory',
  configSchema: environmentConfigSchema,
  validateResource: (args, reportViolation) => {
    if (environmentOf(args) !== 'production') args.notApplicable('not a production stack');
    if (obkitChartValues(args.type, args.props)?.config?.allowPrivateAddresses === true) {
      reportViolation(`the obkit chart sets config.allowPrivateAddresses ${PRODUCTION_HINT}.`);
    }
    const kind = kindOf(args.type);
    const name = nameOf(args.props, args.name);
    for (const document of obkitTomlDocuments(kind, args.props)) {
      if (document.obkit.allow_private_addresses === true) {
        reportViolation(
          `ConfigMap '${name}' (${document.key}) sets allow_private_addresses = true ${PRODUCTION_HINT}.`,
        );
      }
    }
    const template = podTemplateOf(kind, args.props);
    for (const container of template ? containersOf(template.spec) : []) {
      const env: Array<{ name?: string; value?: unknown }> = container.env ?? [];
      if (
        env.some(
          (variable) => variable.name === ENV_OVERRIDE && String(variable.value).toLowerCase() === 'true',
        )
      ) {
        reportViolation(`container '${container.name}' sets ${ENV_OVERRIDE}=true ${PRODUCTION_HINT}.`);
      }
    }
  },
};
