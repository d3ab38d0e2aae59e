/** Users: the workspace's staff (task assignees, 'email to user' recipients, record owners). */
import type { Selectable } from 'kysely';
import type { Db } from './connection';
import { newId } from './ids';
import type { UsersTable } from './schema';

export type UserRow = Selectable<UsersTable>;

export interface UserFields {
  name: string;
  email?: string | null;
  phone?: string | null;
  timezone?: string | null;
}

/** Inserts a user; undefined when the id is taken in this workspace. */
export async function createUser(db: Db, workspaceId: string, input: UserFields & { id?: string }): Promise<UserRow | undefined> {
  return db
    .insertInto('users')
    .values({
      workspace_id: workspaceId,
      id: input.id ?? newId('usr'),
      name: input.name,
      email: input.email ?? null,
      phone: input.phone ?? null,
      timezone: input.timezone ?? null,
    })
    .onConflict((oc) => oc.columns(['workspace_id', 'id']).doNothing())
    .returningAll()
    .executeTakeFirst();
}

export async function getUser(db: Db, workspaceId: string, id: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
}

/** The id of the workspace's user with this email (a task assigned `{ email }`). */
export async function userIdByEmail(db: Db, workspaceId: string, email: string): Promise<string | undefined> {
  const row = await db.selectFrom('users').select('id').where('workspace_id', '=', workspaceId).where('email', '=', email).executeTakeFirst();
  return row?.id;
}

/** Ordered by id; `limit + 1` rows. */
export async function listUsers(db: Db, workspaceId: string, f: { after?: string; limit: number }): Promise<UserRow[]> {
  let q = db.selectFrom('users').selectAll().where('workspace_id', '=', workspaceId);
  if (f.after !== undefined) q = q.where('id', '>', f.after);
  return q
    .orderBy('id')
    .limit(f.limit + 1)
    .execute();
}

/** Replaces the user's fields (absent optional fields become null). */
export async function replaceUser(db: Db, workspaceId: string, id: string, input: UserFields): Promise<UserRow | undefined> {
  return db
    .updateTable('users')
    .set({ name: input.name, email: input.email ?? null, phone: input.phone ?? null, timezone: input.timezone ?? null, updated_at: new Date() })
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

export type DeleteUserOutcome = 'deleted' | 'not_found' | { owns: number; openTasks: number };

/** Deletes a user who owns no record and has no open task; otherwise says what still refers to them. */
export async function deleteUser(db: Db, workspaceId: string, id: string): Promise<DeleteUserOutcome> {
  return db.transaction().execute(async (trx) => {
    const user = await trx.selectFrom('users').select('id').where('workspace_id', '=', workspaceId).where('id', '=', id).forUpdate().executeTakeFirst();
    if (!user) return 'not_found';
    const owns = await trx
      .selectFrom('records')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('workspace_id', '=', workspaceId)
      .where('owner_id', '=', id)
      .executeTakeFirstOrThrow();
    const open = await trx
      .selectFrom('tasks')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('workspace_id', '=', workspaceId)
      .where('assignee_id', '=', id)
      .where('status', '=', 'open')
      .executeTakeFirstOrThrow();
    if (Number(owns.n) > 0 || Number(open.n) > 0) return { owns: Number(owns.n), openTasks: Number(open.n) };
    await trx.deleteFrom('users').where('workspace_id', '=', workspaceId).where('id', '=', id).execute();
    return 'deleted';
  });
}
