import type { Kysely } from 'kysely';

/**
 * Frozen in time: never import application code here.
 *
 * What a send does when the provider may have accepted it but never said so (the worker died
 * between the provider's answer and the database write, and no status callback came within the
 * grace period): `at_most_once` (default) marks it `uncertain` and never resends; `at_least_once`
 * sends it again (a person may get it twice).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('workspaces')
    .addColumn('delivery_guarantee', 'text', (c) => c.notNull().defaultTo('at_most_once'))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('workspaces').dropColumn('delivery_guarantee').execute();
}
