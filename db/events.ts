/**
 * Event ingestion, the hot path. One statement (one round trip, one implicit transaction) stores
 * the events, creates bare records for unknown record ids, writes one `event` outbox row per
 * newly stored event and wakes the router with NOTIFY. Idempotent by (workspace, event id):
 * an id seen before is skipped (ON CONFLICT DO NOTHING) and reported as a duplicate.
 */
import { sql } from 'kysely';
import type { Db } from './connection';
import type { OutboxEvent, OutboxPayload } from './outbox';

export interface EventInput {
  id: string;
  type: string;
  recordId: string;
  /** ISO-8601 UTC. */
  occurredAt: string;
  properties: Record<string, unknown>;
}

export type IngestStatus = 'accepted' | 'duplicate';

/**
 * Stores the events; returns, in input order, whether each one was new. An id repeated inside
 * the batch counts once (the first occurrence).
 */
export async function ingestEvents(db: Db, workspaceId: string, events: EventInput[]): Promise<IngestStatus[]> {
  const firstIndex = new Map<string, number>();
  const unique: Array<EventInput & { payload: OutboxPayload }> = [];
  events.forEach((e, i) => {
    if (firstIndex.has(e.id)) return;
    firstIndex.set(e.id, i);
    const event: OutboxEvent = { id: e.id, type: e.type, recordId: e.recordId, occurredAt: e.occurredAt, properties: e.properties };
    unique.push({ ...e, payload: { kind: 'event', event } });
  });
  const input = JSON.stringify(
    unique.map((e) => ({ id: e.id, type: e.type, record_id: e.recordId, occurred_at: e.occurredAt, properties: e.properties, payload: e.payload })),
  );
  // One statement, one round trip: see migrations/2026-11-23T01-00-00_ingest-events-function.ts
  // (the insert of the events, bare records, outbox rows and the NOTIFY, with a cached plan).
  const { rows } = await sql<{ id: string }>`select followup_ingest_events(${workspaceId}, ${input}::jsonb) as id`.execute(db);
  const stored = new Set(rows.map((r) => r.id));
  return events.map((e, i) => (firstIndex.get(e.id) === i && stored.has(e.id) ? 'accepted' : 'duplicate'));
}

/** One stored event as workflows see it (a trigger to hand to a late start), or undefined. */
export async function getEvent(
  db: Db,
  workspaceId: string,
  id: string,
): Promise<{ id: string; type: string; occurredAt: string; properties: Record<string, unknown> } | undefined> {
  const row = await db
    .selectFrom('events')
    .select(['id', 'type', 'occurred_at', 'properties'])
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .executeTakeFirst();
  return row && { id: row.id, type: row.type, occurredAt: row.occurred_at.toISOString(), properties: (row.properties ?? {}) as Record<string, unknown> };
}

/** Which of these event ids are stored. */
export async function storedEventIds(db: Db, workspaceId: string, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.selectFrom('events').select('id').where('workspace_id', '=', workspaceId).where('id', 'in', ids).execute();
  return new Set(rows.map((r) => r.id));
}

/** The ids of a record's latest stored events of these types (up to `limit` of each), newest first. */
export async function latestEventIds(db: Db, workspaceId: string, recordId: string, types: string[], limit: number): Promise<string[]> {
  const lists = await Promise.all(
    types.map((type) =>
      db
        .selectFrom('events')
        .select('id')
        .where('workspace_id', '=', workspaceId)
        .where('record_id', '=', recordId)
        .where('type', '=', type)
        .orderBy('seq', 'desc')
        .limit(limit)
        .execute(),
    ),
  );
  return lists.flat().map((r) => r.id);
}

/** A record's stored events of these types (up to `limit` of each, the latest), as eventCount counts them. */
export async function recordEventsOfTypes(
  db: Db,
  workspaceId: string,
  recordId: string,
  types: string[],
  limit: number,
): Promise<Array<{ id: string; type: string; at: number }>> {
  const lists = await Promise.all(
    types.map((type) =>
      db
        .selectFrom('events')
        .select(['id', 'type', 'occurred_at'])
        .where('workspace_id', '=', workspaceId)
        .where('record_id', '=', recordId)
        .where('type', '=', type)
        .orderBy('occurred_at', 'desc')
        .limit(limit)
        .execute(),
    ),
  );
  return lists.flat().map((r) => ({ id: r.id, type: r.type, at: r.occurred_at.getTime() }));
}
