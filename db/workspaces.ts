import { createHash } from 'node:crypto';
import type { Db } from './connection';
import { newId, randomToken } from './ids';

export interface ApiKeyView {
  id: string;
  name: string;
  prefix: string;
  createdAt: Date;
  revokedAt: Date | null;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

function mintKey(): { key: string; prefix: string; hash: string } {
  const key = `fu_${randomToken(32)}`;
  return { key, prefix: key.slice(0, 10), hash: hashApiKey(key) };
}

/** Creates an API key; the full key is returned here and never again (only its hash is stored). */
export async function createApiKey(db: Db, workspaceId: string, name: string): Promise<ApiKeyView & { key: string }> {
  const { key, prefix, hash } = mintKey();
  const row = await db
    .insertInto('api_keys')
    .values({ id: newId('key'), workspace_id: workspaceId, name, prefix, key_hash: hash })
    .returning(['id', 'name', 'prefix', 'created_at', 'revoked_at'])
    .executeTakeFirstOrThrow();
  return { id: row.id, name: row.name, prefix: row.prefix, createdAt: row.created_at, revokedAt: row.revoked_at, key };
}

export async function createWorkspaceWithKey(
  db: Db,
  input: { name: string; timezone?: string },
): Promise<{ id: string; name: string; timezone: string; apiKey: string }> {
  return db.transaction().execute(async (trx) => {
    const ws = await trx
      .insertInto('workspaces')
      .values({ id: newId('ws'), name: input.name, ...(input.timezone ? { timezone: input.timezone } : {}) })
      .returning(['id', 'name', 'timezone'])
      .executeTakeFirstOrThrow();
    const key = await createApiKey(trx, ws.id, 'default');
    return { ...ws, apiKey: key.key };
  });
}

export async function findWorkspaceByName(db: Db, name: string) {
  return db.selectFrom('workspaces').selectAll().where('name', '=', name).orderBy('created_at').executeTakeFirst();
}

/** The workspace an active key belongs to, or undefined for an unknown or revoked key. */
export async function workspaceForKey(db: Db, key: string): Promise<{ workspaceId: string; keyId: string } | undefined> {
  const row = await db
    .selectFrom('api_keys')
    .select(['id', 'workspace_id'])
    .where('key_hash', '=', hashApiKey(key))
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return row && { workspaceId: row.workspace_id, keyId: row.id };
}

/** What templates read as `workspace.*`. */
export async function getWorkspace(db: Db, workspaceId: string) {
  return db.selectFrom('workspaces').select(['id', 'name', 'timezone']).where('id', '=', workspaceId).executeTakeFirst();
}
