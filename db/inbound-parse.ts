/**
 * The workspace's SendGrid Inbound Parse address: a secret in the URL path names the workspace and
 * basic auth proves the caller knows the credentials. Only hashes are stored; the URL with its
 * credentials is shown once, when it is (re)generated.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Db } from './connection';
import { randomToken } from './ids';

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

/** Equal strings, compared in time independent of where they differ (both hashed first). */
const constantTimeEqual = (a: string, b: string) => timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());

/** The workspace whose Inbound Parse address (`pathSecret`) and basic-auth credentials these are, or undefined. */
export async function inboundParseWorkspace(db: Db, pathSecret: string, username: string, password: string): Promise<string | undefined> {
  const account = await db.selectFrom('inbound_parse_secrets').selectAll().where('path_secret_hash', '=', sha256(pathSecret)).executeTakeFirst();
  // Compared even when the secret is unknown, so the answer takes as long either way.
  const userOk = constantTimeEqual(username, account?.username ?? '');
  const passwordOk = constantTimeEqual(sha256(password), account?.password_hash ?? '');
  return account && userOk && passwordOk ? account.workspace_id : undefined;
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
