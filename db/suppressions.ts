/**
 * The suppression list: per workspace, channel and address (an email address or an E.164 number).
 * Every send asks `suppressionOf` first. Adding or lifting one also sets the `unsubscribed` flag
 * of every record with that address (through upsertRecord, so a `record_changed` outbox row tells
 * the running automations).
 */
import { sql, type Selectable } from 'kysely';
import { inTransaction, type Db } from './connection';
import { upsertRecord } from './records';
import { notify } from './notifications';
import type { SuppressionChannel, SuppressionsTable } from './schema';
import { cursorAt, keysetPage, type Cursor } from './keyset';

export type SuppressionRow = Selectable<SuppressionsTable>;

/** Emails compare case-insensitively; numbers as given (E.164). */
export function normalizeAddress(channel: SuppressionChannel, address: string): string {
  return channel === 'email' ? address.trim().toLowerCase() : address.trim();
}

/** The records of a workspace that use this address for this channel. */
async function recordsWithAddress(db: Db, workspaceId: string, channel: SuppressionChannel, address: string): Promise<string[]> {
  const rows = await db
    .selectFrom('records')
    .select('external_id')
    .where('workspace_id', '=', workspaceId)
    .where(channel === 'email' ? sql<boolean>`lower(email) = ${address}` : sql<boolean>`phone = ${address}`)
    .execute();
  return rows.map((r) => r.external_id);
}

async function flagRecords(db: Db, workspaceId: string, channel: SuppressionChannel, address: string, unsubscribed: boolean, now: Date): Promise<void> {
  for (const id of await recordsWithAddress(db, workspaceId, channel, address)) {
    await upsertRecord(db, workspaceId, id, { unsubscribed: { [channel]: unsubscribed } }, { now });
  }
}

/**
 * Suppresses the address; `created` is false when it already was (its first reason is kept). The
 * suppression, its notification, the records' flags and their `record_changed` rows commit together.
 */
export async function addSuppression(
  db: Db,
  workspaceId: string,
  input: { channel: SuppressionChannel; address: string; reason: string; source: string },
  now = new Date(),
): Promise<{ row: SuppressionRow; created: boolean }> {
  const address = normalizeAddress(input.channel, input.address);
  return inTransaction(db, async (trx) => {
    const inserted = await trx
      .insertInto('suppressions')
      .values({ workspace_id: workspaceId, channel: input.channel, address, reason: input.reason, source: input.source, created_at: now })
      .onConflict((oc) => oc.columns(['workspace_id', 'channel', 'address']).doNothing())
      .returningAll()
      .executeTakeFirst();
    if (inserted) {
      await notify(trx, workspaceId, {
        id: `suppression.created:${input.channel}:${address}:${now.getTime()}`,
        type: 'suppression.created',
        data: { channel: inserted.channel, address: inserted.address, reason: inserted.reason, source: inserted.source },
      });
    }
    // Flags are (re)applied even for a known suppression: a record created since gets its flag too.
    await flagRecords(trx, workspaceId, input.channel, address, true, now);
    if (inserted) return { row: inserted, created: true };
    const row = await trx
      .selectFrom('suppressions')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('channel', '=', input.channel)
      .where('address', '=', address)
      .executeTakeFirstOrThrow();
    return { row, created: false };
  });
}

/** Lifts the suppression (and the records' flags, in the same transaction); false when there was none. */
export async function removeSuppression(db: Db, workspaceId: string, channel: SuppressionChannel, rawAddress: string, now = new Date()): Promise<boolean> {
  const address = normalizeAddress(channel, rawAddress);
  return inTransaction(db, async (trx) => {
    const removed = await trx
      .deleteFrom('suppressions')
      .where('workspace_id', '=', workspaceId)
      .where('channel', '=', channel)
      .where('address', '=', address)
      .returning('address')
      .executeTakeFirst();
    if (removed) await flagRecords(trx, workspaceId, channel, address, false, now);
    return removed !== undefined;
  });
}

/** Why this address may not be sent to on this channel, or null. */
export async function suppressionOf(db: Db, workspaceId: string, channel: SuppressionChannel, address: string): Promise<SuppressionRow | null> {
  const row = await db
    .selectFrom('suppressions')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('channel', '=', channel)
    .where('address', '=', normalizeAddress(channel, address))
    .executeTakeFirst();
  return row ?? null;
}

const CURSOR_AT = cursorAt('created_at');

/** Newest first by (created_at, channel, address); `limit + 1` rows. */
export async function listSuppressions(db: Db, workspaceId: string, f: { channel?: SuppressionChannel; before?: Cursor; limit: number }) {
  let q = db.selectFrom('suppressions').selectAll().select(CURSOR_AT.as('cursor_at')).where('workspace_id', '=', workspaceId);
  if (f.channel) q = q.where('channel', '=', f.channel);
  return keysetPage(q, { at: 'created_at', id: sql<string>`channel || ':' || address`, order: 'desc' }, f.before, f.limit + 1).execute();
}
