/**
 * The date/inactivity sweep's questions (engine/sweeper.ts asks them). Candidates are read
 * through indexes, a page at a time in a stable order (keyset cursors):
 *   - date: an expression index on (workspace_id, attributes #>> '{path}', external_id), made
 *     when a sweep first needs it (CREATE INDEX CONCURRENTLY: records stay writable);
 *   - inactivity: record_last_events (workspace_id, type, occurred_at, record_id), kept at ingest.
 */
import { createHash } from 'node:crypto';
import { sql, type RawBuilder } from 'kysely';
import type { Db } from './connection';
import type { RecordRow } from './schema';

const PATH_PART = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * `attributes #>> '{a,b}'` as literal SQL: the index is only used when a query spells the same
 * expression, so the path cannot be a bind parameter. Parts are checked against the definition's
 * own field pattern, so nothing else reaches the SQL text.
 */
function attributeExpr(path: string[], table?: string): RawBuilder<string> {
  if (path.length === 0 || !path.every((p) => PATH_PART.test(p))) throw new RangeError(`not an attribute path: ${path.join('.')}`);
  return sql.raw<string>(`${table ? `${table}.` : ''}attributes #>> '{${path.join(',')}}'`);
}

export function dateIndexName(path: string[]): string {
  return `records_date_${createHash('sha256').update(path.join('.')).digest('hex').slice(0, 16)}`;
}

/** Creates the expression index of a date field unless it exists (valid). Safe to call from several sweeps. */
export async function ensureDateIndex(db: Db, path: string[]): Promise<void> {
  const name = dateIndexName(path);
  const exists = async () => {
    const { rows } = await sql<{ valid: boolean }>`
      select i.indisvalid as valid from pg_index i join pg_class c on c.oid = i.indexrelid where c.relname = ${name}`.execute(db);
    return rows[0];
  };
  const found = await exists();
  if (found?.valid) return;
  // A build interrupted earlier leaves an invalid index behind: drop it and build again.
  if (found) await sql`drop index concurrently if exists ${sql.id(name)}`.execute(db);
  try {
    await sql`create index concurrently if not exists ${sql.id(name)} on records (workspace_id, (${attributeExpr(path)}), external_id)`.execute(db);
  } catch (err) {
    // Another sweep built it at the same moment.
    if (!(await exists())?.valid) throw err;
  }
}

export interface DateCandidate {
  record: RecordRow;
  value: string;
}

/** Records whose date field (as text) is in [low, high), after `cursor`, in (value, external id) order. */
export async function dateCandidates(
  db: Db,
  workspaceId: string,
  q: { path: string[]; low: string; high: string; cursor: { value: string; recordId: string } | null; limit: number },
): Promise<DateCandidate[]> {
  const expr = attributeExpr(q.path, 'r');
  let query = db
    .selectFrom('records as r')
    .selectAll('r')
    .select(expr.as('date_value'))
    .where('r.workspace_id', '=', workspaceId)
    .where(sql<boolean>`${expr} >= ${q.low}`)
    .where(sql<boolean>`${expr} < ${q.high}`);
  if (q.cursor) query = query.where(sql<boolean>`(${expr}, r.external_id) > (${q.cursor.value}, ${q.cursor.recordId})`);
  const rows = await query.orderBy(expr).orderBy('r.external_id').limit(q.limit).execute();
  return rows.map(({ date_value, ...record }) => ({ record: record as RecordRow, value: date_value }));
}

export interface InactivityCandidate {
  record: RecordRow;
  eventId: string;
  occurredAt: Date;
}

/** Records whose last event of `type` happened in (after, upTo], after `cursor`, oldest first. */
export async function inactivityCandidates(
  db: Db,
  workspaceId: string,
  q: { type: string; after: Date | null; upTo: Date; cursor: { occurredAt: string; recordId: string } | null; limit: number },
): Promise<InactivityCandidate[]> {
  let query = db
    .selectFrom('record_last_events as l')
    .innerJoin('records as r', (j) => j.onRef('r.workspace_id', '=', 'l.workspace_id').onRef('r.external_id', '=', 'l.record_id'))
    .selectAll('r')
    .select(['l.event_id as last_event_id', 'l.occurred_at as last_occurred_at'])
    .where('l.workspace_id', '=', workspaceId)
    .where('l.type', '=', q.type)
    .where('l.occurred_at', '<=', q.upTo);
  if (q.after) query = query.where('l.occurred_at', '>', q.after);
  if (q.cursor) query = query.where(sql<boolean>`(l.occurred_at, l.record_id) > (${q.cursor.occurredAt}::timestamptz, ${q.cursor.recordId})`);
  const rows = await query.orderBy('l.occurred_at').orderBy('l.record_id').limit(q.limit).execute();
  return rows.map(({ last_event_id, last_occurred_at, ...record }) => ({ record: record as RecordRow, eventId: last_event_id, occurredAt: last_occurred_at }));
}

/** The active automations of a workspace that the sweep serves (date and inactivity triggers). */
export async function sweptAutomations(db: Db, workspaceId: string): Promise<Array<{ id: string; version: number; onlyNew: boolean; activatedAt: Date }>> {
  const rows = await db
    .selectFrom('automations')
    .select(['id', 'current_version', 'only_new', 'activated_at'])
    .where('workspace_id', '=', workspaceId)
    .where('status', '=', 'active')
    .where('deleted_at', 'is', null)
    .where('trigger_type', 'in', ['date', 'inactivity'])
    .orderBy('id')
    .execute();
  return rows.map((r) => ({ id: r.id, version: r.current_version, onlyNew: r.only_new ?? true, activatedAt: r.activated_at ?? new Date(0) }));
}

/** Workspaces with at least one such automation: the ones that need a sweep schedule. */
export async function workspacesWithSweeps(db: Db): Promise<string[]> {
  const rows = await db
    .selectFrom('automations')
    .select('workspace_id')
    .distinct()
    .where('status', '=', 'active')
    .where('deleted_at', 'is', null)
    .where('trigger_type', 'in', ['date', 'inactivity'])
    .execute();
  return rows.map((r) => r.workspace_id);
}

export async function sweptUntil(db: Db, workspaceId: string, automationId: string): Promise<Date | undefined> {
  const row = await db
    .selectFrom('automation_sweeps')
    .select('swept_until')
    .where('workspace_id', '=', workspaceId)
    .where('automation_id', '=', automationId)
    .executeTakeFirst();
  return row?.swept_until;
}

/** Moves the mark forward only: a late, slower sweep never moves it back. */
export async function markSwept(db: Db, workspaceId: string, automationId: string, until: Date): Promise<void> {
  await db
    .insertInto('automation_sweeps')
    .values({ workspace_id: workspaceId, automation_id: automationId, swept_until: until })
    .onConflict((oc) =>
      oc.columns(['workspace_id', 'automation_id']).doUpdateSet({ swept_until: sql`greatest(automation_sweeps.swept_until, excluded.swept_until)` }),
    )
    .execute();
}
