/**
 * The worker process: the Temporal worker (enrollment workflows and their activities) and the
 * outbox router. Stops gracefully on SIGINT/SIGTERM: the router finishes its batch, the worker
 * finishes its in-flight activities (up to the grace time), connections close.
 */
import { loadConfig, redact } from '#platform/config';
import { createLogger } from '#platform/logger';
import { connectTemporal } from '#platform/temporal';
import { exitOnStartupFailure, StartupError } from '#platform/startup';
import { createDb, ping } from '#db/connection';
import { startEngine } from './worker';
import { serveMetrics } from './metrics';

async function checkDatabase(url: string): Promise<void> {
  const db = createDb(url, { max: 1 });
  try {
    await ping(db);
  } catch (err) {
    throw new StartupError(`PostgreSQL is not reachable at DATABASE_URL=${redact(url)}: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await db.destroy();
  }
}

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'worker' });
  await checkDatabase(config.DATABASE_URL);
  const temporal = await connectTemporal(config);
  const engine = await startEngine({ config, logger, temporal });
  const metricsServer = serveMetrics(engine.metrics.registry, config.HOST, config.WORKER_METRICS_PORT, logger);
  logger.info({ taskQueue: config.TEMPORAL_TASK_QUEUE, namespace: config.TEMPORAL_NAMESPACE, temporal: config.TEMPORAL_ADDRESS }, 'worker started');

  let closing = false;
  const close = async (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      logger.error('shutdown took longer than 30 s; exiting');
      process.exit(1);
    }, 30_000);
    force.unref();
    await engine.shutdown();
    metricsServer.close();
    await temporal.connection.close();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void close('SIGINT'));
  process.on('SIGTERM', () => void close('SIGTERM'));

  engine.done.catch((err: unknown) => {
    logger.fatal({ err }, 'worker stopped on an error');
    process.exit(1);
  });
}

main().catch((err: unknown) => exitOnStartupFailure('worker', err));
