import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ping } from '#db/connection';
import { temporalReady } from '#platform/temporal';

const Readiness = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
  checks: Type.Object({ postgres: Type.Boolean(), temporal: Type.Boolean() }),
});

const health: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/healthz',
    { schema: { tags: ['health'], security: [], summary: 'Liveness: the process is up', response: { 200: Type.Object({ status: Type.Literal('ok') }) } } },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    { schema: { tags: ['health'], security: [], summary: 'Readiness: PostgreSQL and Temporal answer', response: { 200: Readiness, 503: Readiness } } },
    async (_req, reply) => {
      const [postgres, temporal] = await Promise.all([
        ping(app.db).then(
          () => true,
          () => false,
        ),
        temporalReady(app.temporal),
      ]);
      const ok = postgres && temporal;
      return reply.status(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks: { postgres, temporal } });
    },
  );

  app.get('/metrics', { schema: { tags: ['health'], security: [], summary: 'Prometheus metrics', produces: ['text/plain'] } }, async (_req, reply) => {
    reply.type(app.metrics.registry.contentType);
    return app.metrics.registry.metrics();
  });
};

export default health;
