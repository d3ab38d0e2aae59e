import { sql, type Kysely } from 'kysely';

/**
 * Frozen in time: never import application code here.
 *
 * `webhook` steps, called once per step visit: the attempt that calls claims the row keyed by the
 * step's idempotency key (`<enrollment>:<step>:<visit>`) with a lease, and writes the outcome
 * after the answer. A retry of the activity (its completion was lost when Temporal's store was
 * down, or the worker died) that finds the outcome returns it without calling again.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('webhook_calls')
    .addColumn('workspace_id', 'text', (c) => c.notNull())
    .addColumn('idempotency_key', 'text', (c) => c.notNull())
    .addColumn('endpoint_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempt_id', 'text')
    .addColumn('lease_until', 'timestamptz')
    .addColumn('calls', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('ok', 'boolean')
    .addColumn('status_code', 'integer')
    .addColumn('error', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('webhook_calls_pkey', ['workspace_id', 'idempotency_key'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('webhook_calls').execute();
}
