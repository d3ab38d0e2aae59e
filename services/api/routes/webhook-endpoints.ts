import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { createWebhookEndpoint, deleteWebhookEndpoint, getWebhookEndpoint, listWebhookEndpoints } from '../../../db/webhook-endpoints';
import { invalid, notFound } from '../errors';
import { decodeTimeCursor, pageOf, pageSize } from '../pagination';
import { IdParam, v1Problems } from '../schemas/common';
import {
  WebhookEndpointCreate, WebhookEndpointCreated, WebhookEndpointList, WebhookEndpointListQuery, WebhookEndpointView, toWebhookEndpointView,
} from '../schemas/webhook-endpoints';

function checkUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid([{ field: '/body/url', message: 'is not a URL' }]);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid([{ field: '/body/url', message: `must be http:// or https:// (got ${url.protocol})` }]);
  if (url.username || url.password) throw invalid([{ field: '/body/url', message: 'must not carry credentials; verify the signature instead' }]);
  return url.toString();
}

const webhookEndpoints: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/webhook-endpoints', {
    schema: {
      tags: ['webhook-endpoints'],
      summary: 'Register an outbound webhook endpoint',
      description: 'Webhook steps and notifications POST JSON to `url`, signed with HMAC-SHA256 under `secret`. The secret is in this answer only.',
      body: WebhookEndpointCreate,
      response: { 201: WebhookEndpointCreated, ...v1Problems(400, 413, 415) },
    },
  }, async (request, reply) => {
    const url = checkUrl(request.body.url);
    const row = await createWebhookEndpoint(app.db, request.workspaceId, { ...request.body, url });
    return reply.status(201).send({ ...toWebhookEndpointView(row), secret: row.secret });
  });

  app.get('/webhook-endpoints', {
    schema: { tags: ['webhook-endpoints'], summary: 'List webhook endpoints', description: 'Oldest first; deleted endpoints are not listed.', querystring: WebhookEndpointListQuery, response: { 200: WebhookEndpointList, ...v1Problems(400) } },
  }, async (request) => {
    const size = pageSize(request.query.limit);
    const rows = await listWebhookEndpoints(app.db, request.workspaceId, { after: decodeTimeCursor(request.query.cursor), limit: size });
    return pageOf(rows, size, toWebhookEndpointView, (r) => [r.cursor_at, r.id]);
  });

  app.get('/webhook-endpoints/:id', {
    schema: { tags: ['webhook-endpoints'], summary: 'Read a webhook endpoint (without its secret)', params: IdParam, response: { 200: WebhookEndpointView, ...v1Problems(400, 404) } },
  }, async (request) => {
    const row = await getWebhookEndpoint(app.db, request.workspaceId, request.params.id);
    if (!row) throw notFound('webhook endpoint', request.params.id);
    return toWebhookEndpointView(row);
  });

  app.delete('/webhook-endpoints/:id', {
    schema: {
      tags: ['webhook-endpoints'],
      summary: 'Delete a webhook endpoint',
      description: 'Nothing is sent to it any more; webhook steps that name it fail without retry. Its history is kept.',
      params: IdParam,
      response: { 204: Type.Null({ description: 'Deleted' }), ...v1Problems(400, 404) },
    },
  }, async (request, reply) => {
    if (!(await deleteWebhookEndpoint(app.db, request.workspaceId, request.params.id))) throw notFound('webhook endpoint', request.params.id);
    return reply.status(204).send(null);
  });
};

export default webhookEndpoints;
