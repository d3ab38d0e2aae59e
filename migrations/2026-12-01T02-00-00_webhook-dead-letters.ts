import { sql, type Kysely } from 'kysely';

/**
 * Frozen in time: never import application code here.
 *
 * Notification deliveries that keep failing are parked in outbox_dead_letters too (delivery_id
 * instead of outbox_id), so one admin route lists and retries every poison row. A retried delivery
 * gets a fresh budget: its attempts and its day are counted from `retried_at`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('outbox_dead_letters')
    .alterColumn('outbox_id', (c) => c.dropNotNull())
    .execute();
  await db.schema
    .alterTable('outbox_dead_letters')
    .addColumn('delivery_id', 'text', (c) => c.references('webhook_deliveries.id'))
    .execute();
  await db.schema
    .alterTable('webhook_deliveries')
    .addColumn('retried_at', 'timestamptz')
    .addColumn('attempts_at_retry', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('webhook_deliveries').dropColumn('retried_at').dropColumn('attempts_at_retry').execute();
  await db.schema.alterTable('outbox_dead_letters').dropColumn('delivery_id').execute();
  await sql`delete from outbox_dead_letters where outbox_id is null`.execute(db);
  await db.schema
    .alterTable('outbox_dead_letters')
    .alterColumn('outbox_id', (c) => c.setNotNull())
    .execute();
}
