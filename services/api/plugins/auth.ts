import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import { hashApiKey, isWellFormedApiKey, workspaceForKey } from '#db/workspaces';
import { AuthGuard, clientBucket } from '../auth-guard';
import { HttpProblem } from '../errors';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every /v1 route: every query is scoped by it. */
    workspaceId: string;
    apiKeyId: string;
    /** The workspace's own requests per key per minute; 0: the service's RATE_LIMIT_PER_MINUTE. */
    rateLimitPerMinute: number;
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

type Refusal = 'missing' | 'malformed' | 'remembered_unknown' | 'admin_token';

/** One failure budget per address for every credential the API takes (API keys here, ADMIN_TOKEN in routes/admin.ts). */
export interface AuthFailures {
  /** Refuses an address past its budget (429 with Retry-After) before any credential is looked at; returns its bucket. */
  admit(request: FastifyRequest, now: number): string;
  record(bucket: string, now: number, reason: Refusal): void;
}

/**
 * Resolves the API key to its workspace. A short cache keeps the hot path (event ingestion) off
 * the database; revoking a key clears it here at once and on other API processes within the TTL.
 * Failures are cheap (auth-guard.ts): an address past AUTH_FAILURES_PER_MINUTE is answered 429
 * before any lookup, a malformed key is refused without one, and an unknown key is looked up once.
 * A key this process has seen valid is still looked up from a limited address: a bad neighbour
 * behind the same address does not lock a working backend out.
 */
export default fp(
  async (app) => {
    const cache = new Map<string, { workspaceId: string; keyId: string; rateLimitPerMinute: number; until: number }>();
    const guard = new AuthGuard(app.config.AUTH_FAILURES_PER_MINUTE);
    const failures: AuthFailures = {
      admit(request, now) {
        const bucket = clientBucket(request.ip);
        const wait = guard.retryAfter(bucket, now);
        if (wait > 0) {
          app.metrics.authRefusals.inc({ reason: 'address_limited' });
          throw new HttpProblem(429, 'Too Many Requests', {
            detail: `too many failed authentications from this address; retry in ${wait} s`,
            field: '/headers/authorization',
            headers: { 'retry-after': String(wait) },
          });
        }
        return bucket;
      },
      record(bucket, now, reason) {
        guard.recordFailure(bucket, now);
        app.metrics.authRefusals.inc({ reason });
      },
    };
    app.decorate('authFailures', failures);
    app.decorateRequest('workspaceId', '');
    app.decorateRequest('apiKeyId', '');
    app.decorateRequest('rateLimitPerMinute', 0);
    app.decorate('forgetApiKey', (keyId: string) => {
      for (const [k, v] of cache) if (v.keyId === keyId) cache.delete(k);
    });
    app.decorate('authenticate', async (request: FastifyRequest) => {
      const token = bearerToken(request);
      const now = Date.now();
      let hit = token === undefined ? undefined : cache.get(token);
      if (!hit || hit.until < now) {
        const bucket = hit ? clientBucket(request.ip) : failures.admit(request, now);
        const refuse = (reason: Refusal, detail: string) => {
          failures.record(bucket, now, reason);
          return unauthorized(detail);
        };
        if (token === undefined) throw refuse('missing', 'missing Authorization: Bearer <api key>');
        if (!isWellFormedApiKey(token)) throw refuse('malformed', 'not an API key (fu_ followed by 32 letters and digits)');
        const keyHash = hashApiKey(token);
        if (guard.isKnownUnknown(keyHash, now)) throw refuse('remembered_unknown', 'unknown or revoked API key');
        // Counted as a failure until it succeeds: concurrent requests cannot overrun the budget while their lookups run.
        if (!hit) guard.recordFailure(bucket, now);
        const found = await workspaceForKey(app.db, token).catch((err: unknown) => {
          // The database's failure, not the client's (the error handler answers 503 or 500).
          if (!hit) guard.forgiveFailure(bucket, now);
          throw err;
        });
        app.metrics.keyLookups.inc({ result: found ? 'found' : 'unknown' });
        if (!found) {
          cache.delete(token);
          guard.rememberUnknown(keyHash, now);
          app.metrics.authRefusals.inc({ reason: 'unknown' });
          throw unauthorized('unknown or revoked API key');
        }
        if (!hit) guard.forgiveFailure(bucket, now);
        hit = { workspaceId: found.workspaceId, keyId: found.keyId, rateLimitPerMinute: found.rateLimitPerMinute ?? 0, until: now + CACHE_TTL_MS };
        cache.set(token, hit);
      }
      request.workspaceId = hit.workspaceId;
      request.apiKeyId = hit.keyId;
      request.rateLimitPerMinute = hit.rateLimitPerMinute;
    });
  },
  { name: 'auth', dependencies: ['infrastructure', 'metrics'] },
);

declare module 'fastify' {
  interface FastifyInstance {
    authenticate(request: FastifyRequest): Promise<void>;
    authFailures: AuthFailures;
    forgetApiKey(keyId: string): void;
  }
}
