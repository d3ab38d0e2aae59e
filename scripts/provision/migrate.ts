/**
 * Applies pending migrations to DATABASE_URL and exits: docker-compose.yml's one-shot `migrate`
 * service runs it before the API and the worker start. (`npm start` and `npm test` migrate by
 * themselves.) Usage: node --import tsx scripts/provision/migrate.ts
 */
import { ConfigError, loadConfig } from '#platform/config';
import { createDb } from '#db/connection';
import { migrateToLatest } from '#db/migrate';

async function main(): Promise<void> {
  const config = loadConfig();
  const db = createDb(config.DATABASE_URL, { max: 1 });
  try {
    const applied = await migrateToLatest(db);
    process.stdout.write(applied.length > 0 ? `migrate: applied ${applied.join(', ')}\n` : 'migrate: up to date\n');
  } finally {
    await db.destroy();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`migrate: ${err instanceof ConfigError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
