import 'reflect-metadata';
import { createHash, randomBytes, randomUUID, webcrypto, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import {
  base64url,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  SignJWT,
} from 'jose';
import { Agent, request } from 'undici';

/**
 * The Accredited Data Recipient of the conformance run, written from the rules and nothing else: its
 * keys, request JWTs, client assertions, transport certificates, and a client for the sandbox
 * Register's admin API. Built directly on jose, @peculiar/x509 and undici — it shares no helper with
 * the identity server or its tests, so a bug there cannot hide a bug here.
 */

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export type SigningAlg = 'PS256' | 'ES256';

export interface SigningKey {
  alg: SigningAlg;
  kid: string;
  privateKey: webcrypto.CryptoKey;
  /** The private key as a JWK: the same key re-used under another algorithm. */
  privateJwk: JWK;
  publicJwk: JWK;
}

export async function newSigningKey(alg: SigningAlg): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const exported = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(exported);
  return {
    alg,
    kid,
    privateKey,
    privateJwk: await exportJWK(privateKey),
    publicJwk: { ...exported, kid, alg, use: 'sig' },
  };
}

/** The metadata a conforming registration request carries, beside `iss`, `aud`, times and `jti`. */
export const REQUEST_METADATA = {
  token_endpoint_auth_method: 'private_key_jwt',
  token_endpoint_auth_signing_alg: 'PS256',
  grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
  response_types: ['code'],
  application_type: 'web',
  id_token_signed_response_alg: 'PS256',
  request_object_signing_alg: 'PS256',
  authorization_signed_response_alg: 'PS256',
} as const;

export interface RequestOptions {
  ssa: string;
  softwareId: string;
  audience: string;
  key: SigningKey;
  /** Claims replacing (or, as `undefined`, removing) the defaults. */
  claims?: Record<string, unknown>;
  /** Header parameters replacing the defaults (`alg`, `kid`, `typ`). */
  header?: Record<string, unknown>;
}

/** A registration request JWT: conforming by default, anything a case needs by override. */
export async function registrationRequest(options: RequestOptions): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    iss: options.softwareId,
    aud: options.audience,
    iat: now,
    exp: now + 300,
    jti: randomUUID(),
    ...REQUEST_METADATA,
    software_statement: options.ssa,
  };
  for (const [name, value] of Object.entries(options.claims ?? {})) {
    if (value === undefined) delete claims[name];
    else claims[name] = value;
  }
  return sign(
    claims,
    { alg: options.key.alg, kid: options.key.kid, typ: 'JWT', ...options.header },
    options.key,
  );
}

export async function sign(
  claims: Record<string, unknown>,
  header: Record<string, unknown>,
  key: SigningKey,
): Promise<string> {
  return new SignJWT(claims as JWTPayload).setProtectedHeader(header as { alg: string }).sign(key.privateKey);
}

/**
 * Signed with the recipient's own RSA key (published at its jwks_uri) under RS256, PKCS#1 v1.5, which
 * FAPI excludes: only the algorithm is wrong.
 */
export async function rs256Signed(claims: Record<string, unknown>, key: SigningKey): Promise<string> {
  const rsa = (await importJWK({ ...key.privateJwk, alg: 'RS256' }, 'RS256')) as webcrypto.CryptoKey;
  return sign(claims, { alg: 'RS256', kid: key.kid, typ: 'JWT' }, { ...key, privateKey: rsa });
}

/** HS256 keyed with the recipient's public JWK: the algorithm-confusion forgery anyone can make. */
export function hmacSigned(claims: Record<string, unknown>, key: SigningKey): Promise<string> {
  return new SignJWT(claims as JWTPayload)
    .setProtectedHeader({ alg: 'HS256', kid: key.kid, typ: 'JWT' })
    .sign(new TextEncoder().encode(JSON.stringify(key.publicJwk)));
}

/** An unsecured JWT (`alg: none`): jose refuses to make one, which is right; a Data Holder must refuse it too. */
export function unsecured(claims: Record<string, unknown>): string {
  const part = (value: unknown) => base64url.encode(JSON.stringify(value));
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
}

/** The JWT's claims, unverified (a case rewrites a conforming request). */
export function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'));
}

/** Flips bits of the signature: the JWT stays well formed and no longer verifies. */
export function tampered(jwt: string): string {
  const [header, payload, signature] = jwt.split('.');
  const bytes = Buffer.from(signature!, 'base64url');
  bytes[0] = bytes[0]! ^ 0xff;
  return `${header}.${payload}.${bytes.toString('base64url')}`;
}

/** A `private_key_jwt` client assertion (RFC 7523) for the token endpoint. */
export async function clientAssertion(clientId: string, audience: string, key: SigningKey): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return sign(
    { iss: clientId, sub: clientId, aud: audience, iat: now, exp: now + 120, jti: randomUUID() },
    { alg: key.alg, kid: key.kid, typ: 'JWT' },
    key,
  );
}

/** RFC 8705 `x5t#S256`: SHA-256 of the certificate's DER, base64url. */
export function certificateThumbprint(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('base64url');
}

export interface TransportCertificate {
  certificate: string;
  key: string;
}

const P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

/**
 * Transport certificates a case presents: from a CA of its own (untrusted), or from the CA whose key
 * the caller gives (the sandbox issuing CA), optionally expired or without the clientAuth usage.
 */
