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

const KEY_TOKEN_LENGTH = 32;
const KEY_FORMAT = new RegExp(`^fu_[0-9A-Za-z]{${KEY_TOKEN_LENGTH}}$`);

/** Whether a string has the shape of a key this service mints: anything else is refused without a lookup. */
export const isWellFormedApiKey = (key: string): boolean => KEY_FORMAT.test(key);

function mintKey(): { key: string; prefix: string; hash: string } {
  const key = `fu_${randomToken(KEY_TOKEN_LENGTH)}`;
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
  input: { name: string; timezone?: string; rateLimitPerMinute?: number | null },
): Promise<WorkspaceView & { apiKey: string }> {
  return db.transaction().execute(async (trx) => {
    const ws = await trx
      .insertInto('workspaces')
      .values({
        id: newId('ws'),
        name: input.name,
        rate_limit_per_minute: input.rateLimitPerMinute ?? null,
        ...(input.timezone ? { timezone: input.timezone } : {}),
      })
      .returning(WORKSPACE_COLUMNS)
      .executeTakeFirstOrThrow();
    const key = await createApiKey(trx, ws.id, 'default');
    return { ...toWorkspaceView(ws), apiKey: key.key };
  });
}

export interface WorkspaceView {
  id: string;
  name: string;
  timezone: string;
  /** Requests per API key per minute; null: the service's RATE_LIMIT_PER_MINUTE. */
  rateLimitPerMinute: number | null;
}

const WORKSPACE_COLUMNS = ['id', 'name', 'timezone', 'rate_limit_per_minute'] as const;

const toWorkspaceView = (row: { id: string; name: string; timezone: string; rate_limit_per_minute: number | null }): WorkspaceView => ({
  id: row.id,
  name: row.name,
  timezone: row.timezone,
  rateLimitPerMinute: row.rate_limit_per_minute,
});

/** Sets (or with null clears) a workspace's own request limit; undefined for an unknown workspace. */
export async function setWorkspaceRateLimit(db: Db, workspaceId: string, rateLimitPerMinute: number | null): Promise<WorkspaceView | undefined> {
  const row = await db
    .updateTable('workspaces')
    .set({ rate_limit_per_minute: rateLimitPerMinute })
    .where('id', '=', workspaceId)
    .returning(WORKSPACE_COLUMNS)
    .executeTakeFirst();
  return row && toWorkspaceView(row);
}

export async function findWorkspaceByName(db: Db, name: string) {
  return db.selectFrom('workspaces').selectAll().where('name', '=', name).orderBy('created_at').executeTakeFirst();
}

/** The workspace an active key belongs to and its request limit, or undefined for an unknown or revoked key. */
export async function workspaceForKey(db: Db, key: string): Promise<{ workspaceId: string; keyId: string; rateLimitPerMinute: number | null } | undefined> {
  const row = await db
    .selectFrom('api_keys')
    .innerJoin('workspaces', 'workspaces.id', 'api_keys.workspace_id')
    .select(['api_keys.id', 'api_keys.workspace_id', 'workspaces.rate_limit_per_minute'])
    .where('api_keys.key_hash', '=', hashApiKey(key))
    .where('api_keys.revoked_at', 'is', null)
    .executeTakeFirst();
  return row && { workspaceId: row.workspace_id, keyId: row.id, rateLimitPerMinute: row.rate_limit_per_minute };
}

/** What templates read as `workspace.*`. */
export async function getWorkspace(db: Db, workspaceId: string) {
  return db.selectFrom('workspaces').select(['id', 'name', 'timezone']).where('id', '=', workspaceId).executeTakeFirst();
}
