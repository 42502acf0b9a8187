import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { clientCertificateVerdict } from '../../lib/http/client-certificate.ts';
import { InvalidField, ResourceNotFound, Unauthorized } from '../../lib/http/errors.ts';
import type { AdminLockout } from '../../lib/limits/admin-lockout.ts';
import { adminGuard } from './admin-auth.ts';
import { renderRegisterError } from './errors.ts';
import { publicJwksSchema, type RecipientJwks } from './recipient-jwks.ts';
import type { RegisterSigningKeys } from './signing-keys.ts';
import {
  identifier,
  productInputSchema,
  type SoftwareProducts,
  statusChangeSchema,
} from './software-products.ts';
import { issueSoftwareStatement } from './software-statement.ts';
import { statusRoutes } from './status-routes.ts';

export interface RegisterRouteDependencies {
  keys: RegisterSigningKeys;
  products: SoftwareProducts;
  recipientJwks: RecipientJwks;
  admin: { username: string; password: string };
  adminLockout: AdminLockout;
}

const INDUSTRIES = ['banking', 'energy', 'telco', 'all'];

/**
 * The sandbox Register's HTTP surface, in its own fastify scope so its errors render in the CDR
 * Register's `{"errors":[…]}` shape.
 *
 * Public (as the CDR Register): `GET /cdr-register/v1/jwks`; the SSA endpoint, which here requires
 * mutual TLS with a certificate from the sandbox truststore (the real Register requires an access
 * token obtained with the recipient's certificate — the certificate is what identifies the caller
 * in both); the data-recipient and software-product status lists Data Holders poll (status-routes.ts);
 * hosted recipient JWKS and sector identifier documents for tests and the smoke test.
 * Admin (Basic): software products, their statuses, hosted recipient JWKS and key rotation.
 */
export async function registerRoutes(app: FastifyInstance, deps: RegisterRouteDependencies): Promise<void> {
  app.setErrorHandler(renderRegisterError);
  publicRoutes(app, deps);
  statusRoutes(app, deps.products);
  await app.register(async (admin) => adminRoutes(admin, deps));
}

/** What the CDR Register publishes: its JWKS, SSAs, and (sandbox only) hosted recipient documents. */
function publicRoutes(app: FastifyInstance, deps: RegisterRouteDependencies): void {
  app.get('/cdr-register/v1/jwks', async () => deps.keys.publishedJwks());

  app.get<{ Params: { industry: string; brandId: string; softwareProductId: string } }>(
    '/cdr-register/v1/:industry/data-recipients/brands/:brandId/software-products/:softwareProductId/ssa',
    async (request, reply) => {
      requireClientCertificate(request);
      const { industry, brandId, softwareProductId } = request.params;
      if (!INDUSTRIES.includes(industry)) throw new InvalidField(`Invalid industry: ${industry}`);
      const product = await deps.products.get(softwareProductId);
      const industryMatches =
        industry === 'all' || product?.industry === 'all' || product?.industry === industry;
      if (!product || product.brandId !== brandId || !industryMatches) {
        throw new ResourceNotFound(
          `No software product ${softwareProductId} for brand ${brandId} in ${industry}`,
        );
      }
      reply.type('application/jwt');
      return issueSoftwareStatement(product, deps.keys);
    },
  );

  app.get<{ Params: { softwareProductId: string } }>(
    '/cdr-register/v1/recipient-jwks/:softwareProductId',
    async (request) => {
      const jwks = await deps.recipientJwks.get(request.params.softwareProductId);
      if (!jwks) throw new ResourceNotFound(`No JWKS hosted for ${request.params.softwareProductId}`);
      return jwks;
    },
  );

  app.get<{ Params: { softwareProductId: string } }>(
    '/cdr-register/v1/sector-identifiers/:softwareProductId',
    async (request) => {
      const product = await deps.products.get(request.params.softwareProductId);
      if (!product) throw new ResourceNotFound(`No software product ${request.params.softwareProductId}`);
      return product.metadata.redirect_uris;
    },
  );
}

/** Admin (Basic): software products, their statuses, hosted recipient JWKS and key rotation. */
function adminRoutes(admin: FastifyInstance, deps: RegisterRouteDependencies): void {
  admin.addHook('onRequest', adminGuard(deps.admin, deps.adminLockout));

  admin.get('/admin/software-products', async () => ({ data: await deps.products.list() }));

  admin.put<{ Params: { softwareProductId: string } }>(
    '/admin/software-products/:softwareProductId',
    async (request, reply) => {
      const id = pathIdentifier(request.params.softwareProductId);
      const { product, outcome } = await deps.products.put(id, productInputSchema.parse(request.body));
      reply.code(outcome === 'created' ? 201 : 200).header('x-obkit-outcome', outcome);
      return product;
    },
  );

  admin.get<{ Params: { softwareProductId: string } }>(
    '/admin/software-products/:softwareProductId',
    async (request) => {
      const product = await deps.products.get(request.params.softwareProductId);
      if (!product) throw new ResourceNotFound(`No software product ${request.params.softwareProductId}`);
      return product;
    },
  );

  admin.put<{ Params: { softwareProductId: string } }>(
    '/admin/software-products/:softwareProductId/status',
    async (request) => {
      const change = statusChangeSchema.parse(request.body);
      const product = await deps.products.setStatus(request.params.softwareProductId, change);
      if (!product) throw new ResourceNotFound(`No software product ${request.params.softwareProductId}`);
      return product;
    },
  );

  admin.put<{ Params: { softwareProductId: string } }>(
    '/admin/recipient-jwks/:softwareProductId',
    async (request, reply) => {
      const id = pathIdentifier(request.params.softwareProductId);
      const outcome = await deps.recipientJwks.put(id, publicJwksSchema.parse(request.body));
      reply.code(outcome === 'created' ? 201 : 200).header('x-obkit-outcome', outcome);
      return { softwareProductId: id, outcome };
    },
  );

  admin.post('/admin/signing-keys/rotate', async () => {
    const kid = await deps.keys.rotate();
    const published = (await deps.keys.publishedJwks()).keys.map((key) => key.kid);
    return { kid, published };
  });
}

function pathIdentifier(value: string): string {
  const parsed = identifier.safeParse(value);
  if (!parsed.success)
    throw new InvalidField(`Invalid identifier ${value}: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** The SSA endpoint's caller authentication: a client certificate meeting the shared rules against the truststore. */
function requireClientCertificate(request: FastifyRequest): void {
  const verdict = clientCertificateVerdict(request.raw.socket as TLSSocket);
  if (verdict.kind !== 'accepted') {
    throw new Unauthorized(
      `the SSA endpoint requires mutual TLS with a client certificate issued by a CA in the Register truststore${verdict.kind === 'refused' ? `: ${verdict.reason}` : ''}`,
    );
  }
}
