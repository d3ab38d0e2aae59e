/** The API process: config, connections, listen, graceful close. */
import { buildApp } from './app';
import { loadConfig } from '#platform/config';
import { createLogger } from '#platform/logger';
import { createDb } from '#db/connection';
import { connectTemporal } from '#platform/temporal';
import { exitOnStartupFailure, StartupError } from '#platform/startup';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'api' });
  const db = createDb(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE });
  const temporal = await connectTemporal(config);
  const app = await buildApp({ db, temporal, config, logger });

  let closing = false;
  const close = async (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    await app.close();
    await temporal.connection.close();
    await db.destroy();
    process.exit(0);
  };
  process.on('SIGINT', () => void close('SIGINT'));
  process.on('SIGTERM', () => void close('SIGTERM'));

  try {
    await app.listen({ host: config.HOST, port: config.PORT });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new StartupError(`PORT ${config.PORT} is already in use on ${config.HOST}: stop the other process or set PORT`);
    }
    throw err;
  }
}

main().catch((err: unknown) => exitOnStartupFailure('api', err));
