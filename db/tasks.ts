/** Tasks for staff (created by task steps); the API lists them and changes their status. */
import { sql, type Insertable } from 'kysely';
import type { Db } from './connection';
import type { TaskRow, TasksTable } from './schema';
import { cursorAt, keysetPage, type Cursor } from './keyset';

const CURSOR_AT = cursorAt('created_at');

export const TASK_STATUSES = ['open', 'done', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export interface TaskFilter {
  assignee?: string;
  status?: string;
  recordId?: string;
  before?: Cursor;
  limit: number;
}

/** Newest first by (created_at, id); `limit + 1` rows. */
export async function listTasks(db: Db, workspaceId: string, f: TaskFilter) {
  let q = db.selectFrom('tasks').selectAll().select(CURSOR_AT.as('cursor_at')).where('workspace_id', '=', workspaceId);
  if (f.assignee !== undefined) q = q.where('assignee_id', '=', f.assignee);
  if (f.status !== undefined) q = q.where('status', '=', f.status);
  if (f.recordId !== undefined) q = q.where('record_id', '=', f.recordId);
  return keysetPage(q, { at: 'created_at', id: 'id', order: 'desc' }, f.before, f.limit + 1).execute();
}

export async function getTask(db: Db, workspaceId: string, id: string): Promise<TaskRow | undefined> {
  return db.selectFrom('tasks').selectAll().where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
}

/** The task a step created (its idempotency key). */
export async function taskByKey(db: Db, idempotencyKey: string): Promise<TaskRow | undefined> {
  return db.selectFrom('tasks').selectAll().where('idempotency_key', '=', idempotencyKey).executeTakeFirst();
}

/** Inserts the task; undefined when its idempotency key is taken (a retried step). */
export async function insertTask(db: Db, task: Insertable<TasksTable>): Promise<TaskRow | undefined> {
  return db
    .insertInto('tasks')
    .values(task)
    .onConflict((oc) => oc.column('idempotency_key').doNothing())
    .returningAll()
    .executeTakeFirst();
}

/** Sets the status; `completed_at` is set when it becomes done or cancelled and cleared when reopened. */
export async function setTaskStatus(db: Db, workspaceId: string, id: string, status: TaskStatus): Promise<TaskRow | undefined> {
  return db
    .updateTable('tasks')
    .set({
      status,
      completed_at: status === 'open' ? null : sql`case when status = ${status} then completed_at else now() end`,
    })
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}
