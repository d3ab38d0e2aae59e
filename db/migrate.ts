import { Migrator } from 'kysely';
import { migrations } from '#migrations/index';
import type { Db } from './connection';

export async function migrateToLatest(db: Db): Promise<string[]> {
  // Helpers' migrations land in any order on main while their names sort by helper prefix: a
  // database that already has a later-named one must still take an earlier-named newcomer.
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations }, allowUnorderedMigrations: true });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    const cause = error instanceof Error ? error.message : error === undefined ? 'unknown error' : JSON.stringify(error);
    throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${cause}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
