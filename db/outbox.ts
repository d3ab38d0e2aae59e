/**
 * The router's work queue. Whoever changes something the router must act on writes an outbox row
 * in the same transaction as the change; the router drains it (FOR UPDATE SKIP LOCKED), woken by
 * NOTIFY on OUTBOX_CHANNEL, with a polling fallback.
 */
import { sql } from 'kysely';
import type { Selectable } from 'kysely';
import type { Db } from './connection';
import { requeueDelivery } from './notifications';
import type { OutboxDeadLettersTable } from './schema';

export const OUTBOX_CHANNEL = 'followup_outbox';

export interface OutboxEvent {
  id: string;
  type: string;
  recordId: string;
  occurredAt: string;
  properties: Record<string, unknown>;
}

export type OutboxPayload =
  /** An event was stored: match `event` triggers, signal the record's running enrollments. */
  | { kind: 'event'; event: OutboxEvent }
  /** A record was created or changed: `stage_entered` / `segment_entered` triggers, `recordChanged` signals. */
  /** `previous`: the changed fields' values before the change (absent for a created record). */
  | {
      kind: 'record_changed';
      changeId: string;
      recordId: string;
      created: boolean;
      changes: Record<string, unknown>;
      previous?: Record<string, unknown>;
      at: string;
    }
  /** An automation became active with onlyNew=false: enroll every record that already matches. */
  | { kind: 'automation_backfill'; automationId: string }
  /** Fan a lifecycle change out to the automation's in-flight enrollments. */
  | { kind: 'automation_lifecycle'; automationId: string; action: 'pause' | 'resume' | 'cancel' };

function recordIdOf(p: OutboxPayload): string | null {
  if (p.kind === 'event') return p.event.recordId;
  if (p.kind === 'record_changed') return p.recordId;
  return null;
}

/** Call inside the transaction that makes the change; the NOTIFY is delivered at commit. */
export async function enqueue(db: Db, workspaceId: string, payloads: OutboxPayload[]): Promise<void> {
  if (payloads.length === 0) return;
  await db
    .insertInto('outbox')
    .values(payloads.map((p) => ({ workspace_id: workspaceId, kind: p.kind, record_id: recordIdOf(p), payload: JSON.stringify(p) })))
    .execute();
  await sql`select pg_notify(${OUTBOX_CHANNEL}, '')`.execute(db);
}

/** A row as the router takes it. */
export interface OutboxRow {
  id: number;
  workspace_id: string;
  kind: string;
  record_id: string | null;
  /** Rows of one key run in id order (migrations/2026-11-30T02-00-00_outbox-order.ts). */
  order_key: string | null;
  payload: OutboxPayload & { cursor?: string };
  attempts: number;
}

/**
 * A row's key (workspace, order_key) as the first column of the index outbox_key
 * (migrations/2026-12-03T04-00-00_outbox-key-index.ts); `table` is an alias with `workspace_id`
 * and `order_key` columns. The queries below reach a key's rows only as a range of that index,
 * bounded by row comparisons (key, id) and ordered by (key, id): no other index serves such a
 * range or such an order, so however wrong the planner's row counts (statistics taken while the
 * outbox was nearly empty, before a bulk import), it cannot instead scan every id below a row or
 * a whole workspace for each row. An equality on the key would let it drop the key from the order
 * and walk outbox_pkey instead: hence the two bounds.
 */
function keyOf(table: 'o' | 'h' | 'b') {
  return sql.raw(`(length(${table}.workspace_id)::text || ':' || ${table}.workspace_id || ${table}.order_key)`);
}

/**
 * Locks up to `limit` due rows for the caller's transaction, skipping rows another router holds.
 * Fair between workspaces: each workspace with due rows (at most `limit` of them, oldest first)
 * gets an equal share of the batch, max(1, limit / W) of its oldest rows, so one workspace's backlog
 * never stands in front of another's rows: a row is taken by the first batch that starts after it
 * is committed. A row whose key's first row waits for a retry is not taken: it would only be held
 * back again (see heldBack).
 */
