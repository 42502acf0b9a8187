import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  AccessDenied,
  InvalidClientMetadata,
  InvalidRedirectUri,
  NotFound,
} from '../../../lib/http/errors.ts';
import type { SecretBox } from '../../../lib/secrets/index.ts';
import { type Database, isUniqueViolation } from '../../../lib/storage/index.ts';
import { type AdminCredential, AdminCredentialRequired } from '../admin/credential.ts';
import { GRANT_TYPES } from '../oauth/provider.ts';
import { clientRevocation, type RevocationStore } from '../revocation/store.ts';

/**
 * `/keymanager-operations/dcr/register`: OAuth applications for the API manager's key-manager connector,
 * in WSO2 IS's shapes. Applications authenticate at the token endpoint with client_secret_basic (only
 * these applications have a shared secret; CDR registrations use private_key_jwt). Admin Basic required.
 * The secret is stored encrypted, not hashed: WSO2's GET of an application returns it, and
 * client_secret_basic at oidc-provider compares against the secret itself.
 */

const applicationRequest = z.looseObject({
  client_name: z.string().min(1).max(255),
  grant_types: z.array(z.string().min(1)).default([]),
  redirect_uris: z.array(z.url()).optional(),
  callback_url: z.url().optional(),
  ext_param_owner: z.string().optional(),
  ext_param_client_id: z
    .string()
    .regex(/^[A-Za-z0-9._~-]{8,128}$/)
    .optional(),
  ext_param_client_secret: z.string().min(16).max(256).optional(),
  application_display_name: z.string().optional(),
  token_type_extension: z.string().optional(),
});
type ApplicationRequest = z.infer<typeof applicationRequest>;

/** What WSO2 keeps about an application besides the OAuth metadata, echoed back as it came. */
const EXTENSIONS = ['ext_param_owner', 'application_display_name', 'token_type_extension'] as const;

interface ApplicationRow {
  client_id: string;
  source: 'cdr-dcr' | 'keymanager';
  metadata: { client_name?: string; redirect_uris?: string[] };
  registration: Record<string, unknown>;
  client_secret_sealed: string | null;
}

export interface KeyManagerOptions {
  db: Database;
  secrets: SecretBox;
  /** A deleted application's tokens are revoked here and at every gateway. */
  revocations: RevocationStore;
  adminCredential: AdminCredential;
}

export async function keyManagerRoutes(app: FastifyInstance, options: KeyManagerOptions): Promise<void> {
  const { db, secrets } = options;
  app.addHook('onRequest', async (request) => {
    if (!(await options.adminCredential.verify(request.headers.authorization))) {
      throw new AdminCredentialRequired();
    }
  });

  app.post('/register', async (request, reply) => {
    const body = parse(request);
    const clientId = body.ext_param_client_id ?? randomBytes(18).toString('base64url');
    const clientSecret = body.ext_param_client_secret ?? randomBytes(32).toString('base64url');
    const { metadata, registration } = describe(clientId, body);
    try {
      await db.query(
        `INSERT INTO clients (client_id, source, metadata, registration, client_secret_sealed, client_id_issued_at)
         VALUES ($1, 'keymanager', $2::jsonb, $3::jsonb, $4, $5)`,
        [
          clientId,
          JSON.stringify(metadata),
          JSON.stringify(registration),
          secrets.seal(clientSecret),
          Math.floor(Date.now() / 1000),
        ],
      );
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      throw new InvalidClientMetadata(
        `Application with the name ${body.client_name} or the client id ${clientId} already exists`,
      );
    }
    reply.code(201).send(render(await find(db, clientId), secrets));
  });

  app.get<{ Params: { clientId: string } }>('/register/:clientId', async (request) =>
    render(await find(db, request.params.clientId), secrets),
  );

  app.put<{ Params: { clientId: string } }>('/register/:clientId', async (request) => {
    const existing = await findOwned(db, request.params.clientId);
    const body = parse(request);
    const { metadata, registration } = describe(existing.client_id, body);
    try {
      await db.query(
        `UPDATE clients SET metadata = $2::jsonb, registration = $3::jsonb,
           client_secret_sealed = COALESCE($4, client_secret_sealed), updated_at = now()
         WHERE client_id = $1`,
        [
          existing.client_id,
          JSON.stringify(metadata),
          JSON.stringify(registration),
          body.ext_param_client_secret === undefined ? null : secrets.seal(body.ext_param_client_secret),
        ],
      );
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      throw new InvalidClientMetadata(`Application with the name ${body.client_name} already exists`);
    }
    return render(await find(db, existing.client_id), secrets);
  });

  app.delete<{ Params: { clientId: string } }>('/register/:clientId', async (request, reply) => {
    const existing = await findOwned(db, request.params.clientId);
    await options.revocations.transaction(async (tx, revoke) => {
      await tx.query('DELETE FROM clients WHERE client_id = $1', [existing.client_id]);
      await revoke([clientRevocation(existing.client_id)]);
    });
    reply.code(204).send();
  });
}

