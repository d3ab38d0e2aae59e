/**
 * Enrollments: one row per record x automation entry, the mirror of one Temporal workflow. Data
 * access only; the decision logic (re-entry, building the workflow input) lives in
 * engine/enroller.ts.
 */
import { sql } from 'kysely';
import type { Db } from './connection';
import type { EndedStatus } from '#domain/enrollment';
import type { EventCounter } from '#domain/conditions';
import type { CountView } from '#domain/entry';
import { leafKey, windowStart, type CountLeaf } from '#domain/event-counts';
import type { EnrollmentRow, EnrollmentStatus } from './schema';
import { cursorAt, keysetPage, type Cursor } from './keyset';
import { recordOrderKey } from './outbox';

export const IN_FLIGHT: EnrollmentStatus[] = ['active', 'paused'];

export interface NewEnrollment {
  id: string;
  workspaceId: string;
  automationId: string;
  version: number;
  recordId: string;
  seq: number;
  workflowId: string;
  variant: string;
  triggerEventId: string | null;
  startedAt: Date;
  currentStep: string | null;
}

/** Inserts the row; returns undefined when (workspace, automation, record, seq) is already taken. */
export async function insertEnrollment(db: Db, e: NewEnrollment): Promise<EnrollmentRow | undefined> {
  const row = await db
    .insertInto('enrollments')
    .values({
      id: e.id,
      workspace_id: e.workspaceId,
      automation_id: e.automationId,
      version: e.version,
      record_id: e.recordId,
      seq: e.seq,
      workflow_id: e.workflowId,
      status: 'active',
      current_step: e.currentStep,
      variant: e.variant,
      trigger_event_id: e.triggerEventId,
      started_at: e.startedAt,
      updated_at: e.startedAt,
    })
    .onConflict((oc) => oc.doNothing())
    .returningAll()
    .executeTakeFirst();
  return row;
}

export interface EnrollmentProgress extends Omit<NewEnrollment, 'currentStep' | 'variant'> {
  variant: string | null;
  status: EnrollmentStatus;
  currentStep: string | null;
  exitReason: string | null;
  /** Undefined: left as it is. */
  converted?: boolean;
  endedAt: Date | string | null;
  updatedAt: Date;
}

/** Writes the workflow's progress; inserts the row when its starter has not (so it is never missing). */
export async function saveEnrollmentProgress(db: Db, p: EnrollmentProgress): Promise<void> {
  await db
    .insertInto('enrollments')
    .values({
      id: p.id,
      workspace_id: p.workspaceId,
      automation_id: p.automationId,
      version: p.version,
      record_id: p.recordId,
      seq: p.seq,
      workflow_id: p.workflowId,
      status: p.status,
      current_step: p.currentStep,
      exit_reason: p.exitReason,
      converted: p.converted ?? false,
      variant: p.variant,
      trigger_event_id: p.triggerEventId,
      started_at: p.startedAt,
      ended_at: p.endedAt,
      updated_at: p.updatedAt,
    })
    .onConflict((oc) =>
      oc.column('id').doUpdateSet({
        status: p.status,
        current_step: p.currentStep,
        exit_reason: p.exitReason,
        ...(p.converted !== undefined ? { converted: p.converted } : {}),
        ended_at: p.endedAt,
        updated_at: p.updatedAt,
      }),
    )
    .execute();
}

export interface StepVisit {
  enrollmentId: string;
  stepId: string;
  visit: number;
  type: string;
  status: string;
  dueAt: string | null;
  at: string;
  detail: Record<string, unknown>;
}

/** One row per executed step visit; a replayed visit writes nothing. */
export async function insertStepVisit(db: Db, v: StepVisit): Promise<void> {
  await db
    .insertInto('enrollment_steps')
    .values({
      enrollment_id: v.enrollmentId,
      step_id: v.stepId,
      visit: v.visit,
      type: v.type,
      status: v.status,
      due_at: v.dueAt,
      at: v.at,
      detail: JSON.stringify(v.detail),
    })
    .onConflict((oc) => oc.columns(['enrollment_id', 'step_id', 'visit']).doNothing())
    .execute();
}

export async function deleteEnrollment(db: Db, id: string): Promise<void> {
  await db.deleteFrom('enrollments').where('id', '=', id).execute();
}

/** What re-entry needs to know about a record's past in one automation. */
export interface EntryHistory {
  total: number;
  inFlight: number;
  maxSeq: number;
  /** The enrollment the given trigger key already produced, if any. */
  byTrigger: string | null;
}

/** One round trip: the record's entries into the automation, and the one of this trigger. */
export async function entryHistory(
  db: Db,
  workspaceId: string,
  automationId: string,
  recordId: string,
  triggerKey: string | null = null,
): Promise<EntryHistory> {
  const row = await db
    .selectFrom('enrollments')
    .select([
      sql<number>`count(*)::int`.as('total'),
      sql<number>`count(*) filter (where status in ('active', 'paused'))::int`.as('in_flight'),
      sql<number>`coalesce(max(seq), 0)::int`.as('max_seq'),
      sql<string | null>`(array_agg(id) filter (where trigger_event_id = ${triggerKey}))[1]`.as('by_trigger'),
    ])
    .where('workspace_id', '=', workspaceId)
    .where('automation_id', '=', automationId)
    .where('record_id', '=', recordId)
    .executeTakeFirstOrThrow();
  return { total: row.total, inFlight: row.in_flight, maxSeq: row.max_seq, byTrigger: row.by_trigger };
}

