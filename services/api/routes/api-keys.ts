import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { createApiKey } from '#db/workspaces';
import { listApiKeys, revokeApiKey } from '#db/api-keys';
import { notFound } from '../errors';
import { decodeTimeCursor, pageOf, pageSize } from '../pagination';
import { IdParam, v1Problems } from '../schemas/common';
import { ApiKeyCreate, ApiKeyCreated, ApiKeyList, ApiKeyListQuery, toApiKeyView } from '../schemas/api-keys';

const apiKeys: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/api-keys',
    {
      schema: {
        tags: ['api-keys'],
        summary: 'Create an API key for this workspace',
        description: 'The full key is in this answer only: the service stores its SHA-256 hash. Keep it in a secret store.',
        body: ApiKeyCreate,
        response: { 201: ApiKeyCreated, ...v1Problems(400, 413, 415) },
      },
    },
    async (request, reply) => {
      const created = await createApiKey(app.db, request.workspaceId, request.body.name);
      return reply.status(201).send({
        ...toApiKeyView({ id: created.id, name: created.name, prefix: created.prefix, created_at: created.createdAt, revoked_at: created.revokedAt }),
        key: created.key,
      });
    },
  );

  app.get(
    '/api-keys',
    {
      schema: {
        tags: ['api-keys'],
        summary: 'List API keys',
        description: "Oldest first, revoked keys included (with revokedAt). Shows each key's prefix, never the key.",
        querystring: ApiKeyListQuery,
        response: { 200: ApiKeyList, ...v1Problems(400) },
      },
    },
    async (request) => {
      const size = pageSize(request.query.limit);
      const rows = await listApiKeys(app.db, request.workspaceId, { after: decodeTimeCursor(request.query.cursor), limit: size });
      return pageOf(rows, size, toApiKeyView, (r) => [r.cursor_at, r.id]);
    },
  );

  app.delete(
    '/api-keys/:id',
    {
      schema: {
        tags: ['api-keys'],
        summary: 'Revoke an API key',
        description: 'The key answers 401 from now on (at once on this process; within 5 s on other API processes). Revoking a revoked key is a no-op (204).',
        params: IdParam,
        response: { 204: Type.Null({ description: 'Revoked' }), ...v1Problems(400, 404) },
      },
    },
    async (request, reply) => {
      if (!(await revokeApiKey(app.db, request.workspaceId, request.params.id))) throw notFound('API key', request.params.id);
      app.forgetApiKey(request.params.id);
      return reply.status(204).send(null);
    },
  );
};

export default apiKeys;
