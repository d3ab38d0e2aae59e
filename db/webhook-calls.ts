/**
 * `webhook` step calls, once per step visit (activities/webhooks.ts): an attempt claims the row
 * with a lease before it calls and writes the outcome after; only the holder of the claim writes.
 */
import { sql } from 'kysely';
import type { Selectable } from 'kysely';
import type { Db } from './connection';
import type { WebhookCallsTable } from './schema';

export type WebhookCallRow = Selectable<WebhookCallsTable>;

export interface WebhookCallKey {
  workspaceId: string;
  idempotencyKey: string;
}

/**
 * Takes the call for `attemptId` until `leaseMs` from now (database time), unless it is done or
 * another attempt's lease is live. Returns the row either way: `attempt_id === attemptId` when
 * taken.
 */
export async function claimWebhookCall(db: Db, k: WebhookCallKey & { endpointId: string; attemptId: string; leaseMs: number }): Promise<WebhookCallRow> {
  const leaseUntil = sql<Date>`now() + ${`${k.leaseMs} milliseconds`}::interval`;
  const taken = await db
    .insertInto('webhook_calls')
    .values({
      workspace_id: k.workspaceId,
      idempotency_key: k.idempotencyKey,
      endpoint_id: k.endpointId,
      status: 'calling',
      attempt_id: k.attemptId,
      lease_until: leaseUntil,
      calls: 1,
    })
    .onConflict((oc) =>
      oc
        .columns(['workspace_id', 'idempotency_key'])
        .doUpdateSet({
          status: 'calling',
          attempt_id: k.attemptId,
          lease_until: leaseUntil,
          calls: sql<number>`webhook_calls.calls + 1`,
          updated_at: sql<Date>`now()`,
        })
        .where((eb) =>
          eb.or([
            eb('webhook_calls.status', '=', 'pending'),
            eb.and([eb('webhook_calls.status', '=', 'calling'), eb('webhook_calls.lease_until', '<', sql<Date>`now()`)]),
          ]),
        ),
    )
    .returningAll()
    .executeTakeFirst();
  if (taken) return taken;
  return db
    .selectFrom('webhook_calls')
    .selectAll()
    .where('workspace_id', '=', k.workspaceId)
    .where('idempotency_key', '=', k.idempotencyKey)
    .executeTakeFirstOrThrow();
}

/**
 * The holder's outcome: `done` with what the endpoint answered, or `pending` again (a transient
 * failure: the next attempt calls again). False when the claim was no longer this attempt's.
 */
export async function settleWebhookCall(
  db: Db,
  k: WebhookCallKey & { attemptId: string },
  outcome: { status: 'done'; ok: boolean; statusCode: number | null; error: string | null } | { status: 'pending' },
): Promise<boolean> {
  const r = await db
    .updateTable('webhook_calls')
    .set({
      status: outcome.status,
      lease_until: null,
      updated_at: sql<Date>`now()`,
      ...(outcome.status === 'done' ? { ok: outcome.ok, status_code: outcome.statusCode, error: outcome.error } : {}),
    })
    .where('workspace_id', '=', k.workspaceId)
    .where('idempotency_key', '=', k.idempotencyKey)
    .where('attempt_id', '=', k.attemptId)
    .where('status', '=', 'calling')
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}