export async function issueTransportCertificate(options: {
  commonName: string;
  issuer?: { certificatePem: string; keyPem: string };
  expired?: boolean;
  usage?: 'clientAuth' | 'serverAuth';
}): Promise<TransportCertificate> {
  const keys = (await webcrypto.subtle.generateKey(P256, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const issuer = options.issuer ?? (await selfSignedCa(`obkit conformance untrusted CA ${randomHex()}`));
  const issuerCertificate = new x509.X509Certificate(issuer.certificatePem);
  const issuerKey = await importPkcs8(issuer.keyPem);
  const notBefore = new Date(Date.now() - (options.expired ? 30 * DAY : 60_000));
  const notAfter = new Date(options.expired ? Date.now() - DAY : Date.now() + DAY);
  const usage =
    options.usage === 'serverAuth' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth;
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomHex(),
    subject: `CN=${options.commonName}, O=obkit conformance`,
    issuer: issuerCertificate.subject,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: issuerKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([usage], false),
    ],
  });
  return {
    certificate: `${certificate.toString('pem')}\n${issuer.certificatePem.trim()}\n`,
    key: pkcs8Pem(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)),
  };
}

async function selfSignedCa(name: string): Promise<{ certificatePem: string; keyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(P256, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomHex(),
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + DAY),
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  return {
    certificatePem: certificate.toString('pem'),
    keyPem: pkcs8Pem(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)),
  };
}

async function importPkcs8(pem: string): Promise<webcrypto.CryptoKey> {
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s+/g, ''), 'base64');
  return webcrypto.subtle.importKey('pkcs8', der, P256, false, ['sign']);
}

function pkcs8Pem(der: ArrayBuffer): string {
  const base64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN PRIVATE KEY-----\n${base64.trim()}\n-----END PRIVATE KEY-----\n`;
}

export function randomHex(bytes = 8): string {
  return randomBytes(bytes).toString('hex');
}

/** What the Register holds for one conformance software product. */
export interface SoftwareProduct {
  softwareId: string;
  brandId: string;
  redirectUris: string[];
  /** A fresh SSA for it. */
  ssa(): Promise<string>;
}

/**
 * The sandbox Register's admin API (obkit's mock-register, or one the user runs): hosts a product's
 * JWKS, creates the product, issues SSAs (mutual TLS) and deactivates the product afterwards.
 */
export class SandboxRegister {
  readonly #url: string;
  readonly #agent: Agent;
  readonly #authorization: string;

  constructor(options: {
    url: string;
    ca: string | undefined;
    transport: TransportCertificate;
    admin: { username: string; password: string };
  }) {
    this.#url = options.url.replace(/\/+$/, '');
    this.#agent = new Agent({
      connect: {
        ...(options.ca ? { ca: options.ca } : {}),
        cert: options.transport.certificate,
        key: options.transport.key,
        timeout: 10_000,
      },
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    this.#authorization = `Basic ${Buffer.from(`${options.admin.username}:${options.admin.password}`).toString('base64')}`;
  }

  async createProduct(options: {
    keys: SigningKey[];
    redirectUris?: (site: string) => string[];
  }): Promise<SoftwareProduct> {
    const softwareId = `obkit-conformance-${randomHex(6)}`;
    const brandId = 'obkit-conformance-brand';
    const site = `https://${softwareId}.recipient.obkit.example`;
    const redirectUris = options.redirectUris?.(site) ?? [`${site}/callback`, `${site}/callback-2`];
    await this.#admin('PUT', `/admin/recipient-jwks/${softwareId}`, {
      keys: options.keys.map((key) => key.publicJwk),
    });
    await this.#admin('PUT', `/admin/software-products/${softwareId}`, {
      brandId,
      industry: 'banking',
      metadata: {
        org_id: 'obkit-conformance-org',
        org_name: 'obkit conformance recipient',
        client_name: `obkit conformance ${softwareId}`,
        client_description: 'Software product created by obkit conformance dcr',
        client_uri: site,
        redirect_uris: redirectUris,
        logo_uri: `${site}/logo.png`,
        tos_uri: `${site}/tos`,
        policy_uri: `${site}/policy`,
        jwks_uri: `${this.#url}/cdr-register/v1/recipient-jwks/${softwareId}`,
        revocation_uri: `${site}/revoke`,
        recipient_base_uri: site,
        scope: 'openid profile bank:accounts.basic:read bank:transactions:read cdr:registration',
      },
    });
    const ssaPath = `/cdr-register/v1/banking/data-recipients/brands/${brandId}/software-products/${softwareId}/ssa`;
    return {
      softwareId,
      brandId,
      redirectUris,
      ssa: async () => (await this.#call('GET', ssaPath, { accept: 'application/jwt' })).trim(),
    };
  }

  async deactivate(product: SoftwareProduct): Promise<void> {
    await this.#admin('PUT', `/admin/software-products/${product.softwareId}/status`, { status: 'INACTIVE' });
  }

  close(): Promise<void> {
    return this.#agent.close();
  }

  #admin(method: 'PUT', path: string, body: unknown): Promise<string> {
    return this.#call(
      method,
      path,
      { authorization: this.#authorization, 'content-type': 'application/json' },
      JSON.stringify(body),
    );
  }

  async #call(
    method: 'GET' | 'PUT',
    path: string,
    headers: Record<string, string>,
    body: string | null = null,
  ): Promise<string> {
    const response = await request(`${this.#url}${path}`, {
      method,
      headers,
      body,
      dispatcher: this.#agent,
    });
    const text = await response.body.text();
    if (response.statusCode >= 300)
      throw new Error(
        `the sandbox Register answered ${method} ${path} with HTTP ${response.statusCode}: ${text}`,
      );
    return text;
  }
}
