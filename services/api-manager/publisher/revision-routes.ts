import { z } from 'zod';
import { count, identifier, idParams, queryOf, text } from '../../../lib/http/route-schemas.ts';
import { gatewayEnvironments } from '../admin/environments.ts';
import { badRequest, notFound, parseBody } from '../request.ts';
import { deploymentDto, revisionDto } from './revisions.ts';
import { type Publisher, requiredQuery } from './routes.ts';

const deploymentsSchema = z.array(
  z.looseObject({
    revisionUuid: z.string().optional(),
    name: z.string().min(1),
    vhost: z.string().min(1).optional(),
    displayOnDevportal: z.boolean().optional(),
  }),
);

const revisionParams = { params: idParams('apiId', 'revisionId') };

/** `/apis/{apiId}/revisions`: frozen copies of an API, made, listed, read and removed. */
export function revisionRoutes({ app, apis, policies, revisions, view, publish }: Publisher): void {
  app.post(
    '/apis/:apiId/revisions',
    { onRequest: publish, schema: { params: idParams('apiId') } },
    async (request, reply) => {
      const api = await apis.get(request.params.apiId);
      const body = parseBody(
        z.looseObject({ description: z.string().max(255).nullish() }).nullish(),
        request.body,
      );
      const revision = await revisions.create(api, body?.description ?? '', await policies.list(api.id));
      reply.code(201).send(revisionDto(revision, []));
    },
  );

  app.get(
    '/apis/:apiId/revisions',
    { onRequest: view, schema: { params: idParams('apiId'), querystring: queryOf({ query: text() }) } },
    async (request) => {
      const api = await apis.get(request.params.apiId);
      const deployedFilter = /deployed:(true|false)/.exec(request.query.query ?? '')?.[1];
      const deployments = await revisions.deployments(api.id);
      const list = (await revisions.list(api.id))
        .filter((revision) => {
          if (deployedFilter === undefined) return true;
          const deployed = deployments.some((deployment) => deployment.revisionId === revision.id);
          return deployedFilter === 'true' ? deployed : !deployed;
        })
        .map((revision) => revisionDto(revision, deployments));
      return { count: list.length, list };
    },
  );

  app.get(
    '/apis/:apiId/revisions/:revisionId',
    { onRequest: view, schema: revisionParams },
    async (request) => {
      const { apiId, revisionId } = request.params;
      return revisionDto(await revisions.get(apiId, revisionId), await revisions.deployments(apiId));
    },
  );

  app.delete(
    '/apis/:apiId/revisions/:revisionId',
    { onRequest: publish, schema: revisionParams },
    async (request) => {
      const { apiId, revisionId } = request.params;
      await revisions.remove(apiId, revisionId);
      const deployments = await revisions.deployments(apiId);
      const list = (await revisions.list(apiId)).map((revision) => revisionDto(revision, deployments));
      return { count: list.length, list };
    },
  );
}

/** Where revisions are deployed: `/apis/{apiId}/deployments`, deploy-revision and undeploy-revision. */
export function deploymentRoutes({ app, context, apis, revisions, view, publish }: Publisher): void {
  app.get(
    '/apis/:apiId/deployments',
    { onRequest: view, schema: { params: idParams('apiId') } },
    async (request) => (await revisions.deployments(request.params.apiId)).map(deploymentDto),
  );

  app.post(
    '/apis/:apiId/deploy-revision',
    {
      onRequest: publish,
      schema: { params: idParams('apiId'), querystring: queryOf({ revisionId: identifier }) },
    },
    async (request, reply) => {
      const api = await apis.get(request.params.apiId);
      const revisionId = requiredQuery(request.query.revisionId, 'revisionId');
      const body = parseBody(deploymentsSchema.min(1), request.body);
      if (api.lifecycle === 'RETIRED') throw badRequest('a retired API cannot be deployed');
      const deployed = await revisions.deploy(api.id, revisionId, body, gatewayEnvironments(context.config));
      context.changes.changed();
      reply.code(201).send(deployed.map(deploymentDto));
    },
  );

  app.post(
    '/apis/:apiId/undeploy-revision',
    {
      onRequest: publish,
      schema: {
        params: idParams('apiId'),
        querystring: queryOf({ revisionId: identifier, revisionNumber: count, allEnvironments: text(8) }),
      },
    },
    async (request, reply) => {
      const api = await apis.get(request.params.apiId);
      const { query } = request;
      let revisionId = query.revisionId;
      if (!revisionId && query.revisionNumber) {
        const number = query.revisionNumber;
        revisionId = (await revisions.list(api.id)).find((revision) => revision.number === number)?.id;
        if (!revisionId) throw notFound('revision number', String(query.revisionNumber));
      }
      if (!revisionId) throw badRequest('invalid field revisionId: required');
      if (query.allEnvironments === 'true') {
        await revisions.undeploy(api.id, revisionId, 'all');
      } else {
        const body = parseBody(deploymentsSchema.min(1), request.body);
        await revisions.undeploy(
          api.id,
          revisionId,
          body.map((deployment) => deployment.name),
        );
      }
      context.changes.changed();
      reply.code(201).send((await revisions.deployments(api.id)).map(deploymentDto));
    },
  );
}
