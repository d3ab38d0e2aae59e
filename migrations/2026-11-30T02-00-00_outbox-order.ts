import { sql, type Kysely } from 'kysely';

/**
 * Frozen in time: never import application code here.
 *
 * The router keeps the order of the rows that concern one thing: one record's events and changes,
 * one automation's backfill and lifecycle fan-outs. `order_key` names that thing ('r:<record>',
 * 'a:<automation>'), computed by PostgreSQL so every writer (the API's inserts, the ingestion
 * function) fills it without knowing about it. The indexes serve the router's batch query: rows
 * of a workspace in id order (fair sharing between workspaces) and the head of each key (a key
 * whose first row waits for a retry holds its later rows back). They replace (available_at, id),
 * which that query no longer uses.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table outbox add column order_key text
      generated always as (coalesce('r:' || record_id, 'a:' || (payload->>'automationId'))) stored`.execute(db);
  await db.schema.createIndex('outbox_workspace_id').on('outbox').columns(['workspace_id', 'id']).execute();
  await db.schema.createIndex('outbox_order_key').on('outbox').columns(['workspace_id', 'order_key', 'id']).execute();
  await db.schema.dropIndex('outbox_available').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('outbox_available').on('outbox').columns(['available_at', 'id']).execute();
  await db.schema.dropIndex('outbox_order_key').execute();
  await db.schema.dropIndex('outbox_workspace_id').execute();
  await db.schema.alterTable('outbox').dropColumn('order_key').execute();
}
