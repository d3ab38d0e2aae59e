import { sql, type Kysely } from 'kysely';

/**
 * Frozen in time: never import application code here.
 *
 * What comes back from the providers: status events per message, inbound replies, the suppression
 * list, and the per-workspace secret of SendGrid's Inbound Parse URL.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // One row per provider event; `dedupe_key` makes a replayed webhook a no-op
  // (`sendgrid:<sg_event_id>`, `twilio:<MessageSid|CallSid>:<status>`).
  await db.schema
    .createTable('message_events')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('workspace_id', 'text', (c) => c.notNull())
    .addColumn('message_id', 'text', (c) => c.notNull().references('messages.id'))
    .addColumn('dedupe_key', 'text', (c) => c.notNull().unique())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('url', 'text')
    .addColumn('bounce_type', 'text')
    .addColumn('code', 'text')
    .addColumn('reason', 'text')
    .addColumn('occurred_at', 'timestamptz', (c) => c.notNull())
    .addColumn('received_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('payload', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .execute();
  await db.schema.createIndex('message_events_message').on('message_events').columns(['message_id', 'occurred_at']).execute();

  // The voicemail call's outcome (voicemail_left, human_answered, no_answer, busy, failed).
  await db.schema.alterTable('messages').addColumn('outcome', 'text').execute();

  // Inbound SMS and email, matched to a record when the sender is known (record_id null otherwise).
  await db.schema
    .createTable('inbound_messages')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('workspace_id', 'text', (c) => c.notNull())
    .addColumn('provider_id', 'text', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('from', 'text', (c) => c.notNull())
    .addColumn('to', 'text', (c) => c.notNull())
    .addColumn('text', 'text')
    .addColumn('record_id', 'text')
    .addColumn('message_id', 'text')
    .addColumn('event_id', 'text')
    .addColumn('keyword', 'text')
    .addColumn('received_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('inbound_messages_provider_unique', ['workspace_id', 'channel', 'provider_id'])
    .execute();
  await db.schema.createIndex('inbound_messages_list').on('inbound_messages').columns(['workspace_id', 'received_at']).execute();

  await db.schema
    .createTable('suppressions')
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('address', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('suppressions_pk', ['workspace_id', 'channel', 'address'])
    .execute();
  await db.schema.createIndex('suppressions_list').on('suppressions').columns(['workspace_id', 'created_at']).execute();

  await db.schema
    .createTable('inbound_parse_secrets')
    .addColumn('workspace_id', 'text', (c) => c.primaryKey().references('workspaces.id'))
    .addColumn('path_secret_hash', 'text', (c) => c.notNull().unique())
    .addColumn('username', 'text', (c) => c.notNull())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  // Finding the records behind a sender's address.
  await sql`create index records_email on records (workspace_id, lower(email))`.execute(db);
  await db.schema.createIndex('records_phone').on('records').columns(['workspace_id', 'phone']).execute();
  await db.schema.createIndex('messages_to').on('messages').columns(['channel', 'to', 'created_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('messages_to').execute();
  await db.schema.dropIndex('records_phone').execute();
  await db.schema.dropIndex('records_email').execute();
  for (const table of ['inbound_parse_secrets', 'suppressions', 'inbound_messages', 'message_events']) await db.schema.dropTable(table).execute();
  await db.schema.alterTable('messages').dropColumn('outcome').execute();
}
