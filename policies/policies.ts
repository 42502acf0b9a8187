import type { Policies } from '@pulumi/policy';
import { credentialsInSecrets } from './rules/credentials-in-secrets.ts';
import { imagesPinned } from './rules/images-pinned.ts';
import { networkPolicyPerComponent } from './rules/network-policy-per-component.ts';
import { noPrivilegeEscalation } from './rules/no-privilege-escalation.ts';
import { onlyGatewayExposed } from './rules/only-gateway-exposed.ts';
import { pdbForReplicatedWorkloads } from './rules/pdb-for-replicated-workloads.ts';
import { productionGatewayReplicas } from './rules/production-gateway-replicas.ts';
import { productionNoMockRegister } from './rules/production-no-mock-register.ts';
import { productionNoPrivateAddresses } from './rules/production-no-private-addresses.ts';
import { productionNoSandboxCa } from './rules/production-no-sandbox-ca.ts';
import { resourcesSet } from './rules/resources-set.ts';
import { runAsNonRoot } from './rules/run-as-non-root.ts';

/** Every obkit rule. Tests import this list; only index.ts serves it (constructing the pack starts gRPC). */
export const obkitPolicies: Policies = [
  runAsNonRoot,
  noPrivilegeEscalation,
  resourcesSet,
  imagesPinned,
  credentialsInSecrets,
  onlyGatewayExposed,
  networkPolicyPerComponent,
  pdbForReplicatedWorkloads,
  productionNoMockRegister,
  productionNoSandboxCa,
  productionNoPrivateAddresses,
  productionGatewayReplicas,
];
