import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import { workspaceForKey } from '../../../db/workspaces';
import { HttpProblem } from '../errors';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every /v1 route: every query is scoped by it. */
    workspaceId: string;
    apiKeyId: string;
  }
}

const CACHE_TTL_MS = 5_000;

const unauthorized = (detail: string) =>
  new HttpProblem(401, 'Unauthorized', { detail, field: '/headers/authorization', headers: { 'www-authenticate': 'Bearer' } });

export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  const match = header?.match(/^Bearer\s+(\S+)$/i);
  return match?.[1];
}

/**
 * Resolves the API key to its workspace. A short cache keeps the hot path (event ingestion) off
 * the database; revoking a key clears it here at once and on other API processes within the TTL.
 */
export default fp(
  async (app) => {
    const cache = new Map<string, { workspaceId: string; keyId: string; until: number }>();
    app.decorateRequest('workspaceId', '');
    app.decorateRequest('apiKeyId', '');
    app.decorate('forgetApiKey', (keyId: string) => {
      for (const [k, v] of cache) if (v.keyId === keyId) cache.delete(k);
    });
    app.decorate('authenticate', async (request: FastifyRequest) => {
      const token = bearerToken(request);
      if (!token) throw unauthorized('missing Authorization: Bearer <api key>');
      const now = Date.now();
      let hit = cache.get(token);
      if (!hit || hit.until < now) {
        const found = await workspaceForKey(app.db, token);
        if (!found) {
          cache.delete(token);
          throw unauthorized('unknown or revoked API key');
        }
        hit = { ...found, until: now + CACHE_TTL_MS };
        cache.set(token, hit);
      }
      request.workspaceId = hit.workspaceId;
      request.apiKeyId = hit.keyId;
    });
  },
  { name: 'auth', dependencies: ['infrastructure'] },
);

declare module 'fastify' {
  interface FastifyInstance {
    authenticate(request: FastifyRequest): Promise<void>;
    forgetApiKey(keyId: string): void;
  }
}
