/** The workspace's API keys (creation lives in db/workspaces.ts: createApiKey). Only hashes are stored. */
import { sql } from 'kysely';
import type { Db } from './connection';
import { cursorAt, keysetPage, type Cursor } from './keyset';

/** Microsecond ISO text of created_at: the keyset cursor (a JS Date would drop microseconds). */
const CURSOR_AT = cursorAt('created_at');

/** Oldest first by (created_at, id), revoked keys included; `limit + 1` rows. */
export async function listApiKeys(db: Db, workspaceId: string, f: { after?: Cursor; limit: number }) {
  const q = db
    .selectFrom('api_keys')
    .select(['id', 'name', 'prefix', 'created_at', 'revoked_at', CURSOR_AT.as('cursor_at')])
    .where('workspace_id', '=', workspaceId);
  return keysetPage(q, { at: 'created_at', id: 'id', order: 'asc' }, f.after, f.limit + 1).execute();
}

/** Revokes a key of this workspace; false when there is no such key here. Revoking twice keeps the first time. */
export async function revokeApiKey(db: Db, workspaceId: string, id: string): Promise<boolean> {
  const row = await db
    .updateTable('api_keys')
    .set({ revoked_at: sql`coalesce(revoked_at, now())` })
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}
