/** Sender identities (docs/design.md §7.3). Deleted ones stay (messages name them) and their ids are never reused. */
import { sql } from 'kysely';
import type { Db } from './connection';
import type { SenderChannel, SenderRow, SmsSenderKind } from './schema';
import { getWorkspaceSettings } from './settings';

export interface SenderInput {
  channel: SenderChannel;
  from: string | null;
  name: string | null;
  replyTo: string | null;
  messagingServiceSid: string | null;
  kind: SmsSenderKind | null;
  segmentsPerSecond: number | null;
}

/** Undefined when the id is taken (by a live or a deleted sender). */
export async function createSender(db: Db, workspaceId: string, id: string, s: SenderInput): Promise<SenderRow | undefined> {
  return db
    .insertInto('senders')
    .values({
      workspace_id: workspaceId,
      id,
      channel: s.channel,
      from: s.from,
      name: s.name,
      reply_to: s.replyTo,
      messaging_service_sid: s.messagingServiceSid,
      kind: s.kind,
      segments_per_second: s.segmentsPerSecond,
    })
    .onConflict((oc) => oc.columns(['workspace_id', 'id']).doNothing())
    .returningAll()
    .executeTakeFirst();
}

export async function getSender(db: Db, workspaceId: string, id: string): Promise<SenderRow | undefined> {
  return db.selectFrom('senders').selectAll().where('workspace_id', '=', workspaceId).where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
}

export async function listSenders(db: Db, workspaceId: string, f: { after?: string; limit: number }): Promise<SenderRow[]> {
  let q = db.selectFrom('senders').selectAll().where('workspace_id', '=', workspaceId).where('deleted_at', 'is', null);
  if (f.after !== undefined) q = q.where('id', '>', f.after);
  return q
    .orderBy('id')
    .limit(f.limit + 1)
    .execute();
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

/**
 * Deletes the sender unless something still sends from it: a version of a live automation whose
 * steps name it (in-flight enrollments may run any version), or a workspace default.
 */
export async function deleteSender(db: Db, workspaceId: string, id: string): Promise<'deleted' | 'not_found' | { automations: string[]; isDefault: boolean }> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('senders')
      .select('id')
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .forUpdate()
      .executeTakeFirst();
    if (!row) return 'not_found';
    const users = await trx
      .selectFrom('automation_versions as v')
      .innerJoin('automations as a', (j) => j.onRef('a.workspace_id', '=', 'v.workspace_id').onRef('a.id', '=', 'v.automation_id'))
      .select('a.id')
      .distinct()
      .where('v.workspace_id', '=', workspaceId)
      .where('a.deleted_at', 'is', null)
      .where(sql<boolean>`jsonb_path_exists(v.definition, '$.steps[*].from ? (@ == $id)', jsonb_build_object('id', ${id}::text))`)
      .execute();
    const isDefault = Object.values((await getWorkspaceSettings(trx, workspaceId))?.defaultSenders ?? {}).includes(id);
    if (users.length > 0 || isDefault) return { automations: users.map((u) => u.id), isDefault };
    await trx.updateTable('senders').set({ deleted_at: new Date() }).where('workspace_id', '=', workspaceId).where('id', '=', id).execute();
    return 'deleted';
  });
}