export async function lockDueRows(db: Db, limit: number): Promise<OutboxRow[]> {
  // With fresh statistics of a 50,000-row backlog the plan's estimated cost passes jit_above_cost,
  // and compiling it took 2-3 s of each batch's 2.3-3.2 s (the query itself: 50 ms). For the rest
  // of the caller's transaction: its other queries are small.
  await sql`set local jit = off`.execute(db);
  const { rows } = await sql<OutboxRow>`
    with recursive due_ws(id) as (
      (select workspace_id from outbox where available_at <= now() order by workspace_id limit 1)
      union all
      select (select o.workspace_id from outbox o
              where o.workspace_id > due_ws.id and o.available_at <= now() order by o.workspace_id limit 1)
      from due_ws where due_ws.id is not null
    ), ws as (
      select w.id, (select min(o.id) from outbox o where o.workspace_id = w.id and o.available_at <= now()) as oldest
      from due_ws w where w.id is not null
    ), chosen as (
      select id from ws order by oldest limit ${limit}
    ), share as (
      select greatest(1, ${limit} / greatest(count(*), 1))::int as n from chosen
    )
    select r.* from chosen cross join share cross join lateral (
      select o.id, o.workspace_id, o.kind, o.record_id, o.order_key, o.payload, o.attempts
      from outbox o
      where o.workspace_id = chosen.id and o.available_at <= now()
        and not exists (
          select 1 from (
            select h.available_at from outbox h
            where (${keyOf('h')}, h.id) >= (${keyOf('o')}, 0) and (${keyOf('h')}, h.id) < (${keyOf('o')}, o.id)
            order by ${keyOf('h')}, h.id limit 1
          ) head where head.available_at > now())
      order by o.id
      limit share.n
      for update of o skip locked
    ) r
    order by r.id`.execute(db);
  return rows;
}

/**
 * For each key of the batch, the first row of that key the batch does not hold (waiting for a
 * retry, or locked by another router) and that comes before the batch's last row of the key:
 * the batch's rows of that key after it must wait. Keyed by `${workspace}\u0000${order_key}`.
 */
export async function heldBack(db: Db, batch: OutboxRow[]): Promise<Map<string, number>> {
  const last = new Map<string, { ws: string; key: string; id: number }>();
  for (const r of batch) {
    if (r.order_key === null) continue;
    const k = `${r.workspace_id}\u0000${r.order_key}`;
    const seen = last.get(k);
    if (!seen || seen.id < r.id) last.set(k, { ws: r.workspace_id, key: r.order_key, id: r.id });
  }
  if (last.size === 0) return new Map();
  const keys = [...last.values()];
  const { rows } = await sql<{ workspace_id: string; order_key: string; first: number }>`
    select b.workspace_id, b.order_key, f.id as first
    from unnest(${keys.map((k) => k.ws)}::text[], ${keys.map((k) => k.key)}::text[], ${keys.map((k) => k.id)}::bigint[]) as b(workspace_id, order_key, last_id)
    cross join lateral (
      select o.id from outbox o
      where (${keyOf('o')}, o.id) >= (${keyOf('b')}, 0) and (${keyOf('o')}, o.id) < (${keyOf('b')}, b.last_id)
        and o.id <> all(${batch.map((r) => r.id)}::bigint[])
      order by ${keyOf('o')}, o.id limit 1
    ) f`.execute(db);
  return new Map(rows.map((r) => [`${r.workspace_id}\u0000${r.order_key}`, Number(r.first)]));
}

/** The order key of a record's rows (migrations/2026-11-30T02-00-00_outbox-order.ts); its index serves queries by record. */
export function recordOrderKey(recordId: string): string {
  return `r:${recordId}`;
}

/** A `record_changed` row by its outbox id, with the values its change replaced (when its writer sent them). */
export interface LaterChange {
  id: number;
  previous?: Record<string, unknown>;
}

/**
 * A record's `record_changed` rows after row `afterId`, in the order the changes were made. They
 * are all still here while row `afterId` is being routed: a record's rows are routed in id order
 * and deleted once done.
 */
