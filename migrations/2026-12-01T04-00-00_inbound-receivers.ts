import { sql, type Kysely } from 'kysely';

/**
 * Frozen in time: never import application code here.
 *
 * An inbound SMS is the workspace's whose sender has the receiving number (or messaging service):
 * found by number across workspaces, so indexed.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index senders_sms_number on senders ("from") where channel = 'sms' and deleted_at is null`.execute(db);
  await sql`create index senders_sms_service on senders (messaging_service_sid) where channel = 'sms' and deleted_at is null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('senders_sms_service').execute();
  await db.schema.dropIndex('senders_sms_number').execute();
}
