/**
 * The workspace's SendGrid Inbound Parse address: a secret in the URL path names the workspace and
 * basic auth proves the caller knows the credentials. Only hashes are stored; the URL with its
 * credentials is shown once, when it is (re)generated.
 */
import { createHash } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { Db } from './connection';
import { randomToken } from './ids';
import type { InboundParseSecretsTable } from './schema';

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

export async function inboundParseAccount(db: Db, pathSecretHash: string): Promise<Selectable<InboundParseSecretsTable> | undefined> {
  return db.selectFrom('inbound_parse_secrets').selectAll().where('path_secret_hash', '=', pathSecretHash).executeTakeFirst();
}

/** Whether the workspace has an Inbound Parse address, and its user name (never the secrets). */
export async function inboundParseState(db: Db, workspaceId: string): Promise<{ username: string; created_at: Date } | undefined> {
  return db.selectFrom('inbound_parse_secrets').select(['username', 'created_at']).where('workspace_id', '=', workspaceId).executeTakeFirst();
}

/** New secret and credentials for the workspace (the old ones stop working). */
export async function rotateInboundParseAccount(
  db: Db,
  workspaceId: string,
): Promise<{ pathSecret: string; username: string; password: string; createdAt: Date }> {
  const pathSecret = randomToken(32);
  const username = `ws-${randomToken(8)}`;
  const password = randomToken(32);
  const row = { path_secret_hash: sha256(pathSecret), username, password_hash: sha256(password), created_at: new Date() };
  await db
    .insertInto('inbound_parse_secrets')
    .values({ workspace_id: workspaceId, ...row })
    .onConflict((oc) => oc.column('workspace_id').doUpdateSet(row))
    .execute();
  return { pathSecret, username, password, createdAt: row.created_at };
}
