import { constants, createPrivateKey, createPublicKey, type KeyObject, sign } from 'node:crypto';
import type { JWK } from 'jose';
import { ExternalSigningKey } from 'oidc-provider';

/**
 * A signing key of ours handed to oidc-provider as an `ExternalSigningKey`: imported into a KeyObject
 * once, when the provider is built, and used with Node's one-shot `crypto.sign` on the thread pool.
 *
 * Given a private JWK, oidc-provider signs through jose and WebCrypto: a JOSE header and key
 * preparation, algorithm normalisation and a WebCrypto job for every token. The signature is the same
 * (RSASSA-PSS SHA-256 with a 32-byte salt for PS256; P-256 SHA-256 as r‖s for ES256); the provider
 * still builds the header and payload, and publishes the public key from `keyObject()`.
 */
export class LocalSigningKey extends ExternalSigningKey {
  readonly #kid: string;
  readonly #alg: 'PS256' | 'ES256';
  readonly #privateKey: KeyObject;
  readonly #publicKey: KeyObject;
  readonly #options: Parameters<typeof sign>[2];

  constructor(jwk: JWK) {
    super();
    const alg = jwk.alg;
    if (alg !== 'PS256' && alg !== 'ES256') throw new Error(`unsupported signing alg ${alg}`);
    this.#kid = jwk.kid!;
    this.#alg = alg as 'PS256' | 'ES256';
    this.#privateKey = createPrivateKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
    this.#publicKey = createPublicKey(this.#privateKey);
    this.#options =
      alg === 'PS256'
        ? { key: this.#privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }
        : { key: this.#privateKey, dsaEncoding: 'ieee-p1363' };
  }

  override get kid(): string {
    return this.#kid;
  }

  override get alg(): string {
    return this.#alg;
  }

  override keyObject(): KeyObject {
    return this.#publicKey;
  }

  override sign(data: Uint8Array): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      sign('sha256', data, this.#options, (error, signature) => (error ? reject(error) : resolve(signature)));
    });
  }
}
