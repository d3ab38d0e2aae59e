import { sql, type Kysely } from 'kysely';

/**
 * Delivery: the send claim on messages (attempt id + lease), what the provider said (error code,
 * encoding), test sends; sender identities; workspaces' own provider credentials (sealed).
 * Frozen in time: never import application code here.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('messages')
    .addColumn('attempt_id', 'text')
    .addColumn('lease_until', 'timestamptz')
    .addColumn('error_code', 'text')
    .addColumn('encoding', 'text')
    .addColumn('sender_id', 'text')
    .addColumn('test', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute();

  await db.schema
    .createTable('senders')
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('from', 'text')
    .addColumn('name', 'text')
    .addColumn('reply_to', 'text')
    .addColumn('messaging_service_sid', 'text')
    .addColumn('kind', 'text')
    .addColumn('segments_per_second', 'real')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('deleted_at', 'timestamptz')
    .addPrimaryKeyConstraint('senders_pk', ['workspace_id', 'id'])
    .execute();

  await db.schema
    .createTable('provider_credentials')
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('sealed', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('provider_credentials_pk', ['workspace_id', 'provider'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('provider_credentials').execute();
  await db.schema.dropTable('senders').execute();
  await db.schema
    .alterTable('messages')
    .dropColumn('attempt_id')
    .dropColumn('lease_until')
    .dropColumn('error_code')
    .dropColumn('encoding')
    .dropColumn('sender_id')
    .dropColumn('test')
    .execute();
}
