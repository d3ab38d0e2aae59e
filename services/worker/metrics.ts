/**
 * The worker's Prometheus endpoint (WORKER_METRICS_PORT): the rows the router and the notifier
 * parked, and the size of the dead-letter table, read at scrape time.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from 'pino';
import type { Db } from '#db/connection';
import { countDeadLetters } from '#db/outbox';

export interface WorkerMetrics {
  registry: Registry;
  deadLettered: Counter;
  notificationsDeadLettered: Counter;
}

export function createWorkerMetrics(db: Db): WorkerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const deadLettered = new Counter({
    name: 'followup_router_dead_lettered_total',
    help: 'Outbox rows this process parked in outbox_dead_letters after ROUTER_MAX_ATTEMPTS failures',
    registers: [registry],
  });
  const notificationsDeadLettered = new Counter({
    name: 'followup_notifier_dead_lettered_total',
    help: 'Notification deliveries this process parked in outbox_dead_letters after WEBHOOK_MAX_ATTEMPTS failures or a day',
    registers: [registry],
  });
  new Gauge({
    name: 'followup_outbox_dead_letters',
    help: 'Outbox rows and notification deliveries in outbox_dead_letters now (GET /admin/dead-letters lists them)',
    registers: [registry],
    async collect() {
      this.set(await countDeadLetters(db));
    },
  });
  return { registry, deadLettered, notificationsDeadLettered };
}

/** Serves GET /metrics on the port; a port in use is logged, not fatal (the worker's real work goes on). */
export function serveMetrics(registry: Registry, host: string, port: number, logger: Pick<Logger, 'info' | 'error'>): Server {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`),
    );
  });
  server.on('error', (err) => logger.error({ err, port }, 'worker metrics: cannot listen; /metrics is off in this process'));
  server.listen(port, host, () => {
    const address = server.address();
    logger.info({ port: typeof address === 'object' && address ? address.port : port }, 'worker metrics on /metrics');
  });
  return server;
}
