import { sql, type Kysely } from 'kysely';

/**
 * Frozen in time: never import application code here.
 *
 * A workspace's own request limit per API key per minute, set by the operator
 * (POST/PATCH /admin/workspaces); null: the service's RATE_LIMIT_PER_MINUTE.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('workspaces')
    .addColumn('rate_limit_per_minute', 'integer', (c) => c.check(sql`rate_limit_per_minute > 0`))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('workspaces').dropColumn('rate_limit_per_minute').execute();
}
