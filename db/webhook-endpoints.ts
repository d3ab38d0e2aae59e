/** The backend's URLs for outbound, HMAC-signed notifications. Deleting keeps the row (deleted_at). */
import { sql, type Selectable } from 'kysely';
import type { Db } from './connection';
import { newId, randomToken } from './ids';
import type { WebhookEndpointsTable } from './schema';
import { cursorAt, keysetPage, type Cursor } from './keyset';

export type WebhookEndpointRow = Selectable<WebhookEndpointsTable>;

const CURSOR_AT = cursorAt('created_at');

/** Creates an endpoint with a fresh signing secret (returned here; readers never get it back from the API). */
export async function createWebhookEndpoint(
  db: Db,
  workspaceId: string,
  input: { url: string; description?: string | null; events?: string[] },
): Promise<WebhookEndpointRow> {
  return db
    .insertInto('webhook_endpoints')
    .values({
      id: newId('whe'),
      workspace_id: workspaceId,
      url: input.url,
      secret: `whsec_${randomToken(32)}`,
      description: input.description ?? null,
      events: JSON.stringify(input.events ?? []),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function getWebhookEndpoint(db: Db, workspaceId: string, id: string): Promise<WebhookEndpointRow | undefined> {
  return db
    .selectFrom('webhook_endpoints')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
}

/** Live endpoints, oldest first by (created_at, id); `limit + 1` rows. */
export async function listWebhookEndpoints(db: Db, workspaceId: string, f: { after?: Cursor; limit: number }) {
  const q = db
    .selectFrom('webhook_endpoints')
    .selectAll()
    .select(CURSOR_AT.as('cursor_at'))
    .where('workspace_id', '=', workspaceId)
    .where('deleted_at', 'is', null);
  return keysetPage(q, { at: 'created_at', id: 'id', order: 'asc' }, f.after, f.limit + 1).execute();
}

/** A new secret; the old one keeps signing (as a second signature) for `overlapMs`. */
export async function rotateWebhookSecret(db: Db, workspaceId: string, id: string, overlapMs: number): Promise<WebhookEndpointRow | undefined> {
  return db
    .updateTable('webhook_endpoints')
    .set((eb) => ({
      previous_secret: eb.ref('secret'),
      previous_secret_expires_at: sql<Date>`now() + make_interval(secs => ${overlapMs / 1000})`,
      secret: `whsec_${randomToken(32)}`,
    }))
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
}

/** Marks the endpoint deleted; false when there is no live endpoint with this id here. */
export async function deleteWebhookEndpoint(db: Db, workspaceId: string, id: string): Promise<boolean> {
  const row = await db
    .updateTable('webhook_endpoints')
    .set({ deleted_at: new Date() })
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}
