import { sql, type Kysely } from 'kysely';

/**
 * Frozen in time: never import application code here.
 *
 * A workspace's own send rate per provider (PUT /v1/settings `sendsPerSecond`); a provider's null:
 * the service's SENDGRID_SENDS_PER_SECOND / TWILIO_SENDS_PER_SECOND.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('workspaces')
    .addColumn('sends_per_second', 'jsonb', (c) => c.notNull().defaultTo(sql`'{"sendgrid": null, "twilio": null}'::jsonb`))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('workspaces').dropColumn('sends_per_second').execute();
}
