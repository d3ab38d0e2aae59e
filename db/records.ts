/**
 * Records: the backend's customers/leads, keyed by (workspace, external id). An upsert and its
 * `record_changed` outbox row are written in one transaction; an upsert that changes nothing
 * writes nothing.
 */
import { isDeepStrictEqual } from 'node:util';
import { inTransaction, type Db } from './connection';
import { newId } from './ids';
import { enqueue } from './outbox';
import type { Updateable } from 'kysely';
import type { RecordSnapshot } from '#domain/enrollment';
import { CHANNELS } from '#domain/settings';
import type { RecordRow, RecordsTable, Unsubscribed } from './schema';

export interface RecordInput {
  email?: string | null;
  phone?: string | null;
  name?: string | null;
  timezone?: string | null;
  stage?: string | null;
  ownerId?: string | null;
  /** Merged into the stored attributes key by key; a key set to null is removed. */
  attributes?: Record<string, unknown>;
  /** Merged per channel. */
  unsubscribed?: Unsubscribed;
}

export interface UpsertResult {
  record: RecordRow;
  created: boolean;
  /** Changed fields with their new values: `stage`, `ownerId`, `attributes.plan`, `unsubscribed.sms`. */
  changes: Record<string, unknown>;
}

const SCALARS = [
  ['email', 'email'],
  ['phone', 'phone'],
  ['name', 'name'],
  ['timezone', 'timezone'],
  ['stage', 'stage'],
  ['ownerId', 'owner_id'],
] as const;

/** The value a change key (`stage`, `ownerId`, `attributes.plan`, `unsubscribed.sms`) had in `row`; null when unset. */
function valueBefore(row: RecordRow, key: string): unknown {
  if (key.startsWith('attributes.')) return row.attributes[key.slice('attributes.'.length)] ?? null;
  if (key.startsWith('unsubscribed.')) return row.unsubscribed[key.slice('unsubscribed.'.length) as keyof Unsubscribed] ?? false;
  const column = SCALARS.find(([field]) => field === key)?.[1];
  return column ? row[column] : null;
}

export async function getRecord(db: Db, workspaceId: string, externalId: string): Promise<RecordRow | undefined> {
  return db.selectFrom('records').selectAll().where('workspace_id', '=', workspaceId).where('external_id', '=', externalId).executeTakeFirst();
}

/** The record as workflows and conditions see it. */
export function recordSnapshot(row: RecordRow): RecordSnapshot {
  return {
    externalId: row.external_id,
    email: row.email,
    phone: row.phone,
    name: row.name,
    timezone: row.timezone,
    stage: row.stage,
    ownerId: row.owner_id,
    attributes: (row.attributes ?? {}) as Record<string, unknown>,
  };
}

/** The record, locked for the rest of the transaction. */
export async function lockRecord(db: Db, workspaceId: string, externalId: string): Promise<RecordRow | undefined> {
  return db.selectFrom('records').selectAll().where('workspace_id', '=', workspaceId).where('external_id', '=', externalId).forUpdate().executeTakeFirst();
}

