/**
 * The API's Prometheus registry (GET /metrics): the process's default metrics and the counters
 * of the authentication path, where a flood of bad keys would show.
 */
import fp from 'fastify-plugin';
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';

export interface ApiMetrics {
  registry: Registry;
  /** API key lookups sent to PostgreSQL, by result (found, unknown). */
  keyLookups: Counter<'result'>;
  /** Refused authentications by reason. */
  authRefusals: Counter<'reason'>;
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: ApiMetrics;
  }
}

export default fp(
  async (app) => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    app.decorate('metrics', {
      registry,
      keyLookups: new Counter({
        name: 'followup_api_key_lookups_total',
        help: 'API key lookups sent to PostgreSQL, by result (found, unknown)',
        labelNames: ['result'],
        registers: [registry],
      }),
      authRefusals: new Counter({
        name: 'followup_auth_refusals_total',
        help: 'Refused authentications: missing, malformed, unknown (looked up), remembered_unknown (no lookup), address_limited (429, no lookup), admin_token (a wrong ADMIN_TOKEN)',
        labelNames: ['reason'],
        registers: [registry],
      }),
    });
  },
  { name: 'metrics' },
);
