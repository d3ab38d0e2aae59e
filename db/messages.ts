/** The messages table: one row per send, written by the send activities (activities/messages.ts), read by the API. */
import { sql, type Insertable, type Updateable } from 'kysely';
import type { Db } from './connection';
import type { MessageRow, MessagesTable, MessageStatus } from './schema';
import { cursorAt, keysetPage, type Cursor } from './keyset';

const CURSOR_AT = cursorAt('created_at');

export interface MessageFilter {
  recordId?: string;
  automationId?: string;
  enrollmentId?: string;
  channel?: string;
  status?: MessageStatus;
  /** Cursor: the (created_at, id) of the last message of the previous page. */
  before?: Cursor;
  limit: number;
}

/** Newest first by (created_at, id); `limit + 1` rows. */
export async function listMessages(db: Db, workspaceId: string, f: MessageFilter) {
  let q = db.selectFrom('messages').selectAll().select(CURSOR_AT.as('cursor_at')).where('workspace_id', '=', workspaceId);
  if (f.recordId !== undefined) q = q.where('record_id', '=', f.recordId);
  if (f.automationId !== undefined) q = q.where('automation_id', '=', f.automationId);
  if (f.enrollmentId !== undefined) q = q.where('enrollment_id', '=', f.enrollmentId);
  if (f.channel !== undefined) q = q.where('channel', '=', f.channel);
  if (f.status !== undefined) q = q.where('status', '=', f.status);
  return keysetPage(q, { at: 'created_at', id: 'id', order: 'desc' }, f.before, f.limit + 1).execute();
}

export async function getMessage(db: Db, workspaceId: string, id: string) {
  return db
    .selectFrom('messages')
    .selectAll()
    .select(CURSOR_AT.as('cursor_at'))
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .executeTakeFirst();
}

/** Sends of an ended enrollment still waiting for a retry never go out. */
export async function cancelQueuedMessages(db: Db, enrollmentId: string, error: string, now: Date): Promise<void> {
  await db
    .updateTable('messages')
    .set({ status: 'cancelled', error, updated_at: now })
    .where('enrollment_id', '=', enrollmentId)
    .where('status', '=', 'queued')
    .execute();
}

export async function messageByKey(db: Db, idempotencyKey: string): Promise<MessageRow | undefined> {
  return db.selectFrom('messages').selectAll().where('idempotency_key', '=', idempotencyKey).executeTakeFirst();
}

/** The send's row under its idempotency key: this one inserted, or the one an earlier attempt inserted. */
export async function insertMessageOnce(db: Db, row: Insertable<MessagesTable> & { idempotency_key: string }): Promise<MessageRow> {
  await db
    .insertInto('messages')
    .values(row)
    .onConflict((oc) => oc.column('idempotency_key').doNothing())
    .execute();
  return db.selectFrom('messages').selectAll().where('idempotency_key', '=', row.idempotency_key).executeTakeFirstOrThrow();
}

/** Takes a queued message for one attempt, leased for `leaseSeconds` (database time); undefined when it was not queued. */
export async function claimQueuedMessage(db: Db, id: string, attemptId: string, leaseSeconds: number, now: Date): Promise<MessageRow | undefined> {
  return db
    .updateTable('messages')
    .set({ status: 'sending', attempt_id: attemptId, lease_until: sql<Date>`now() + make_interval(secs => ${leaseSeconds})`, updated_at: now })
    .where('id', '=', id)
    .where('status', '=', 'queued')
    .returningAll()
    .executeTakeFirst();
}

/** The message with the milliseconds its lease has left (negative once it ran out). */
export async function messageWithLease(db: Db, id: string): Promise<MessageRow & { lease_left_ms: number | null }> {
  return db
    .selectFrom('messages')
    .selectAll()
    .select(sql<number | null>`(extract(epoch from (lease_until - now())) * 1000)::float8`.as('lease_left_ms'))
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
}

/** Writes the outcome of a message nobody claimed yet (still `queued`); undefined when it is not queued. */
export async function updateQueuedMessage(db: Db, id: string, patch: Updateable<MessagesTable>): Promise<MessageRow | undefined> {
  return db.updateTable('messages').set(patch).where('id', '=', id).where('status', '=', 'queued').returningAll().executeTakeFirst();
}

/** Writes an attempt's outcome while it still holds the claim; undefined when another attempt holds it. */
export async function updateClaimedMessage(db: Db, id: string, attemptId: string, patch: Updateable<MessagesTable>): Promise<MessageRow | undefined> {
  return db.updateTable('messages').set(patch).where('id', '=', id).where('attempt_id', '=', attemptId).returningAll().executeTakeFirst();
}

/**
 * How many other messages a provider lookup cannot tell from this one (same channel, recipient and
 * sender, and for SMS the same body) have an unknown outcome of their own (`sending` or `uncertain`,
 * no provider id) and were last attempted since `since`: one of their requests may be what the
 * lookup found.
 */
export async function unresolvedLookalikes(db: Db, row: MessageRow, since: Date): Promise<number> {
  const { n } = await db
    .selectFrom('messages')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('channel', '=', row.channel)
    .where('to', '=', row.to)
    .where('workspace_id', '=', row.workspace_id)
    .where('id', '<>', row.id)
    .where('sender_id', 'is not distinct from', row.sender_id)
    .$if(row.channel === 'sms', (q) => q.where('body', 'is not distinct from', row.body))
    .where('status', 'in', ['sending', 'uncertain'])
    .where('provider_id', 'is', null)
    .where('updated_at', '>=', since)
    .executeTakeFirstOrThrow();
  return Number(n);
}

/** Which of these provider ids another message of the workspace already holds (a lookup's candidates that are not this message). */
export async function providerIdsHeldElsewhere(db: Db, workspaceId: string, providerIds: string[], exceptId: string): Promise<Set<string>> {
  if (providerIds.length === 0) return new Set();
  const rows = await db
    .selectFrom('messages')
    .select('provider_id')
    .where('workspace_id', '=', workspaceId)
    .where('provider_id', 'in', providerIds)
    .where('id', '<>', exceptId)
    .execute();
  return new Set(rows.map((r) => r.provider_id!));
}
