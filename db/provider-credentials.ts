/** A workspace's own provider credentials, sealed (providers/credentials.ts); never read back by the API. */
import type { Provider } from '#domain/delivery';
import type { Db } from './connection';

export async function putProviderCredentials(db: Db, workspaceId: string, provider: Provider, sealed: string): Promise<Date> {
  const row = await db
    .insertInto('provider_credentials')
    .values({ workspace_id: workspaceId, provider, sealed, updated_at: new Date() })
    .onConflict((oc) => oc.columns(['workspace_id', 'provider']).doUpdateSet({ sealed, updated_at: new Date() }))
    .returning('updated_at')
    .executeTakeFirstOrThrow();
  return row.updated_at;
}

export async function providerCredentials(db: Db, workspaceId: string) {
  return db.selectFrom('provider_credentials').select(['provider', 'sealed', 'updated_at']).where('workspace_id', '=', workspaceId).execute();
}
