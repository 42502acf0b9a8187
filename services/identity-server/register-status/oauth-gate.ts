import type { IncomingMessage } from 'node:http';
import { decodeJwt } from 'jose';
import { InvalidRequest } from '../../../lib/http/errors.ts';
import type { RegisterStatus } from './register-status.ts';

/** oidc-provider's own limit on form bodies. */
const MAX_FORM_BYTES = 56 * 1024;

/**
 * PAR and token requests of a client the CDR Register no longer lists as ACTIVE are refused (403
 * AdrStatusNotActive) before the provider sees them. Only while some recipient or product is inactive
 * is the form read here, to learn its client (`client_id`, else the client assertion's `iss`); it is
 * then handed to the provider as `req.body`, which oidc-provider reads in place of the consumed stream.
 */
export async function refuseInactiveClient(req: IncomingMessage, status: RegisterStatus): Promise<void> {
  if (!status.anyInactive) return;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_FORM_BYTES) throw new InvalidRequest('the request body is too large');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  (req as IncomingMessage & { body?: string }).body = text;
  const form = new URLSearchParams(text);
  const clientId = form.get('client_id') ?? assertionIssuer(form.get('client_assertion'));
  if (clientId) await status.assertClientActive(clientId);
}

function assertionIssuer(assertion: string | null): string | undefined {
  if (!assertion) return undefined;
  try {
    const { iss } = decodeJwt(assertion);
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}
