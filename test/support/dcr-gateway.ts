import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Config, DCR_BACKEND_VAULT_ALIAS, loadConfig } from '../../lib/config/index.ts';
import { REVOCATIONS_PATH } from '../../lib/gateway-feed/revocations.ts';
import { parseSynapseSequence } from '../../lib/gateway-feed/snapshot.ts';
import { createGateway, type Gateway } from '../../services/gateway/server.ts';
import { type DcrHarness, startHarness } from './dcr.ts';
import {
  type StartedIdentityServer,
  sandboxTlsPaths,
  startIdentityServerForDcr,
} from './dcr-identity-server.ts';
import { apiEntry, keyManagerEntry, snapshotOf } from './gateway.ts';
import { TEST_ADMIN_PASSWORD, TEST_DCR_BACKEND } from './identity-server.ts';
import type { TestRegister } from './register.ts';

/** Where the DCR API is deployed on the gateway. */
export const DCR_CONTEXT = '/open-banking/0.2';

/** A gateway on the Register's sandbox PKI (the identity server's), on port 0. */
export function gatewayConfig(pkiDir: string, stateDir: string): Config {
  return loadConfig({
    env: {},
    overrides: {
      obkit: {
        state_dir: stateDir,
        log_level: 'silent',
        admin: { username: 'admin', password: TEST_ADMIN_PASSWORD },
        // Written into <state_dir>/vault (sandbox), where the in-sequence's vault lookup finds it.
        dcr_backend: TEST_DCR_BACKEND,
        gateway: { port: 0 },
        tls: sandboxTlsPaths(pkiDir),
      },
    },
  });
}

/** The DCR API deployed as the configure step deploys it, in front of `identityUrl`, with OBKM. */
/**
 * `identityUrl` is the replica this gateway calls; `audience` the identity server's public URL that its
 * tokens name (the same for every replica).
 */
export function dcrSnapshot(identityUrl: string, issuer: string, audience = identityUrl) {
  const steps = parseSynapseSequence(`<sequence>
    <header name="x-wso2-client-id" expression="get-property('api.ut.consumerKey')" scope="transport"/>
    <header name="Authorization" scope="transport" action="remove"/>
    <header name="Authorization" expression="wso2:vault-lookup('${DCR_BACKEND_VAULT_ALIAS}')" scope="transport"/>
  </sequence>`);
  return snapshotOf({
    apis: [
      apiEntry(
        'CDRDynamicClientRegistrationAPI',
        DCR_CONTEXT,
        `${identityUrl}/api/openbanking/dynamic-client-registration`,
        [
          { target: '/register', verb: 'POST', auth: 'None', request: steps },
          ...['GET', 'PUT', 'DELETE'].map((verb) => ({
            target: '/register/{ClientId}',
            verb,
            scopes: ['cdr:registration'],
            request: steps,
          })),
        ],
      ),
    ],
    keyManagers: [
      keyManagerEntry(
        { issuer, jwksUri: `${identityUrl}/oauth2/jwks`, audience },
        { revocationFeed: `${identityUrl}${REVOCATIONS_PATH}` },
      ),
    ],
  });
}

export interface ReplicaPair {
  /** Replica A, with the harness's helpers (seeding products, request JWTs, tokens). */
  dcr: DcrHarness;
  replicaB: StartedIdentityServer;
  urlB: string;
  /** One gateway in front of each replica, in that order. */
  gateways: Gateway[];
  close(): Promise<void>;
}

/**
 * Two identity-server replicas on one PostgreSQL schema, each behind its own gateway. Replica B serves
 * A's public URL (a load balancer's) from another port, with A's encryption key (as a deployment's
 * replicas share one Secret); `obkit` overrides apply to both.
 */
export async function startReplicaPair(options: {
  register: TestRegister;
  databaseUrl: string;
  schema: string;
  obkit?: Record<string, unknown>;
}): Promise<ReplicaPair> {
  const { register, databaseUrl, schema, obkit = {} } = options;
  const dcr = await startHarness({ register, databaseUrl, schema, overrides: { obkit } });
  const encryptionKey = (await readFile(join(dcr.server.stateDir, 'encryption.key'), 'utf8')).trim();
  const replicaB = await startIdentityServerForDcr({
    pkiDir: register.pki.dir,
    registerUrl: register.url,
    databaseUrl,
    schema,
    overrides: {
      obkit: { ...obkit, identity_server: { url: dcr.url }, secrets: { encryption_key: encryptionKey } },
    },
  });
  const address = replicaB.server.service.server.address();
  const urlB = `https://localhost:${typeof address === 'object' && address ? address.port : 0}`;
  const dirs: string[] = [];
  const gateways: Gateway[] = [];
  for (const backend of [dcr.url, urlB]) {
    const dir = await mkdtemp(join(tmpdir(), 'obkit-replica-gw-'));
    dirs.push(dir);
    const gateway = await createGateway(gatewayConfig(register.pki.dir, dir), { feed: 'manual' });
    await gateway.setSnapshot(dcrSnapshot(backend, dcr.issuer, dcr.url));
    gateways.push(gateway);
  }
  return {
    dcr,
    replicaB,
    urlB,
    gateways,
    async close() {
      for (const gateway of gateways) await gateway.close();
      await replicaB.close();
      await dcr.close();
      for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    },
  };
}
