import type { Kysely } from 'kysely';

/**
 * Frozen in time: never import application code here.
 *
 * When the bulk enrollment of the automation's last activation (`onlyNew: false`) was cancelled
 * (POST /v1/automations/{id}/backfill/cancel, a pause or a deactivation); null when it was not.
 * Cleared by the next activation, which starts a new backfill.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('automations').addColumn('backfill_cancelled_at', 'timestamptz').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('automations').dropColumn('backfill_cancelled_at').execute();
}
