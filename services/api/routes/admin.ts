/**
 * Operator routes, outside /v1: guarded by ADMIN_TOKEN, not by an API key. With ADMIN_TOKEN unset
 * they answer 404, as if they did not exist.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { IANAZone } from 'luxon';
import { createWorkspaceWithKey } from '../../../db/workspaces';
import { bearerToken } from '../plugins/auth';
import { HttpProblem, invalid } from '../errors';
import { problems } from '../schemas/common';

const WorkspaceCreate = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone; the default for records and automations without one (UTC when absent)' })),
  },
  { additionalProperties: false, examples: [{ name: 'Sparkle Cleaning SRL', timezone: 'Europe/Bucharest' }] },
);

const WorkspaceCreated = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    timezone: Type.String(),
    apiKey: Type.String({ description: 'The first API key of the workspace. Shown once.' }),
  },
  { examples: [{ id: 'ws_...', name: 'Sparkle Cleaning SRL', timezone: 'Europe/Bucharest', apiKey: 'fu_...' }] },
);

const digest = (s: string) => createHash('sha256').update(s).digest();

const admin: FastifyPluginAsyncTypebox = async (app) => {
  app.removeContentTypeParser('text/plain');
  app.addHook('onRequest', async (request) => {
    const expected = app.config.ADMIN_TOKEN;
    if (!expected) throw new HttpProblem(404, 'Not Found', { detail: `no route ${request.method} ${request.url.split('?')[0]} (set ADMIN_TOKEN to enable the admin API)` });
    const token = bearerToken(request);
    if (!token || !timingSafeEqual(digest(token), digest(expected))) {
      throw new HttpProblem(401, 'Unauthorized', { detail: 'missing or wrong admin token (Authorization: Bearer <ADMIN_TOKEN>)', field: '/headers/authorization', headers: { 'www-authenticate': 'Bearer' } });
    }
  });

  app.post('/workspaces', {
    config: { rateLimit: {} },
    schema: {
      tags: ['admin'],
      summary: 'Create a workspace and its first API key',
      description: 'Operator only: `Authorization: Bearer <ADMIN_TOKEN>`. Off (404) when ADMIN_TOKEN is unset.',
      security: [{ adminToken: [] }],
      body: WorkspaceCreate,
      response: { 201: WorkspaceCreated, ...problems(400, 401, 404, 413, 415, 429) },
    },
  }, async (request, reply) => {
    const { name, timezone } = request.body;
    if (timezone !== undefined && !IANAZone.isValidZone(timezone)) {
      throw invalid([{ field: '/body/timezone', message: `"${timezone}" is not an IANA time zone (e.g. Europe/Bucharest)` }]);
    }
    const ws = await createWorkspaceWithKey(app.db, { name, ...(timezone ? { timezone } : {}) });
    return reply.status(201).send(ws);
  });
};

export default admin;