/** Writes changed columns; `stage_changed_at` is stamped when the stage is among the changes. */
export async function updateRecordColumns(
  db: Db,
  workspaceId: string,
  externalId: string,
  set: Updateable<RecordsTable>,
  opts: { now: Date; stageChanged: boolean },
): Promise<RecordRow> {
  return db
    .updateTable('records')
    .set({ ...set, ...(opts.stageChanged ? { stage_changed_at: opts.now } : {}), updated_at: opts.now })
    .where('workspace_id', '=', workspaceId)
    .where('external_id', '=', externalId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function userExists(db: Db, workspaceId: string, userId: string): Promise<boolean> {
  const row = await db.selectFrom('users').select('id').where('workspace_id', '=', workspaceId).where('id', '=', userId).executeTakeFirst();
  return row !== undefined;
}

/**
 * Creates or updates a record. Fields absent from `input` keep their value, null clears them.
 * Returns what changed; on a change (or a creation) a `record_changed` outbox row is enqueued in
 * the same transaction and, when the stage changed, `stage_changed_at` is set.
 */
export async function upsertRecord(
  db: Db,
  workspaceId: string,
  externalId: string,
  input: RecordInput,
  opts: {
    now?: Date;
    /** Throws to refuse the merged attributes: the transaction rolls back. */ checkAttributes?: (merged: Record<string, unknown>) => void;
  } = {},
): Promise<UpsertResult> {
  const now = opts.now ?? new Date();
  return inTransaction(db, async (trx) => {
    let current = await lockRecord(trx, workspaceId, externalId);
    let created = false;
    if (!current) {
      // A concurrent upsert of the same id may win the insert: then we update its row.
      current = await trx
        .insertInto('records')
        .values({ workspace_id: workspaceId, external_id: externalId, created_at: now, updated_at: now })
        .onConflict((oc) => oc.columns(['workspace_id', 'external_id']).doNothing())
        .returningAll()
        .executeTakeFirst();
      created = current !== undefined;
      current ??= await lockRecord(trx, workspaceId, externalId);
      if (!current) throw new Error(`record ${externalId} vanished while it was being upserted`);
    }

    const changes: Record<string, unknown> = {};
    const set: Updateable<RecordsTable> = {};
    for (const [field, column] of SCALARS) {
      const value = input[field];
      if (value === undefined) continue;
      if (current[column] !== value) {
        set[column] = value;
        changes[field] = value;
      }
    }
    if (input.attributes) {
      const attributes: Record<string, unknown> = { ...current.attributes };
      let changed = false;
      for (const [key, value] of Object.entries(input.attributes)) {
        if (value === null) {
          if (key in attributes) {
            delete attributes[key];
            changes[`attributes.${key}`] = null;
            changed = true;
          }
        } else if (!isDeepStrictEqual(attributes[key], value)) {
          attributes[key] = value;
          changes[`attributes.${key}`] = value;
          changed = true;
        }
      }
      if (changed) {
        opts.checkAttributes?.(attributes);
        set.attributes = JSON.stringify(attributes);
      }
    }
    if (input.unsubscribed) {
      const unsubscribed: Unsubscribed = { ...current.unsubscribed };
      let changed = false;
      for (const channel of CHANNELS) {
        const value = input.unsubscribed[channel];
        if (value === undefined || (unsubscribed[channel] ?? false) === value) continue;
        unsubscribed[channel] = value;
        changes[`unsubscribed.${channel}`] = value;
        changed = true;
      }
      if (changed) set.unsubscribed = JSON.stringify(unsubscribed);
    }

    if (!created && Object.keys(changes).length === 0) return { record: current, created, changes };

    let record = current;
    if (Object.keys(set).length > 0 || !created) {
      record = await updateRecordColumns(trx, workspaceId, externalId, set, { now, stageChanged: 'stage' in changes });
    }
    // The values before, so `segment_entered` can tell whether the record matched before.
    const previous = created ? undefined : Object.fromEntries(Object.keys(changes).map((key) => [key, valueBefore(current, key)]));
    await enqueue(trx, workspaceId, [
      { kind: 'record_changed', changeId: newId('chg'), recordId: externalId, created, changes, ...(previous ? { previous } : {}), at: now.toISOString() },
    ]);
    return { record, created, changes };
  });
}

export interface RecordFilter {
  stage?: string;
  ownerId?: string;
  /** External id of the last record of the previous page. */
  after?: string;
  limit: number;
}

/** Ordered by external id; `limit + 1` rows so the caller can tell a next page. */
export async function listRecords(db: Db, workspaceId: string, f: RecordFilter): Promise<RecordRow[]> {
  let q = db.selectFrom('records').selectAll().where('workspace_id', '=', workspaceId);
  if (f.stage !== undefined) q = q.where('stage', '=', f.stage);
  if (f.ownerId !== undefined) q = q.where('owner_id', '=', f.ownerId);
  if (f.after !== undefined) q = q.where('external_id', '>', f.after);
  return q
    .orderBy('external_id')
    .limit(f.limit + 1)
    .execute();
}

/** Many records of a workspace by external id, in one query (the router reads a batch's records at once). */
export async function recordsByIds(db: Db, workspaceId: string, externalIds: string[]): Promise<RecordRow[]> {
  if (externalIds.length === 0) return [];
  return db.selectFrom('records').selectAll().where('workspace_id', '=', workspaceId).where('external_id', 'in', externalIds).execute();
}
