/** Read side of the messages table (one row per send; written by the send activities). */
import { sql } from 'kysely';
import type { Db } from './connection';
import type { MessageStatus } from './schema';

const CURSOR_AT = sql<string>`to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

export interface MessageFilter {
  recordId?: string;
  automationId?: string;
  enrollmentId?: string;
  channel?: string;
  status?: MessageStatus;
  /** Cursor: the (created_at, id) of the last message of the previous page. */
  before?: { at: string; id: string };
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
  if (f.before) q = q.where(sql<boolean>`(created_at, id) < (${f.before.at}::timestamptz, ${f.before.id})`);
  return q
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(f.limit + 1)
    .execute();
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
