import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { createWebhookEndpoint, deleteWebhookEndpoint, getWebhookEndpoint, listWebhookEndpoints, rotateWebhookSecret } from '#db/webhook-endpoints';
import { listDeliveries } from '#db/notifications';
import { SECRET_OVERLAP_MS } from '#platform/webhook-signing';
import { invalid, notFound } from '../errors';
import { checkHost } from '#platform/outbound-http';
import { decodeTimeCursor, pageOf, pageSize } from '../pagination';
import { IdParam, iso, v1Problems } from '../schemas/common';
import {
  SecretRotated,
  WebhookDeliveryList,
  WebhookEndpointCreate,
  WebhookEndpointCreated,
  WebhookEndpointList,
  WebhookEndpointListQuery,
  WebhookEndpointView,
  toWebhookDelivery,
  toWebhookEndpointView,
} from '../schemas/webhook-endpoints';

async function checkUrl(raw: string, allowPrivate: boolean): Promise<string> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid([{ field: '/body/url', message: 'is not a URL' }]);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw invalid([{ field: '/body/url', message: `must be http:// or https:// (got ${url.protocol})` }]);
  if (url.username || url.password) throw invalid([{ field: '/body/url', message: 'must not carry credentials; verify the signature instead' }]);
  if (!allowPrivate) {
    // Checked again on every send, on the address actually connected to (a name may change).
    const reason = await checkHost(url.hostname).catch((err: NodeJS.ErrnoException) => `${url.hostname} does not resolve (${err.code ?? err.message})`);
    if (reason) throw invalid([{ field: '/body/url', message: `must reach a public address: ${reason} (WEBHOOK_ALLOW_PRIVATE=true allows it)` }]);
  }
  return url.toString();
}

const webhookEndpoints: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/webhook-endpoints',
    {
      schema: {
        tags: ['webhook-endpoints'],
        summary: 'Register an outbound webhook endpoint',
        description: 'Webhook steps and notifications POST JSON to `url`, signed with HMAC-SHA256 under `secret`. The secret is in this answer only.',
        body: WebhookEndpointCreate,
        response: { 201: WebhookEndpointCreated, ...v1Problems(400, 413, 415) },
      },
    },
    async (request, reply) => {
      const url = await checkUrl(request.body.url, app.config.WEBHOOK_ALLOW_PRIVATE);
      const row = await createWebhookEndpoint(app.db, request.workspaceId, { ...request.body, url });
      return reply.status(201).send({ ...toWebhookEndpointView(row), secret: row.secret });
    },
  );

  app.get(
    '/webhook-endpoints',
    {
      schema: {
        tags: ['webhook-endpoints'],
        summary: 'List webhook endpoints',
        description: 'Oldest first; deleted endpoints are not listed.',
        querystring: WebhookEndpointListQuery,
        response: { 200: WebhookEndpointList, ...v1Problems(400) },
      },
    },
    async (request) => {
      const size = pageSize(request.query.limit);
      const rows = await listWebhookEndpoints(app.db, request.workspaceId, { after: decodeTimeCursor(request.query.cursor), limit: size });
      return pageOf(rows, size, toWebhookEndpointView, (r) => [r.cursor_at, r.id]);
    },
  );

  app.get(
    '/webhook-endpoints/:id',
    {
      schema: {
        tags: ['webhook-endpoints'],
        summary: 'Read a webhook endpoint (without its secret)',
        params: IdParam,
        response: { 200: WebhookEndpointView, ...v1Problems(400, 404) },
      },
    },
    async (request) => {
      const row = await getWebhookEndpoint(app.db, request.workspaceId, request.params.id);
      if (!row) throw notFound('webhook endpoint', request.params.id);
      return toWebhookEndpointView(row);
    },
  );

  app.get(
    '/webhook-endpoints/:id/deliveries',
    {
      schema: {
        tags: ['webhook-endpoints'],
        summary: 'List notifications sent to an endpoint, with every attempt',
        description: 'Newest first. A notification that is not answered 2xx is retried with backoff for a day, then `failed`.',
        params: IdParam,
        querystring: WebhookEndpointListQuery,
        response: { 200: WebhookDeliveryList, ...v1Problems(400, 404) },
      },
    },
    async (request) => {
      if (!(await getWebhookEndpoint(app.db, request.workspaceId, request.params.id))) throw notFound('webhook endpoint', request.params.id);
      const size = pageSize(request.query.limit);
      const rows = await listDeliveries(app.db, request.workspaceId, request.params.id, { before: decodeTimeCursor(request.query.cursor), limit: size });
      return pageOf(rows, size, toWebhookDelivery, (r) => [r.cursor_at, r.id]);
    },
  );

  app.post(
    '/webhook-endpoints/:id/rotate-secret',
    {
      schema: {
        tags: ['webhook-endpoints'],
        summary: 'Rotate the signing secret',
        description: `A new secret signs from now on; for ${SECRET_OVERLAP_MS / 3600_000} hours every request also carries a second \`v1=\` signature made with the previous secret, so the receiver can switch without missing a request.`,
        params: IdParam,
        response: { 200: SecretRotated, ...v1Problems(400, 404) },
      },
    },
    async (request) => {
      const rotated = await rotateWebhookSecret(app.db, request.workspaceId, request.params.id, SECRET_OVERLAP_MS);
      if (!rotated) throw notFound('webhook endpoint', request.params.id);
      return { secret: rotated.secret, previousSecretExpiresAt: iso(rotated.previous_secret_expires_at!) };
    },
  );

  app.delete(
    '/webhook-endpoints/:id',
    {
      schema: {
        tags: ['webhook-endpoints'],
        summary: 'Delete a webhook endpoint',
        description: 'Nothing is sent to it any more; webhook steps that name it fail without retry. Its history is kept.',
        params: IdParam,
        response: { 204: Type.Null({ description: 'Deleted' }), ...v1Problems(400, 404) },
      },
    },
    async (request, reply) => {
      if (!(await deleteWebhookEndpoint(app.db, request.workspaceId, request.params.id))) throw notFound('webhook endpoint', request.params.id);
      return reply.status(204).send(null);
    },
  );
};

export default webhookEndpoints;
