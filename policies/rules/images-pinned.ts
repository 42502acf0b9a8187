import type { ResourceValidationPolicy } from '@pulumi/policy';
import { containersOf, kindOf, podTemplateOf } from '../kube.ts';

/** Why an image reference is not reproducible, or undefined when it is pinned by tag or digest. */
export function unpinnedReason(image: unknown): string | undefined {
  if (typeof image !== 'string' || image === '') return 'has no image';
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return undefined;
  // The tag follows the last ':' after the last '/', so a registry port (host:5000/app) is not a tag.
  const lastPart = image.slice(image.lastIndexOf('/') + 1);
  const separator = lastPart.lastIndexOf(':');
  if (separator === -1) return `image '${image}' has no tag (resolves to latest)`;
  const tag = lastPart.slice(separator + 1);
  if (tag === '' || tag === 'latest') return `image '${image}' uses the moving tag 'latest'`;
  return undefined;
}

/** Every image is pinned to a tag other than `latest`, or to a digest, so a deployment is reproducible. */
export const imagesPinned: ResourceValidationPolicy = {
  name: 'images-pinned',
  description: "Container images must be pinned to a tag other than 'latest' or to a sha256 digest.",
  enforcementLevel: 'mandatory',
  validateResource: (args, reportViolation) => {
    const template = podTemplateOf(kindOf(args.type), args.props);
    if (!template) return;
    for (const container of containersOf(template.spec)) {
      const reason = unpinnedReason(container.image);
      if (reason) reportViolation(`container '${container.name}': ${reason}.`);
    }
  },
};
