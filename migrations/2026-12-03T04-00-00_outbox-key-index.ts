import { sql, type Kysely } from 'kysely';

/**
 * Frozen in time: never import application code here.
 *
 * The router reaches a key's rows (its head: does it wait for a retry? the first row a batch does
 * not hold) through one index whose first column names the key: `<length of workspace_id>:
 * <workspace_id><order_key>` (the length makes the name unambiguous). Its queries compare that
 * expression only in row comparisons, which no other index can serve. With
 * (workspace_id, order_key, id) the planner, working from statistics that still described a
 * near-empty outbox right after a bulk import, chose per row a bitmap scan of every id below the
 * row (outbox_pkey) or of the whole workspace: a plan quadratic in the queued rows. It replaces
 * outbox_order_key, which nothing else used.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index outbox_key on outbox ((length(workspace_id)::text || ':' || workspace_id || order_key), id)`.execute(db);
  await db.schema.dropIndex('outbox_order_key').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('outbox_order_key').on('outbox').columns(['workspace_id', 'order_key', 'id']).execute();
  await db.schema.dropIndex('outbox_key').execute();
}
