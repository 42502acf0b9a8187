import { constants, createPrivateKey } from 'node:crypto';
import type { SecureContextOptions } from 'node:tls';

/**
 * The CDS / FAPI 1.0 TLS profile of every obkit listener: TLS 1.3 (OpenSSL's suites), or TLS 1.2 with
 * only these four suites; no renegotiation. Every TLS server in obkit is created with these options
 * (lib/http/service.ts); any new listener must use them too.
 */
export const FAPI_TLS12_CIPHERS = [
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
] as const;

/** Smallest RSA modulus accepted for a server key. */
export const MIN_RSA_BITS = 2048;

export const SERVER_TLS_PROFILE = {
  minVersion: 'TLSv1.2',
  // TLS 1.2 names only: OpenSSL keeps its default TLS 1.3 suites, all of which the profile allows.
  ciphers: FAPI_TLS12_CIPHERS.join(':'),
  honorCipherOrder: true,
  // The DHE suites need DH parameters: OpenSSL's built-in RFC 7919 groups sized to the server key.
  dhparam: 'auto',
  // Refuses client-initiated renegotiation outright (Node would otherwise allow a few per window).
  secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
} as const satisfies SecureContextOptions;

/**
 * Why a server private key cannot serve the profile's TLS 1.2 suites (they are all RSA-authenticated),
 * or undefined when it can. An EC key still serves TLS 1.3, but a TLS 1.2 client offering only the
 * FAPI suites would find no suite in common.
 */
export function serverKeyProblem(keyPem: string | Buffer): string | undefined {
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(keyPem);
  } catch (error) {
    return `not a readable private key (${(error as Error).message})`;
  }
  const type = key.asymmetricKeyType;
  if (type !== 'rsa') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    return `an ${type?.toUpperCase()}${curve ? ` (${curve})` : ''} key cannot serve the FAPI TLS 1.2 suites (${FAPI_TLS12_CIPHERS.join(', ')}): use an RSA key of at least ${MIN_RSA_BITS} bits`;
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) return `an RSA key of ${bits} bits is too small: at least ${MIN_RSA_BITS} bits`;
  return undefined;
}
