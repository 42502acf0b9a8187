import { PolicyPack } from '@pulumi/policy';
import { obkitPolicies } from './policies.ts';

// The pack entry point: `pulumi preview --policy-pack policies`. Constructing a PolicyPack starts the
// analyzer's gRPC server, so nothing but the Pulumi CLI may import this file.
new PolicyPack('obkit', {
  description: 'obkit: hardened pods, gateway-only exposure, credentials in Secrets, production safeguards.',
  enforcementLevel: 'mandatory',
  policies: obkitPolicies,
});
