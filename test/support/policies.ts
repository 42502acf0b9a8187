import type {
  Policies,
  PolicyResource,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from '@pulumi/policy';
import { parseAllDocuments } from 'yaml';
import { type KubeObject, nameOf, pulumiTypeOf } from '../../policies/kube.ts';
import { obkitPolicies } from '../../policies/policies.ts';

/**
 * Runs the policy rules the way the Pulumi CLI would, without the CLI: each resource rule once per
 * resource with the engine's args shape, each stack rule once over all resources, config defaults from
 * the rule's configSchema merged under the given config (the CLI does that, the SDK does not).
 */

export interface Violation {
  policy: string;
  message: string;
  urn?: string;
}

export interface RunOptions {
  /** Policy config shared by every rule (e.g. `{ environment: 'production' }`). */
  config?: Record<string, unknown>;
  stackTags?: Record<string, string>;
  policies?: Policies;
}

/** A resource as the engine presents it: type token, props (the object), urn and name. */
export interface Resource {
  type: string;
  props: KubeObject;
  urn: string;
  name: string;
}

class NotApplicable extends Error {}

/** A Kubernetes object (e.g. a `helm template` document) as the Pulumi resource it would become. */
export function resourceFromObject(object: KubeObject): Resource {
  const type = pulumiTypeOf(String(object.apiVersion), String(object.kind));
  const name = nameOf(object, 'unnamed');
  return { type, props: object, name, urn: `urn:pulumi:test::obkit::${type}::${name}` };
}

/** Every object of a multi-document YAML text (helm template output, fixtures). */
export function objectsFromYaml(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((document) => {
      if (document.errors.length > 0) throw document.errors[0];
      return document.toJS() as KubeObject | null;
    })
    .filter(
      (object): object is KubeObject => object !== null && typeof object === 'object' && 'kind' in object,
    );
}

function configFor(
  policy: ResourceValidationPolicy | StackValidationPolicy,
  config: Record<string, unknown>,
) {
  const defaults: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(policy.configSchema?.properties ?? {})) {
    if (schema.default !== undefined) defaults[key] = schema.default;
  }
  const known = Object.keys(policy.configSchema?.properties ?? {});
  const given = Object.fromEntries(Object.entries(config).filter(([key]) => known.includes(key)));
  return { ...defaults, ...given };
}

const notApplicable = (reason?: string): never => {
  throw new NotApplicable(reason);
};

export async function runPolicies(resources: Resource[], options: RunOptions = {}): Promise<Violation[]> {
  const violations: Violation[] = [];
  const stackTags: ReadonlyMap<string, string> = new Map(Object.entries(options.stackTags ?? {}));
  for (const policy of options.policies ?? obkitPolicies) {
    const config = configFor(policy, options.config ?? {});
    const getConfig = <T extends object>() => config as T;
    const report = (urn?: string) => (message: string, violationUrn?: string) => {
      violations.push({ policy: policy.name, message, urn: violationUrn ?? urn });
    };
    try {
      if ('validateStack' in policy) {
        const args: StackValidationArgs = {
          resources: resources.map(policyResource),
          stackTags,
          getConfig,
          notApplicable,
        };
        await policy.validateStack(args, report());
        continue;
      }
      const validations = [policy.validateResource ?? []].flat();
      for (const resource of resources) {
        const args = resourceArgs(resource, stackTags, getConfig);
        try {
          for (const validate of validations) await validate(args, report(resource.urn));
        } catch (error) {
          if (!(error instanceof NotApplicable)) throw error;
        }
      }
    } catch (error) {
      if (!(error instanceof NotApplicable)) throw error;
    }
  }
  return violations;
}

const options = {
  protect: false,
  ignoreChanges: [],
  aliases: [],
  customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
  additionalSecretOutputs: [],
};

// The obkit rules compare type tokens; isType/asType (class-based) are given the engine's semantics.
function isTypeOf(type: string, resourceClass: unknown): boolean {
  return (resourceClass as { __pulumiType?: string }).__pulumiType === type;
}

function asTypeOf(resource: Resource) {
  return ((resourceClass: unknown) =>
    isTypeOf(resource.type, resourceClass) ? resource.props : undefined) as ResourceValidationArgs['asType'] &
    PolicyResource['asType'];
}

function resourceArgs(
  resource: Resource,
  stackTags: ReadonlyMap<string, string>,
  getConfig: <T extends object>() => T,
): ResourceValidationArgs {
  return {
    ...resource,
    opts: options,
    stackTags,
    getConfig,
    notApplicable,
    isType: (resourceClass) => isTypeOf(resource.type, resourceClass),
    asType: asTypeOf(resource),
  };
}

function policyResource(resource: Resource): PolicyResource {
  return {
    ...resource,
    opts: options,
    dependencies: [],
    propertyDependencies: {},
    isType: (resourceClass) => isTypeOf(resource.type, resourceClass),
    asType: asTypeOf(resource),
  };
}

/** Names of the policies that reported at least one violation. */
export function violatedPolicies(violations: Violation[]): string[] {
  return [...new Set(violations.map((violation) => violation.policy))].sort();
}