export type RunningEnrollment = Pick<EnrollmentRow, 'id' | 'automation_id' | 'version' | 'record_id' | 'workflow_id' | 'trigger_event_id' | 'status'>;

/** Active and paused enrollments of many records at once (one query per router batch and workspace). */
export async function runningEnrollmentsOfRecords(db: Db, workspaceId: string, recordIds: string[]): Promise<RunningEnrollment[]> {
  if (recordIds.length === 0) return [];
  return db
    .selectFrom('enrollments')
    .select(['id', 'automation_id', 'version', 'record_id', 'workflow_id', 'trigger_event_id', 'status'])
    .where('workspace_id', '=', workspaceId)
    .where('record_id', 'in', recordIds)
    .where('status', 'in', IN_FLIGHT)
    .execute();
}

/** In-flight enrollments of an automation, a page at a time by id. */
export async function inFlightOfAutomation(
  db: Db,
  workspaceId: string,
  automationId: string,
  afterId: string | null,
  limit: number,
): Promise<RunningEnrollment[]> {
  let q = db
    .selectFrom('enrollments')
    .select(['id', 'automation_id', 'version', 'record_id', 'workflow_id', 'trigger_event_id', 'status'])
    .where('workspace_id', '=', workspaceId)
    .where('automation_id', '=', automationId)
    .where('status', 'in', IN_FLIGHT)
    .orderBy('id')
    .limit(limit);
  if (afterId) q = q.where('id', '>', afterId);
  return q.execute();
}

export async function getEnrollment(db: Db, workspaceId: string, id: string): Promise<EnrollmentRow | undefined> {
  return db.selectFrom('enrollments').selectAll().where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
}

export interface EnrollmentListFilter {
  automationId?: string;
  recordId?: string;
  status?: EnrollmentStatus;
  step?: string;
  /** Keyset: rows after (started_at, id) in descending order; `at` is microsecond ISO text (cursor_at). */
  before?: Cursor;
  limit: number;
}

/** Newest first, keyset paginated by (started_at, id). Fetches limit + 1 rows; `cursor_at` keeps microseconds. */
export async function listEnrollments(db: Db, workspaceId: string, f: EnrollmentListFilter): Promise<Array<EnrollmentRow & { cursor_at: string }>> {
  let q = db.selectFrom('enrollments').selectAll().select(cursorAt('started_at').as('cursor_at')).where('workspace_id', '=', workspaceId);
  if (f.automationId) q = q.where('automation_id', '=', f.automationId);
  if (f.recordId) q = q.where('record_id', '=', f.recordId);
  if (f.status) q = q.where('status', '=', f.status);
  if (f.step) q = q.where('current_step', '=', f.step);
  return keysetPage(q, { at: 'started_at', id: 'id', order: 'desc' }, f.before, f.limit + 1).execute();
}

export async function stepsOfEnrollment(db: Db, enrollmentId: string) {
  return db.selectFrom('enrollment_steps').selectAll().where('enrollment_id', '=', enrollmentId).orderBy('at').orderBy('id').execute();
}

