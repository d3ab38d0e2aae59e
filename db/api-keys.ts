/** The workspace's API keys (creation lives in db/workspaces.ts: createApiKey). Only hashes are stored. */
import { sql } from 'kysely';
import type { Db } from './connection';
import { cursorAt } from './cursor';

/** Microsecond ISO text of created_at: the keyset cursor (a JS Date would drop microseconds). */
const CURSOR_AT = cursorAt('created_at');

/** Oldest first by (created_at, id), revoked keys included; `limit + 1` rows. */
export async function listApiKeys(db: Db, workspaceId: string, f: { after?: { at: string; id: string }; limit: number }) {
  let q = db
    .selectFrom('api_keys')
    .select(['id', 'name', 'prefix', 'created_at', 'revoked_at', CURSOR_AT.as('cursor_at')])
    .where('workspace_id', '=', workspaceId);
  if (f.after) q = q.where(sql<boolean>`(created_at, id) > (${f.after.at}::timestamptz, ${f.after.id})`);
  return q
    .orderBy('created_at')
    .orderBy('id')
    .limit(f.limit + 1)
    .execute();
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
