import { randomUUID } from 'node:crypto';
import type { SoftwareProduct } from '../../lib/cdr/register-client.ts';
import {
  REGISTER_ISSUER,
  SOFTWARE_ROLE,
  type SoftwareStatementClaims,
  SSA_LIFETIME_SECONDS,
} from '../../lib/cdr/software-statement.ts';
import { AdrStatusNotActive } from '../../lib/http/errors.ts';
import type { RegisterSigningKeys } from './signing-keys.ts';

/** Refuses an SSA unless data recipient, brand and software product are all ACTIVE, as the Register does. */
export function assertProductActive(product: SoftwareProduct): void {
  if (product.dataRecipientStatus !== 'ACTIVE') {
    throw new AdrStatusNotActive(`Data recipient status is ${product.dataRecipientStatus}`);
  }
  if (product.brandStatus !== 'ACTIVE')
    throw new AdrStatusNotActive(`Brand status is ${product.brandStatus}`);
  if (product.status !== 'ACTIVE')
    throw new AdrStatusNotActive(`Software product status is ${product.status}`);
}

/** The claims of a sandbox SSA for the product: its metadata plus the Register's own claims. */
export function softwareStatementClaims(product: SoftwareProduct, now: number): SoftwareStatementClaims {
  return {
    iss: REGISTER_ISSUER,
    iat: now,
    exp: now + SSA_LIFETIME_SECONDS,
    jti: randomUUID(),
    ...product.metadata,
    software_id: product.softwareProductId,
    software_roles: SOFTWARE_ROLE,
    software_environment: 'sandbox',
  };
}

export async function issueSoftwareStatement(
  product: SoftwareProduct,
  keys: RegisterSigningKeys,
  now = Math.floor(Date.now() / 1000),
): Promise<string> {
  assertProductActive(product);
  return keys.sign({ ...softwareStatementClaims(product, now) });
}