function parse(request: FastifyRequest): ApplicationRequest {
  const parsed = applicationRequest.safeParse(request.body ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InvalidClientMetadata(`${issue.path.join('.') || 'body'}: ${issue.message}`);
  }
  return parsed.data;
}

/** Provider metadata (grants this server offers) and the WSO2 registration as requested. */
function describe(clientId: string, body: ApplicationRequest) {
  const redirectUris = body.redirect_uris ?? (body.callback_url ? [body.callback_url] : []);
  const grants = body.grant_types.length ? body.grant_types : ['client_credentials'];
  const offered = grants.filter((grant) => GRANT_TYPES.has(grant));
  if (offered.includes('authorization_code') && redirectUris.length === 0) {
    throw new InvalidRedirectUri('a redirect URI is required for the authorization_code grant');
  }
  const metadata = {
    client_id: clientId,
    client_name: body.client_name,
    grant_types: offered,
    response_types: offered.includes('authorization_code') ? ['code'] : [],
    ...(redirectUris.length ? { redirect_uris: redirectUris } : {}),
    token_endpoint_auth_method: 'client_secret_basic',
  };
  const registration: Record<string, unknown> = { grant_types: grants, redirect_uris: redirectUris };
  for (const key of EXTENSIONS) if (body[key] !== undefined) registration[key] = body[key];
  return { metadata, registration };
}

async function find(db: Database, clientId: string): Promise<ApplicationRow> {
  const { rows } = await db.query<ApplicationRow>(
    `SELECT client_id, source, metadata, registration, client_secret_sealed
       FROM clients WHERE client_id = $1`,
    [clientId],
  );
  if (!rows[0]) throw new NotFound(`no application with client id ${clientId}`);
  return rows[0];
}

/** CDR registrations are readable (out-of-band mapping) but changed only through CDR DCR. */
async function findOwned(db: Database, clientId: string): Promise<ApplicationRow> {
  const row = await find(db, clientId);
  if (row.source !== 'keymanager') {
    throw new AccessDenied('this client is managed by CDR dynamic client registration');
  }
  return row;
}

function render(row: ApplicationRow, secrets: SecretBox) {
  const registration = row.registration as { grant_types?: string[]; redirect_uris?: string[] };
  const extensions = Object.fromEntries(
    EXTENSIONS.filter((key) => key in row.registration).map((key) => [key, row.registration[key]]),
  );
  return {
    client_id: row.client_id,
    client_secret: row.client_secret_sealed ? secrets.open(row.client_secret_sealed) : null,
    client_secret_expires_at: 0,
    client_name: row.metadata.client_name ?? null,
    grant_types: registration.grant_types ?? [],
    redirect_uris: registration.redirect_uris ?? row.metadata.redirect_uris ?? [],
    ...extensions,
  };
}
