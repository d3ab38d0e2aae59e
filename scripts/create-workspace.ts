/**
 * `npm run workspace:create -- --name "Sparkle Cleaning" [--timezone Europe/Bucharest]`
 * Creates a workspace and its first API key directly in DATABASE_URL's database (migrating it
 * first) and prints the key once. The same thing over HTTP: POST /admin/workspaces with ADMIN_TOKEN.
 */
import { parseArgs } from 'node:util';
import { IANAZone } from 'luxon';
import { createDb } from '#db/connection';
import { migrateToLatest } from '#db/migrate';
import { createWorkspaceWithKey } from '#db/workspaces';

function fail(message: string): never {
  process.stderr.write(`workspace:create: ${message}\n`);
  process.exit(1);
}

const USAGE = 'usage: npm run workspace:create -- --name <name> [--timezone <IANA zone>] [--json]   (needs DATABASE_URL)';

async function main(): Promise<void> {
  let values: { name?: string; timezone?: string; json?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: { name: { type: 'string' }, timezone: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const name = values.name?.trim();
  if (!name) fail(`--name is required\n${USAGE}`);
  if (values.timezone && !IANAZone.isValidZone(values.timezone)) fail(`--timezone: "${values.timezone}" is not an IANA time zone (e.g. Europe/Bucharest)`);
  const url = process.env.DATABASE_URL;
  if (!url) fail(`DATABASE_URL is not set (postgres://user:password@host:port/database)\n${USAGE}`);

  const db = createDb(url, { max: 1 });
  try {
    await migrateToLatest(db);
    const ws = await createWorkspaceWithKey(db, { name, ...(values.timezone ? { timezone: values.timezone } : {}) });
    if (values.json) {
      process.stdout.write(`${JSON.stringify(ws)}\n`);
    } else {
      process.stdout.write(`workspace ${ws.id} "${ws.name}" (${ws.timezone})\napi key   ${ws.apiKey}\n(shown once: only its hash is stored)\n`);
    }
  } catch (err) {
    fail((err as Error).message);
  } finally {
    await db.destroy();
  }
}

await main();