export async function messagesOfEnrollment(db: Db, workspaceId: string, enrollmentId: string) {
  return db
    .selectFrom('messages')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('enrollment_id', '=', enrollmentId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

export async function tasksOfEnrollment(db: Db, workspaceId: string, enrollmentId: string) {
  return db
    .selectFrom('tasks')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('enrollment_id', '=', enrollmentId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

/** A record's enrollments with their automation's name and the step count of their version. */
export async function enrollmentsOfRecord(db: Db, workspaceId: string, recordId: string, f: { before?: Cursor; limit: number }) {
  const q = db
    .selectFrom('enrollments as e')
    .innerJoin('automations as a', (j) => j.onRef('a.workspace_id', '=', 'e.workspace_id').onRef('a.id', '=', 'e.automation_id'))
    .innerJoin('automation_versions as v', (j) =>
      j.onRef('v.workspace_id', '=', 'e.workspace_id').onRef('v.automation_id', '=', 'e.automation_id').onRef('v.version', '=', 'e.version'),
    )
    .selectAll('e')
    .select([
      'a.name as automation_name',
      'a.status as automation_status',
      sql<number>`jsonb_array_length(v.definition->'steps')`.as('step_count'),
      cursorAt('e.started_at').as('cursor_at'),
    ])
    .where('e.workspace_id', '=', workspaceId)
    .where('e.record_id', '=', recordId);
  return keysetPage(q, { at: 'e.started_at', id: 'e.id', order: 'desc' }, f.before, f.limit + 1).execute();
}

/** Step counts per enrollment, for progress figures. */
export async function stepCounts(db: Db, enrollmentIds: string[]): Promise<Map<string, number>> {
  if (enrollmentIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('enrollment_steps')
    .select(['enrollment_id', sql<number>`count(*)::int`.as('n')])
    .where('enrollment_id', 'in', enrollmentIds)
    .where('status', 'in', ['done', 'skipped', 'failed'])
    .groupBy('enrollment_id')
    .execute();
  return new Map(rows.map((r) => [r.enrollment_id, r.n]));
}

/**
 * Where a count stops: at one stored event (in storage order), with it or without it; or at one of
 * the record's outbox rows (`beforeRow`), leaving out the events whose rows come after it.
 */
export type EventCountAsOf = { eventId: string; including: boolean } | { beforeRow: number };

/**
 * Count of a record's events of a type, optionally since a moment: `eventCount` conditions.
 * `asOf` stops at one stored event (in storage order), counting it or not: what a condition said
 * just before and just after that event arrived, whatever was stored after it. Or it counts the
 * events stored before a record change the router judges (its outbox row): the later ones' rows
 * are still in the outbox (a record's rows are routed in order), read in the same statement.
 */
export async function countEvents(db: Db, workspaceId: string, recordId: string, type: string, since?: Date, asOf?: EventCountAsOf): Promise<number> {
  let q = db
    .selectFrom('events')
    .select(sql<number>`count(*)::int`.as('n'))
    .where('workspace_id', '=', workspaceId)
    .where('record_id', '=', recordId)
    .where('type', '=', type);
  if (since) q = q.where('occurred_at', '>=', since);
  if (asOf && 'beforeRow' in asOf) {
    const { beforeRow } = asOf;
    q = q.where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('outbox')
            .select('outbox.id')
            .where('outbox.workspace_id', '=', workspaceId)
            .where('outbox.order_key', '=', recordOrderKey(recordId))
            .where('outbox.id', '>', beforeRow)
            .where('outbox.kind', '=', 'event')
            .where(sql<boolean>`outbox.payload->'event'->>'id' = events.id`),
        ),
      ),
    );
  } else if (asOf) {
    const seq = db.selectFrom('events').select('seq').where('workspace_id', '=', workspaceId).where('id', '=', asOf.eventId);
    q = q.where('seq', asOf.including ? '<=' : '<', seq);
  }
  const row = await q.executeTakeFirstOrThrow();
  return row.n;
}

/** In-flight rows among these workflows (the reconciler's question about workflows Temporal has closed). */
export async function inFlightOfWorkflows(
  db: Db,
  workflowIds: string[],
): Promise<Array<Pick<EnrollmentRow, 'id' | 'workspace_id' | 'workflow_id' | 'status'>>> {
  if (workflowIds.length === 0) return [];
  return db
    .selectFrom('enrollments')
    .select(['id', 'workspace_id', 'workflow_id', 'status'])
    .where('workflow_id', 'in', workflowIds)
    .where('status', 'in', IN_FLIGHT)
    .execute();
}

/** Ends a row that is still in flight; false when it had ended meanwhile (its workflow wrote it). */
export async function endInFlightEnrollment(
  db: Db,
  id: string,
  end: { status: EndedStatus; exitReason: string | null; converted: boolean; endedAt: Date },
): Promise<boolean> {
  const res = await db
    .updateTable('enrollments')
    .set({ status: end.status, exit_reason: end.exitReason, converted: end.converted, ended_at: end.endedAt, current_step: null, updated_at: new Date() })
    .where('id', '=', id)
    .where('status', 'in', IN_FLIGHT)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/**
 * The event counts an entry decision asks for (domain/entry.ts entryNeeds), each leaf's window
 * ending at `at`: `withEvent`/`withoutEvent` stop at event `eventId`, `beforeChange` at outbox row
 * `beforeRow` (countEvents' `asOf`).
 */
export async function entryCounts(
  db: Db,
  workspaceId: string,
  recordId: string,
  leaves: Record<CountView, CountLeaf[]>,
  at: Date,
  stops: { eventId?: string; beforeRow?: number } = {},
): Promise<Record<CountView, EventCounter>> {
  const counter = async (view: CountView, asOf?: EventCountAsOf): Promise<EventCounter> => {
    const counts = new Map<string, number>();
    for (const leaf of leaves[view]) {
      const since = windowStart(at.getTime(), leaf.within);
      counts.set(
        leafKey(leaf.event, leaf.within),
        await countEvents(db, workspaceId, recordId, leaf.event, Number.isFinite(since) ? new Date(since) : undefined, asOf),
      );
    }
    return (event, within) => counts.get(leafKey(event, within)) ?? 0;
  };
  const { eventId, beforeRow } = stops;
  const [now, withEvent, withoutEvent, beforeChange] = await Promise.all([
    counter('now'),
    counter('withEvent', eventId === undefined ? undefined : { eventId, including: true }),
    counter('withoutEvent', eventId === undefined ? undefined : { eventId, including: false }),
    counter('beforeChange', beforeRow === undefined ? undefined : { beforeRow }),
  ]);
  return { now, withEvent, withoutEvent, beforeChange };
}
