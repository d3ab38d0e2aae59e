import { sql, type Kysely } from 'kysely';

/**
 * Frozen in time: never import application code here.
 *
 * Workspace settings (GET/PUT /v1/settings) as columns of `workspaces`, each jsonb object merged
 * key by key on update:
 *   - channels: which message channels the workspace has switched on (all on by default);
 *   - quiet_hours: per channel { start, end } local times in the recipient's zone, or null for
 *     none; a new (and every existing) workspace starts with SMS and voicemail quiet 21:00-08:00,
 *     which covers US calling-hour rules and the Romanian seed's 23:00-07:30;
 *   - default_senders: per channel the sender id used when a step names none;
 *   - sms_help_text: the answer to an SMS HELP (null: the service's built-in text).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('workspaces')
    .addColumn('channels', 'jsonb', (c) => c.notNull().defaultTo(sql`'{"email":true,"sms":true,"voicemail":true}'::jsonb`))
    .addColumn('quiet_hours', 'jsonb', (c) =>
      c.notNull().defaultTo(sql`'{"email":null,"sms":{"start":"21:00","end":"08:00"},"voicemail":{"start":"21:00","end":"08:00"}}'::jsonb`),
    )
    .addColumn('default_senders', 'jsonb', (c) => c.notNull().defaultTo(sql`'{"email":null,"sms":null,"voicemail":null}'::jsonb`))
    .addColumn('sms_help_text', 'text')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('workspaces').dropColumn('channels').dropColumn('quiet_hours').dropColumn('default_senders').dropColumn('sms_help_text').execute();
}
