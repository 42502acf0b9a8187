import type { FastifyInstance } from 'fastify';
import type { SoftwareProduct } from '../../lib/cdr/index.ts';
import { InvalidField } from '../../lib/http/errors.ts';
import type { SoftwareProducts } from './software-products.ts';

const INDUSTRIES = ['banking', 'energy', 'telco', 'all'];

/**
 * The CDR Register's status endpoints (Get Data Recipients Statuses, Get Software Products Statuses,
 * x-v 2), which Data Holders poll to stop serving a recipient or product that is no longer active. A
 * data recipient is its products' `legal_entity_id` (else `org_id`); it is not ACTIVE when any of its
 * products says so. A product is its own status, or its brand's when the brand is not ACTIVE.
 */
export function statusRoutes(app: FastifyInstance, products: SoftwareProducts): void {
  const listed = async (industry: string): Promise<SoftwareProduct[]> => {
    if (!INDUSTRIES.includes(industry)) throw new InvalidField(`Invalid industry: ${industry}`);
    const all = await products.list();
    return all.filter((p) => industry === 'all' || p.industry === 'all' || p.industry === industry);
  };

  app.get<{ Params: { industry: string } }>(
    '/cdr-register/v1/:industry/data-recipients/status',
    async (request, reply) => {
      const recipients = new Map<string, string>();
      for (const product of await listed(request.params.industry)) {
        const id = product.metadata.legal_entity_id ?? product.metadata.org_id;
        if (recipients.get(id) === undefined || product.dataRecipientStatus !== 'ACTIVE') {
          recipients.set(id, product.dataRecipientStatus);
        }
      }
      reply.header('x-v', '2');
      return {
        dataRecipients: [...recipients].map(([legalEntityId, status]) => ({ legalEntityId, status })),
        links: { self: request.url },
        meta: {},
      };
    },
  );

  app.get<{ Params: { industry: string } }>(
    '/cdr-register/v1/:industry/data-recipients/brands/software-products/status',
    async (request, reply) => {
      const softwareProducts = (await listed(request.params.industry)).map((product) => ({
        softwareProductId: product.softwareProductId,
        status: product.status === 'ACTIVE' ? product.brandStatus : product.status,
      }));
      reply.header('x-v', '2');
      return { softwareProducts, links: { self: request.url }, meta: {} };
    },
  );
}
