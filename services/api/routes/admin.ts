/**
 * Operator routes (workspaces, the dead letters of the router and the notifier), outside /v1: guarded by ADMIN_TOKEN, not by an API key. With ADMIN_TOKEN unset
 * they answer 404, as if they did not exist.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { IANAZone } from 'luxon';
import { listDeadLetters, retryDeadLetter } from '#db/outbox';
import { createWorkspaceWithKey, setWorkspaceRateLimit } from '#db/workspaces';
import { bearerToken } from '../plugins/auth';
import { HttpProblem, invalid } from '../errors';
import { problems } from '../schemas/common';

const RateLimit = Type.Union([Type.Integer({ minimum: 1, maximum: 10_000_000 }), Type.Null()], {
  description:
    "Requests per API key per minute in each API process for this workspace's keys; null: the service's RATE_LIMIT_PER_MINUTE (12,000 unless configured)",
});

const WorkspaceCreate = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    timezone: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description:
          'IANA time zone; the default for records and automations without one (UTC when absent); one the time zone database does not know is refused with 400',
      }),
    ),
    rateLimitPerMinute: Type.Optional(RateLimit),
  },
  { additionalProperties: false, examples: [{ name: 'Sparkle Cleaning SRL', timezone: 'Europe/Bucharest' }] },
);

const Workspace = Type.Object({ id: Type.String(), name: Type.String(), timezone: Type.String(), rateLimitPerMinute: RateLimit });

const WorkspaceCreated = Type.Object(
  { ...Workspace.properties, apiKey: Type.String({ description: 'The first API key of the workspace. Shown once.' }) },
  { examples: [{ id: 'ws_...', name: 'Sparkle Cleaning SRL', timezone: 'Europe/Bucharest', rateLimitPerMinute: null, apiKey: 'fu_...' }] },
);

const WorkspaceUpdate = Type.Object(
  { rateLimitPerMinute: RateLimit },
  { additionalProperties: false, examples: [{ rateLimitPerMinute: 60_000 }, { rateLimitPerMinute: null }] },
);

const DeadLetter = Type.Object(
  {
    id: Type.String(),
    outboxId: Type.Union([Type.String(), Type.Null()], { description: 'The outbox row it was (null for a notification delivery)' }),
    deliveryId: Type.Union([Type.String(), Type.Null()], { description: 'The notification delivery it is (kind webhook_delivery)' }),
    workspaceId: Type.String(),
    kind: Type.String({ description: 'event, record_changed, automation_backfill, automation_lifecycle (outbox rows) or webhook_delivery' }),
    recordId: Type.Union([Type.String(), Type.Null()]),
    payload: Type.Record(Type.String(), Type.Unknown()),
    attempts: Type.Integer(),
    lastError: Type.String(),
    queuedAt: Type.String({ format: 'date-time' }),
    failedAt: Type.String({ format: 'date-time' }),
  },
  {
    description:
      'An outbox row the router parked after ROUTER_MAX_ATTEMPTS failures, or a notification delivery the notifier parked after WEBHOOK_MAX_ATTEMPTS failures or a day',
  },
);

const DeadLetterPage = Type.Object({ items: Type.Array(DeadLetter), nextCursor: Type.Union([Type.String(), Type.Null()]) });

const digest = (s: string) => createHash('sha256').update(s).digest();

const admin: FastifyPluginAsyncTypebox = async (app) => {
  app.removeContentTypeParser('text/plain');
  app.addHook('onRequest', async (request) => {
    const expected = app.config.ADMIN_TOKEN;
    if (!expected)
      throw new HttpProblem(404, 'Not Found', { detail: `no route ${request.method} ${request.url.split('?')[0]} (set ADMIN_TOKEN to enable the admin API)` });
    // Before the comparison, so that a guess from a limited address is never confirmed.
    const now = Date.now();
    const bucket = app.authFailures.admit(request, now);
    const token = bearerToken(request);
    if (!token || !timingSafeEqual(digest(token), digest(expected))) {
      app.authFailures.record(bucket, now, 'admin_token');
      throw new HttpProblem(401, 'Unauthorized', {
        detail: 'missing or wrong admin token (Authorization: Bearer <ADMIN_TOKEN>)',
        field: '/headers/authorization',
        headers: { 'www-authenticate': 'Bearer' },
      });
    }
  });

  app.post(
    '/workspaces',
    {
      config: { rateLimit: {} },
      schema: {
        tags: ['admin'],
        summary: 'Create a workspace and its first API key',
        description: 'Operator only: `Authorization: Bearer <ADMIN_TOKEN>`. Off (404) when ADMIN_TOKEN is unset.',
        security: [{ adminToken: [] }],
        body: WorkspaceCreate,
        response: { 201: WorkspaceCreated, ...problems(400, 401, 404, 413, 415, 429) },
      },
    },
    async (request, reply) => {
      const { name, timezone, rateLimitPerMinute } = request.body;
      if (timezone !== undefined && !IANAZone.isValidZone(timezone)) {
        throw invalid([{ field: '/body/timezone', message: `"${timezone}" is not an IANA time zone (e.g. Europe/Bucharest)` }]);
      }
      const ws = await createWorkspaceWithKey(app.db, { name, rateLimitPerMinute, ...(timezone ? { timezone } : {}) });
      return reply.status(201).send(ws);
    },
  );

  app.patch(
    '/workspaces/:id',
    {
      config: { rateLimit: {} },
      schema: {
        tags: ['admin'],
        summary: "Change a workspace's request limit",
        description:
          "Operator only. Sets the requests per API key per minute of the workspace's keys (null: back to RATE_LIMIT_PER_MINUTE); " +
          'each API process applies it within 5 s (its key cache).',
        security: [{ adminToken: [] }],
        params: Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9_-]{1,100}$', description: 'A workspace id (ws_...)' }) }),
        body: WorkspaceUpdate,
        response: { 200: Workspace, ...problems(400, 401, 404, 413, 415, 429) },
      },
    },
    async (request) => {
      const ws = await setWorkspaceRateLimit(app.db, request.params.id, request.body.rateLimitPerMinute);
      if (!ws) throw new HttpProblem(404, 'Not Found', { detail: `no workspace ${request.params.id}`, field: '/params/id' });
      return ws;
    },
  );

  app.get(
    '/dead-letters',
    {
      schema: {
        tags: ['admin'],
        summary: 'Outbox rows and notification deliveries parked after repeated failures',
        description: 'Operator only. Newest first; each with its last error. Retry one with POST /admin/dead-letters/{id}/retry.',
        security: [{ adminToken: [] }],
        querystring: Type.Object(
          {
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
            cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$', description: 'nextCursor of the previous page' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: DeadLetterPage, ...problems(400, 401, 404, 429) },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 100;
      const rows = await listDeadLetters(app.db, { limit: limit + 1, ...(request.query.cursor ? { beforeId: Number(request.query.cursor) } : {}) });
      const page = rows.slice(0, limit);
      return {
        items: page.map((r) => ({
          id: String(r.id),
          outboxId: r.outbox_id === null ? null : String(r.outbox_id),
          deliveryId: r.delivery_id,
          workspaceId: r.workspace_id,
          kind: r.kind,
          recordId: r.record_id,
          payload: r.payload as Record<string, unknown>,
          attempts: r.attempts,
          lastError: r.last_error,
          queuedAt: r.queued_at.toISOString(),
          failedAt: r.failed_at.toISOString(),
        })),
        nextCursor: rows.length > limit ? String(page[page.length - 1]!.id) : null,
      };
    },
  );

  app.post(
    '/dead-letters/:id/retry',
    {
      schema: {
        tags: ['admin'],
        summary: 'Queue a parked outbox row or notification delivery again',
        description:
          'Operator only. An outbox row goes back to the end of the outbox with its attempts reset (202 with its new outbox id); a notification delivery is due now with a fresh budget of attempts and a fresh day (202 with its delivery id).',
        security: [{ adminToken: [] }],
        params: Type.Object({ id: Type.String({ pattern: '^[0-9]{1,15}$' }) }),
        response: {
          202: Type.Object({ id: Type.String(), outboxId: Type.Optional(Type.String()), deliveryId: Type.Optional(Type.String()) }),
          ...problems(400, 401, 404, 429),
        },
      },
    },
    async (request, reply) => {
      const retried = await app.db.transaction().execute((trx) => retryDeadLetter(trx, Number(request.params.id)));
      if (retried === undefined) throw new HttpProblem(404, 'Not Found', { detail: `no dead letter ${request.params.id}`, field: '/params/id' });
      return reply
        .status(202)
        .send({ id: request.params.id, ...('outboxId' in retried ? { outboxId: String(retried.outboxId) } : { deliveryId: retried.deliveryId }) });
    },
  );
};

export default admin;
