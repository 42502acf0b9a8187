import { compactVerify, errors } from 'jose';
import { InvalidClientMetadata } from '../../../lib/http/errors.ts';
import type { RegistrationContext } from './context.ts';
import { KeySetUnavailable } from './key-set-cache.ts';
import { SIGNING_ALGORITHMS } from './registration-rules.ts';

/**
 * The request JWT's signature authenticates the recipient: it must verify with a key published at the
 * SSA's `jwks_uri` (the Register vouches for that URL). The keys are fetched under the SSRF policy;
 * an unknown `kid` causes one refetch. Claims are checked afterwards, by `checkRequestClaims`.
 */
export async function verifyRequestSignature(context: RegistrationContext): Promise<void> {
  const jwksUri = context.ssa.jwks_uri as string;
  try {
    await compactVerify(context.jwt, context.runtime.recipientKeys.resolver(jwksUri), {
      algorithms: [...SIGNING_ALGORITHMS],
    });
  } catch (error) {
    if (error instanceof KeySetUnavailable) {
      throw new InvalidClientMetadata(`the recipient's jwks_uri could not be used: ${error.message}`);
    }
    if (error instanceof errors.JWKSNoMatchingKey) {
      throw new InvalidClientMetadata(`no key at the software statement's jwks_uri matches the request JWT`);
    }
    if (error instanceof errors.JWSSignatureVerificationFailed) {
      throw new InvalidClientMetadata('the registration request JWT signature is invalid');
    }
    throw new InvalidClientMetadata(
      `the registration request JWT cannot be verified: ${(error as Error).message}`,
    );
  }
}
