import type { Kysely } from 'kysely';

/**
 * Frozen in time: never import application code here.
 *
 * Indexes for the statistics routes (db/statistics.ts): the messages of one automation in a time
 * window, the inbound messages that answer a message, and the enrollments of a workspace started
 * or ended in a window (the running ones are found through enrollments_by_step / _by_record).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('messages_stats').on('messages').columns(['workspace_id', 'automation_id', 'created_at']).execute();
  await db.schema
    .createIndex('inbound_messages_answering')
    .on('inbound_messages')
    .columns(['workspace_id', 'message_id'])
    .where('message_id', 'is not', null)
    .execute();
  await db.schema.createIndex('enrollments_started').on('enrollments').columns(['workspace_id', 'started_at']).execute();
  await db.schema.createIndex('enrollments_ended').on('enrollments').columns(['workspace_id', 'ended_at']).where('ended_at', 'is not', null).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const index of ['enrollments_ended', 'enrollments_started', 'inbound_messages_answering', 'messages_stats']) await db.schema.dropIndex(index).execute();
}
