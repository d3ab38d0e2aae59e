/**
 * The HTTP application as a plugin-composed Fastify instance that does not listen: server.ts
 * owns the process, tests call inject(). Swagger is registered before the routes so that every
 * route schema lands in the OpenAPI document.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type RawServerDefault } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import rateLimit from '@fastify/rate-limit';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { validatorCompiler } from './validator';
import type { Logger } from 'pino';
import { compactOpenApi } from './openapi';
import { Problem, registerErrorHandling, HttpProblem, frameworkErrors, MAX_PARAM_LENGTH } from './errors';
import infrastructure, { type Infrastructure } from './plugins/infrastructure';
import metrics from './plugins/metrics';
import auth from './plugins/auth';
import health from './routes/health';
import v1 from './routes/v1';
import admin from './routes/admin';
import providerWebhooks from './routes/provider-webhooks';
import unsubscribe from './routes/unsubscribe';
import dashboard from './routes/dashboard';

export interface AppOptions extends Infrastructure {
  logger?: Logger | false;
}

export type App = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

export async function buildApp(opts: AppOptions): Promise<App> {
  const app = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger as FastifyBaseLogger } : { logger: false }),
    bodyLimit: opts.config.BODY_LIMIT_BYTES,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors,
    // request.ip (the auth failure budget, the admin routes' rate limit) is the client's, not the balancer's.
    ...(opts.config.TRUST_PROXY ? { trustProxy: opts.config.TRUST_PROXY } : {}),
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  registerErrorHandling(app);
  app.addSchema(Problem);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Follow-up automation service',
        version: '1.0.0',
        description:
          'Records, events and automations in; durable follow-up sequences (one Temporal workflow per enrollment) out. ' +
          'No string of a request (body, query or path), nor any key of a JSON object, may contain the NUL character U+0000: PostgreSQL cannot store it, and it is refused with 400 naming the field.',
      },
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', description: 'A workspace API key' },
          adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN (operator routes under /admin)' },
        },
      },
      security: [{ apiKey: [] }],
    },
    transformObject: (doc) => compactOpenApi('openapiObject' in doc ? doc.openapiObject : doc.swaggerObject),
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(infrastructure, { db: opts.db, temporal: opts.temporal, config: opts.config });
  await app.register(metrics);
  await app.register(auth);
  await app.register(rateLimit, {
    global: false,
    // /v1 authenticates first (routes/v1.ts), so these are the key's and its workspace's; the admin routes count per address.
    max: (request) => request.rateLimitPerMinute || opts.config.RATE_LIMIT_PER_MINUTE,
    timeWindow: 60_000,
    keyGenerator: (request) => request.apiKeyId || request.ip,
    errorResponseBuilder: (_request, context) =>
      new HttpProblem(429, 'Too Many Requests', {
        detail: `rate limit of ${context.max} requests per minute exceeded; retry in ${Math.ceil(context.ttl / 1000)} s`,
        headers: { 'retry-after': String(Math.ceil(context.ttl / 1000)) },
      }),
  });
  await app.register(health);
  await app.register(v1, { prefix: '/v1' });
  await app.register(admin, { prefix: '/admin' });
  await app.register(providerWebhooks, { prefix: '/webhooks' });
  await app.register(unsubscribe, { prefix: '/u' });
  await app.register(dashboard, { prefix: '/dashboard' });
  return app;
}
