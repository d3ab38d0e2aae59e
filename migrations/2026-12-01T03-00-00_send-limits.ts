import { sql, type Kysely } from 'kysely';

/**
 * Send rate limits shared by every worker process: one row per limiter key (an SMS sender, a
 * workspace and provider). `reserved_until` is where the queue of reserved send slots ends (each
 * send reserves the next slot, in order); `free_at` is when the limiter may next let a send out,
 * from the moment the last one actually went. A message keeps the slot it reserved (`slot_at`) so
 * a retry does not queue it again. Frozen in time: never import application code here.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('send_limits')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('reserved_until', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('free_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.alterTable('messages').addColumn('slot_at', 'timestamptz').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('messages').dropColumn('slot_at').execute();
  await db.schema.dropTable('send_limits').execute();
}
