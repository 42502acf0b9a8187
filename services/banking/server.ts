import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type Config, serviceUrl } from '../../lib/config/index.ts';
import { createService, type Service } from '../../lib/http/service.ts';
import { splitPemBundle } from '../../lib/pki/index.ts';
import { ArrangementClient } from './arrangement-client.ts';
import { bankingRoutes } from './routes.ts';

export interface BankingOptions {
  /** Overrides `obkit.banking.port`; 0 binds an ephemeral port. */
  port?: number;
}

export interface Banking {
  service: Service;
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Refused outside sandbox mode: obkit holds no real customer data, only the sandbox's test customers. */
export class ProductionModeError extends Error {
  constructor() {
    super('banking serves the sandbox test customers only and refuses to run with obkit.mode = "production"');
    this.name = 'ProductionModeError';
  }
}

/**
 * The sandbox CDS Banking data API: reachable from the gateway only (its internal client certificate is
 * asked for on every connection and required by every route), reading arrangements from the identity
 * server with its own internal client certificate. Stateless: no database.
 */
export async function createBanking(config: Config, options: BankingOptions = {}): Promise<Banking> {
  if (config.obkit.mode !== 'sandbox') throw new ProductionModeError();
  const ob = config.obkit;
  const internalCas = splitPemBundle(readFileSync(ob.tls.internal_ca, 'utf8')).map(
    (pem) => new X509Certificate(pem),
  );
  const arrangements = new ArrangementClient(config);
  const service = createService({
    name: 'banking',
    logLevel: ob.log_level,
    tls: {
      certificate: ob.tls.certificate,
      privateKey: ob.tls.private_key,
      clientCas: [ob.tls.internal_ca],
      // Asked, judged per route: a caller without the gateway's certificate gets a CDS error, not a reset.
      requestCert: true,
      rejectUnauthorized: false,
    },
    managementPort: ob.banking.management_port,
    errorShape: 'cds',
    shutdownGraceSeconds: ob.shutdown_grace_seconds,
  });
  try {
    await service.app.register(bankingRoutes, {
      arrangements,
      internalCas: () => internalCas,
      publicUrl: ob.gateway.url || ob.banking.url || serviceUrl(ob.hostname, ob.gateway.port),
    });
    const port = await service.listen(options.port ?? ob.banking.port, ob.bind_address);
    const url = ob.banking.url || serviceUrl(ob.hostname, port);
    return {
      service,
      url,
      port,
      async close() {
        await service.close();
        await arrangements.close();
      },
    };
  } catch (error) {
    await service.close();
    await arrangements.close();
    throw error;
  }
}
