import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';

/**
 * Every /v1 route: authenticated by API key (which decides the workspace) and rate limited per key.
 * Resource plugins register here, one file each.
 */
const v1: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate);
  app.addHook('onRoute', (route) => {
    route.config = { ...(route.config as object), rateLimit: {} } as typeof route.config;
  });
};

export default v1;
