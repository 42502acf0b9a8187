import type { ResourceValidationPolicy } from '@pulumi/policy';
import { environmentConfigSchema, environmentOf, PRODUCTION_HINT } from '../environment.ts';
import { COMPONENT_LABEL, containersOf, kindOf, labelsOf, nameOf, podTemplateOf } from '../kube.ts';
import { obkitChartValues } from '../obkit-config.ts';

const MOCK_REGISTER = 'mock-register';

/**
 * A production Data Holder trusts only the real CDR Register: the mock-register signs software
 * statements with keys anyone with the sandbox can use, so it must not exist in a production stack.
 */
export const productionNoMockRegister: ResourceValidationPolicy = {
  name: 'production-no-mock-register',
  description: 'Production stacks must not deploy the mock CDR Register.',
  enforcementLevel: 'mandatory',
  configSchema: environmentConfigSchema,
  validateResource: (args, reportViolation) => {
    if (environmentOf(args) !== 'production') args.notApplicable('not a production stack');
    const values = obkitChartValues(args.type, args.props);
    if (values?.mockRegister?.enabled === true) {
      reportViolation(`the obkit chart enables mockRegister ${PRODUCTION_HINT}.`);
    }
    const kind = kindOf(args.type);
    if (!kind) return;
    const name = nameOf(args.props, args.name);
    const template = podTemplateOf(kind, args.props);
    const component = labelsOf(args.props)[COMPONENT_LABEL] ?? template?.labels[COMPONENT_LABEL];
    if (component === MOCK_REGISTER || name.includes(MOCK_REGISTER)) {
      reportViolation(`${kind} '${name}' belongs to the mock-register ${PRODUCTION_HINT}.`);
      return;
    }
    for (const container of template ? containersOf(template.spec) : []) {
      const commandLine = [...(container.command ?? []), ...(container.args ?? [])].join(' ');
      if (commandLine.includes(`services/${MOCK_REGISTER}/`)) {
        reportViolation(
          `container '${container.name}' of ${kind} '${name}' runs the mock-register ${PRODUCTION_HINT}.`,
        );
      }
    }
  },
};