export async function laterRecordChanges(db: Db, workspaceId: string, recordId: string, afterId: number): Promise<LaterChange[]> {
  const rows = await db
    .selectFrom('outbox')
    .select(['id', sql<Record<string, unknown> | null>`payload->'previous'`.as('previous')])
    .where('workspace_id', '=', workspaceId)
    .where('order_key', '=', recordOrderKey(recordId))
    .where('id', '>', afterId)
    .where('kind', '=', 'record_changed')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({ id: r.id, ...(r.previous ? { previous: r.previous } : {}) }));
}

/** A failed row comes back after `delaySeconds`; its key's later rows wait for it. */
export async function rescheduleRow(db: Db, id: number, attempts: number, delaySeconds: number): Promise<void> {
  await db
    .updateTable('outbox')
    .set({ attempts, available_at: sql`now() + make_interval(secs => ${delaySeconds})` })
    .where('id', '=', id)
    .execute();
}

/** A partly done row (a backfill or fan-out page) keeps its place with the cursor it reached. */
export async function saveRowProgress(db: Db, id: number, payload: Record<string, unknown>): Promise<void> {
  await db
    .updateTable('outbox')
    .set({ payload: JSON.stringify(payload) })
    .where('id', '=', id)
    .execute();
}

export async function deleteRows(db: Db, ids: number[]): Promise<void> {
  if (ids.length > 0) await db.deleteFrom('outbox').where('id', 'in', ids).execute();
}

/** Parks a row that kept failing, with its last error; its key's later rows then run. */
export async function deadLetterRow(db: Db, row: OutboxRow, error: string): Promise<void> {
  await db
    .insertInto('outbox_dead_letters')
    .columns(['outbox_id', 'workspace_id', 'kind', 'record_id', 'payload', 'attempts', 'last_error', 'queued_at'])
    .expression((eb) =>
      eb
        .selectFrom('outbox')
        .select([
          'id',
          'workspace_id',
          'kind',
          'record_id',
          'payload',
          eb.val(row.attempts + 1).as('attempts'),
          eb.val(error.slice(0, 2000)).as('last_error'),
          'created_at',
        ])
        .where('id', '=', row.id),
    )
    .execute();
  await db.deleteFrom('outbox').where('id', '=', row.id).execute();
}

export type DeadLetter = Selectable<OutboxDeadLettersTable>;

/** Newest first, keyset by id. */
export async function listDeadLetters(db: Db, f: { beforeId?: number; limit: number }): Promise<DeadLetter[]> {
  let q = db.selectFrom('outbox_dead_letters').selectAll().orderBy('id', 'desc').limit(f.limit);
  if (f.beforeId !== undefined) q = q.where('id', '<', f.beforeId);
  return q.execute();
}

export async function countDeadLetters(db: Db): Promise<number> {
  const row = await db
    .selectFrom('outbox_dead_letters')
    .select(sql<number>`count(*)::int`.as('n'))
    .executeTakeFirstOrThrow();
  return row.n;
}

/**
 * Queues a parked row again and removes it from the dead letters: an outbox row at the end of the
 * outbox, attempts from zero (its new id); a notification delivery due now with a fresh budget.
 * Undefined when there is no such dead letter.
 */
export async function retryDeadLetter(db: Db, id: number): Promise<{ outboxId: number } | { deliveryId: string } | undefined> {
  const moved = await db.deleteFrom('outbox_dead_letters').where('id', '=', id).returningAll().executeTakeFirst();
  if (!moved) return undefined;
  if (moved.delivery_id !== null) {
    await requeueDelivery(db, moved.delivery_id);
    return { deliveryId: moved.delivery_id };
  }
  const row = await db
    .insertInto('outbox')
    .values({ workspace_id: moved.workspace_id, kind: moved.kind, record_id: moved.record_id, payload: JSON.stringify(moved.payload) })
    .returning('id')
    .executeTakeFirstOrThrow();
  await sql`select pg_notify(${OUTBOX_CHANNEL}, '')`.execute(db);
  return { outboxId: row.id };
}
