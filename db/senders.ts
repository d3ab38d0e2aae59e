/** Sender identities (DESIGN §5 `/v1/senders`). */
import type { Db } from './connection';
import type { SenderChannel, SenderRow } from './schema';

export async function getSender(db: Db, workspaceId: string, id: string): Promise<SenderRow | undefined> {
  return db.selectFrom('senders').selectAll().where('workspace_id', '=', workspaceId).where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
}

/** The workspace's first sender for a channel: the default until one is chosen in /v1/settings. */
export async function firstSender(db: Db, workspaceId: string, channel: SenderChannel): Promise<SenderRow | undefined> {
  return db
    .selectFrom('senders')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('channel', '=', channel)
    .where('deleted_at', 'is', null)
    .orderBy('created_at')
    .orderBy('id')
    .limit(1)
    .executeTakeFirst();
}
