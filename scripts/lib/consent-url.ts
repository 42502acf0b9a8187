import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildRegistrationRequest } from '../../lib/cdr/index.ts';
import { DcrApi } from './api-client/dcr.ts';
import { type PushedAuthorization, RecipientSession, type RegisteredClient } from './recipient-session.ts';
import { keysFromJwk, sandboxRecipient } from './smoke.ts';
import type { Target } from './target.ts';

/**
 * The demo client's consent link: a CDR client registered once per state directory through the gateway
 * (its own sandbox software product, so the printed curl registration stays possible), kept in
 * `<state-dir>/demo/consent-client.json` (0600, with its signing key), and a fresh pushed authorisation
 * request whose authorize URL a tester opens in a browser. Sandbox only.
 */
export async function demoConsentUrl(
  target: Target,
  stateDir: string,
): Promise<PushedAuthorization & { clientFile: string }> {
  const clientFile = join(stateDir, 'demo', 'consent-client.json');
  let client = existsSync(clientFile) ? await readClient(clientFile) : undefined;
  for (let attempt = 0; ; attempt++) {
    client ??= await registerDemoClient(target, clientFile);
    const session = new RecipientSession(target, client);
    try {
      return { ...(await session.pushAuthorization()), clientFile };
    } catch (error) {
      // A client the identity server no longer knows (its database was reset): register a new one.
      if (attempt > 0 || !/HTTP 401/.test((error as Error).message)) throw error;
      client = undefined;
    } finally {
      await session.close();
    }
  }
}

async function registerDemoClient(target: Target, file: string): Promise<RegisteredClient> {
  const recipient = await sandboxRecipient(target, 'consent-demo');
  const client = target.clientCertificate!;
  const gateway = new DcrApi(
    target.http(target.manifest.gateway.url, {
      tls: { ca: target.ca, cert: client.certificate, key: client.key },
    }),
  );
  const created = await gateway.register(
    await buildRegistrationRequest({
      ssa: recipient.ssa,
      audience: target.manifest.identityServer.issuer,
      key: recipient.key,
    }),
  );
  if (created.status !== 201) {
    throw new Error(
      `registering the demo consent client answered HTTP ${created.status}: ${JSON.stringify(created.data)}`,
    );
  }
  const registered = {
    clientId: created.data.client_id,
    redirectUri: created.data.redirect_uris?.[0] ?? '',
    signingKey: recipient.key.privateJwk,
  };
  await mkdir(join(file, '..'), { recursive: true, mode: 0o700 });
  await writeFile(file, `${JSON.stringify(registered, null, 2)}\n`, { mode: 0o600 });
  return { clientId: registered.clientId, redirectUri: registered.redirectUri, key: recipient.key };
}

async function readClient(file: string): Promise<RegisteredClient> {
  const saved = JSON.parse(await readFile(file, 'utf8'));
  return {
    clientId: saved.clientId,
    redirectUri: saved.redirectUri,
    key: await keysFromJwk(saved.signingKey),
  };
}
