/**
 * The outbox router: turns stored events, record changes and lifecycle changes into enrollment
 * starts and signals.
 *
 * - Drains `outbox` in batches: `SELECT ... FOR UPDATE SKIP LOCKED LIMIT n` inside a transaction;
 *   processed rows are deleted at commit, a failing row gets `attempts + 1` and an `available_at`
 *   in the future (exponential backoff). A worker that dies mid-batch rolls the transaction back
 *   and another picks the rows up: at-least-once. Each workspace with due rows gets an equal share
 *   of a batch (db/outbox.ts lockDueRows), so one workspace's backlog delays another's rows by at
 *   most the batch in progress.
 * - Rows of one key (one record's events and changes; one automation's backfill and lifecycle
 *   fan-outs) run in id order, also across router processes: a row that is not done holds back its
 *   key's later rows until it is (see inOrder). Different keys run concurrently.
 * - Nothing is doubled by redelivery: starts are idempotent by trigger key and workflow id
 *   (REJECT_DUPLICATE), signals carry the event/change id and the workflow ignores one it has seen.
 * - Runs on the ordered outbox consumer (outbox-consumer.ts): woken by LISTEN on OUTBOX_CHANNEL,
 *   with a ROUTER_POLL_MS fallback that carries the work meanwhile.
 * - An event that concerns no automation and no running enrollment costs no Temporal call: the
 *   triggers come from a cache of active automations and the running enrollments of a batch's
 *   records from one query; a running enrollment is told only what its definition can use
 *   (domain/signal-interest.ts), so noise cannot grow its history.
 */
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError, type SignalDefinition } from '@temporalio/common';
import type { Logger } from 'pino';
import type { Db } from '#db/connection';
import {
  OUTBOX_CHANNEL,
  deadLetterRow,
  deleteRows,
  heldBack,
  laterRecordChanges,
  lockDueRows,
  type LaterChange,
  rescheduleRow,
  saveRowProgress,
  type OutboxEvent,
  type OutboxPayload,
  type OutboxRow,
} from '#db/outbox';
import type { RecordRow } from '#db/schema';
import { backfillTriggerKey, findAutomation, latestBackfillRow } from '#db/automations';
import { getRecord, listRecords, recordSnapshot, recordsByIds } from '#db/records';
import { entryCounts, inFlightOfAutomation, runningEnrollmentsOfRecords, type RunningEnrollment } from '#db/enrollments';
import type { EnrollmentEvent, RecordChange, RecordSnapshot } from '#domain/enrollment';
import { entries, entryNeeds, type EntryCause, type EntryFacts, type EntryNeeds } from '#domain/entry';
import { eventSignal, exitSignal, pauseSignal, recordChangedSignal, resumeSignal } from '#workflows/signals';
import { Enroller } from './enroller';
import { afterFailure, inOrder, OutboxConsumer, type RetryPolicy, type RowResult } from './outbox-consumer';
import { AutomationCache, type ActiveAutomation } from './automation-cache';
import { groupBy, mapLimit } from '#platform/concurrency';
import { flattenChanges, recordAsOf } from '#domain/record-changes';
import { signalInterest, wantsChange, wantsEvent, type SignalInterest } from '#domain/signal-interest';

export interface RouterOptions {
  /** The router's own pool: one connection holds the batch transaction, the rest do the lookups. */
  db: Db;
  temporal: Client;
  enroller: Enroller;
  /** For the LISTEN connection. */
  databaseUrl: string;
  batchSize: number;
  pollMs: number;
  /** Records handled at once within a batch. */
  concurrency?: number;
  logger: Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>;
  /** Rows per visit of a backfill or lifecycle fan-out before it yields to other work. */
  pageSize?: number;
  /** Failures after which a row is parked in outbox_dead_letters (and its key's later rows run). */
  maxAttempts: number;
  /** Counts parked rows (the worker's /metrics). */
  deadLettered?: { inc(): void };
}

export interface RouterStats {
  batches: number;
  rows: number;
  failures: number;
  started: number;
  signals: number;
}

const MAX_BACKOFF_S = 300;

/** 2 s doubling per failure, at most MAX_BACKOFF_S apart. */
function backoffMs(failed: number): number {
  return Math.min(MAX_BACKOFF_S, 2 ** Math.min(failed - 1, 9)) * 1000;
}

export class OutboxRouter {
  readonly stats: RouterStats = { batches: 0, rows: 0, failures: 0, started: 0, signals: 0 };
  private readonly cache: AutomationCache;
  private readonly concurrency: number;
  private readonly pageSize: number;
  /** Per automation version (immutable): what its enrollments can use. */
  private readonly interests = new Map<string, Promise<SignalInterest | undefined>>();
  private readonly consumer: OutboxConsumer;
  private readonly retry: RetryPolicy;

  constructor(private readonly opts: RouterOptions) {
    this.cache = new AutomationCache(opts.db);
    this.concurrency = opts.concurrency ?? 64;
    this.pageSize = opts.pageSize ?? 500;
    this.retry = { maxAttempts: opts.maxAttempts, delayMs: backoffMs };
    this.consumer = new OutboxConsumer({
      name: 'router',
      databaseUrl: opts.databaseUrl,
      channel: OUTBOX_CHANNEL,
      pollMs: opts.pollMs,
      logger: opts.logger,
      batch: async () => {
        const batch = await this.drainOnce();
        // A full batch means more is due; one that only held rows back waits for their keys to move.
        return batch.taken >= opts.batchSize && batch.handled > 0;
      },
    });
  }

  start(): Promise<void> {
    return this.consumer.start();
  }

  /** Finishes the batch in hand (its transaction commits), then stops. */
  stop(): Promise<void> {
    return this.consumer.stop();
  }

  /** One batch: lock, process, delete/reschedule, commit. Counts the rows taken and those not held back. */
  async drainOnce(): Promise<{ taken: number; handled: number }> {
    const { db, batchSize } = this.opts;
    return db.transaction().execute(async (trx) => {
      const rows = await lockDueRows(trx, batchSize);
      if (rows.length === 0) return { taken: 0, handled: 0 };
      const results = await this.process(rows, await heldBack(trx, rows));
      const done: number[] = [];
      let handled = 0;
      for (const row of rows) {
        const r = results.get(row.id) ?? { status: 'retry', error: 'not processed' };
        if (r.status !== 'skip') handled++;
        if (r.status === 'done') done.push(row.id);
        else if (r.status === 'retry') {
          this.stats.failures++;
          const next = afterFailure(this.retry, row.attempts + 1);
          if (next.park) {
            await deadLetterRow(trx, row, r.error);
            this.opts.deadLettered?.inc();
            this.opts.logger.error(
              { outboxId: row.id, workspaceId: row.workspace_id, kind: row.kind, attempts: row.attempts + 1, error: r.error },
              'router: row failed too often; parked in outbox_dead_letters (its later rows run)',
            );
          } else {
            this.opts.logger.warn(
              { outboxId: row.id, kind: row.kind, attempts: row.attempts + 1, error: r.error },
              'router: row failed; will retry (its later rows wait)',
            );
            await rescheduleRow(trx, row.id, row.attempts + 1, next.delayMs / 1000);
          }
        } else if (r.status === 'continue') {
          await saveRowProgress(trx, row.id, r.payload);
        }
      }
      await deleteRows(trx, done);
      this.stats.batches++;
      this.stats.rows += done.length;
      return { taken: rows.length, handled };
    });
  }

  /**
   * Each key's rows (one record's, one automation's) run in id order (inOrder), different keys
   * concurrently: so an exit or a reply never overtakes the start it follows, and a resume is never
   * overtaken by a retried pause. `held`: each key's first row, of this batch or not.
   */
  private async process(rows: OutboxRow[], held: Map<string, number>): Promise<Map<number, RowResult>> {
    const firstHeld = (row: OutboxRow) => (row.order_key === null ? undefined : held.get(`${row.workspace_id}\u0000${row.order_key}`));
    const results = new Map<number, RowResult>();
    const byWorkspace = groupBy(rows, (r) => r.workspace_id);
    await mapLimit([...byWorkspace], 8, async ([ws, wsRows]) => {
      // Automation-level rows first (a lifecycle row also refreshes the cache), each automation's in order.
      const automationRows = wsRows.filter((r) => r.payload.kind === 'automation_backfill' || r.payload.kind === 'automation_lifecycle');
      for (const list of groupBy(automationRows, (r) => r.order_key ?? String(r.id)).values()) {
        await inOrder(
          list,
          firstHeld,
          (row) =>
            this.guard(row, () => {
              const p = row.payload;
              if (p.kind === 'automation_backfill') return this.backfill(ws, row.id, p);
              if (p.kind === 'automation_lifecycle') return this.lifecycle(ws, p);
              return Promise.resolve();
            }),
          results,
        );
      }
      const recordRows = wsRows.filter((r) => r.payload.kind === 'event' || r.payload.kind === 'record_changed');
      if (recordRows.length === 0) return;
      let automations: ActiveAutomation[];
      let running: RunningEnrollment[];
      let records: Map<string, RecordRow>;
      try {
        automations = await this.cache.active(ws);
        const recordIds = [...new Set(recordRows.map((r) => recordIdOf(r.payload)))];
        // Records are read only for rows that some trigger could match, all in one query.
        const wanted = [
          ...new Set(recordRows.filter((r) => entryNeeds(automations, entryCause(r.payload)).candidates.length > 0).map((r) => recordIdOf(r.payload))),
        ];
        [running, records] = await Promise.all([
          runningEnrollmentsOfRecords(this.opts.db, ws, recordIds),
          recordsByIds(this.opts.db, ws, wanted).then((rows) => new Map(rows.map((row) => [row.external_id, row]))),
        ]);
      } catch (err) {
        // Nothing of this workspace ran: each record's first row is retried and holds back the rest.
        for (const list of groupBy(recordRows, (r) => recordIdOf(r.payload)).values()) {
          await inOrder(list, firstHeld, async () => ({ status: 'retry', error: String(err) }), results);
        }
        return;
      }
      const runningByRecord = groupBy(running, (r) => r.record_id);
      const groups = [...groupBy(recordRows, (r) => recordIdOf(r.payload))];
      await mapLimit(groups, this.concurrency, async ([recordId, list]) => {
        const mine = runningByRecord.get(recordId) ?? [];
        const recordCache = new RecordLoader(this.opts.db, ws, recordId, records.get(recordId));
        await inOrder(
          list,
          firstHeld,
          (row) =>
            this.guard(row, () => {
              const p = row.payload;
              return p.kind === 'event'
                ? this.onEvent(ws, automations, row.id, p.event, mine, recordCache)
                : this.onRecordChanged(ws, automations, row.id, p as Extract<OutboxPayload, { kind: 'record_changed' }>, mine, recordCache);
            }),
          results,
        );
      });
    });
    return results;
  }

  private async guard(row: OutboxRow, fn: () => Promise<RowResult | void>): Promise<RowResult> {
    try {
      return (await fn()) ?? { status: 'done' };
    } catch (err) {
      return { status: 'retry', error: err instanceof Error ? err.message : String(err) };
    }
  }

  /**
   * Signals a running enrollment. A workflow that is not found is either not started yet (its row
   * is in flight: signal-with-start delivers the signal with the start) or over: then there is
   * nothing to tell it. Never swallowed while the enrollment may still run.
   */
  private async signal<Args extends unknown[]>(ws: string, e: RunningEnrollment, def: SignalDefinition<Args>, ...args: Args): Promise<void> {
    try {
      await this.opts.temporal.workflow.getHandle(e.workflow_id).signal(def, ...args);
      this.stats.signals++;
      return;
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
    const outcome = await this.opts.enroller.signalWithStart(ws, e.id, def, args);
    if (outcome === 'delivered') {
      this.stats.signals++;
      this.opts.logger.info(
        { enrollmentId: e.id, workflowId: e.workflow_id, signal: def.name },
        'router: workflow was not started yet; started it with the signal',
      );
    }
  }

  /** The enrollments whose definition can use the signal (domain/signal-interest.ts); the rest are not told. */
  private async interested(ws: string, running: RunningEnrollment[], wants: (i: SignalInterest) => boolean): Promise<RunningEnrollment[]> {
    const keep = await Promise.all(
      running.map(async (r) => {
        const key = `${ws}/${r.automation_id}/${r.version}`;
        let interest = this.interests.get(key);
        if (!interest) {
          interest = this.opts.enroller.versionContext(ws, r.automation_id, r.version).then((v) => (v ? signalInterest(v.definition, v.templates) : undefined));
          this.interests.set(key, interest);
          interest.catch(() => this.interests.delete(key));
          if (this.interests.size > 5_000) this.interests.delete(this.interests.keys().next().value!);
        }
        const i = await interest;
        return !i || wants(i); // a version that cannot be read is told everything
      }),
    );
    return running.filter((_, n) => keep[n]);
  }

  private async onEvent(
    ws: string,
    automations: ActiveAutomation[],
    outboxId: number,
    event: OutboxEvent,
    running: RunningEnrollment[],
    records: RecordLoader,
  ): Promise<void> {
    const signalled = enrollmentEvent(event);
    const told = await this.interested(
      ws,
      running.filter((r) => r.trigger_event_id !== event.id),
      (i) => wantsEvent(i, event.type),
    );
    await Promise.all(told.map((r) => this.signal(ws, r, eventSignal, signalled)));
    const cause: EntryCause = { kind: 'event', event: signalled };
    const needs = entryNeeds(automations, cause);
    if (needs.candidates.length === 0) return;
    const row = await records.get();
    if (!row) {
      this.opts.logger.warn({ workspaceId: ws, recordId: event.recordId, eventId: event.id }, 'router: event for an unknown record; no enrollment');
      return;
    }
    const facts = await this.entryFacts(ws, row, needs, (now) => records.asOf(outboxId, now), { eventId: event.id });
    for (const a of entries(needs.candidates, cause, facts)) await this.enroll(ws, a, row, signalled, event.id, running);
  }

  private async onRecordChanged(
    ws: string,
    automations: ActiveAutomation[],
    outboxId: number,
    p: Extract<OutboxPayload, { kind: 'record_changed' }> & { previous?: Record<string, unknown> },
    running: RunningEnrollment[],
    records: RecordLoader,
  ): Promise<void> {
    const change: RecordChange = { id: p.changeId, changes: p.changes, at: p.at };
    const fields = Object.keys(flattenChanges(p.changes));
    const told = await this.interested(
      ws,
      running.filter((r) => r.trigger_event_id !== p.changeId),
      (i) => wantsChange(i, fields),
    );
    await Promise.all(told.map((r) => this.signal(ws, r, recordChangedSignal, change)));
    const cause = entryCause(p);
    const needs = entryNeeds(automations, cause);
    if (needs.candidates.length === 0) return;
    const row = await records.get();
    if (!row) return;
    // The record may have changed again, and got events, since this change (the router reached
    // it late): a segment is judged on the record and its events as they were right after it.
    const facts = await this.entryFacts(ws, row, needs, (now) => records.asOf(outboxId, now), { beforeRow: outboxId });
    for (const a of entries(needs.candidates, cause, facts)) await this.enroll(ws, a, row, null, p.changeId, running);
  }

  /**
   * What `entries` needs read: the record now and as it was at its outbox row (`then`, for a
   * segment), and the event counts in each view (`stops`: the event or change they stop at).
   */
  private async entryFacts(
    ws: string,
    row: RecordRow,
    needs: EntryNeeds<unknown>,
    then: ((now: RecordSnapshot) => Promise<RecordSnapshot>) | null,
    stops: { eventId?: string; beforeRow?: number } = {},
  ): Promise<EntryFacts> {
    const record = recordSnapshot(row);
    const [recordThen, counts] = await Promise.all([
      needs.recordThen && then ? then(record) : record,
      entryCounts(this.opts.db, ws, row.external_id, needs.counts, new Date(), stops),
    ]);
    return { record, recordThen, counts };
  }

  private async enroll(
    ws: string,
    a: ActiveAutomation,
    record: RecordRow,
    trigger: EnrollmentEvent | null,
    triggerKey: string,
    running: RunningEnrollment[] | null,
  ): Promise<void> {
    const version = await this.opts.enroller.versionContext(ws, a.id, a.version);
    if (!version) throw new Error(`automation ${a.id} version ${a.version} not found`);
    const outcome = await this.opts.enroller.enroll({ workspaceId: ws, version, record, trigger, triggerKey });
    if (outcome.kind === 'started') {
      this.stats.started++;
      const e = outcome.enrollment;
      // Later rows of this record in the same batch signal the new enrollment too.
      running?.push({
        id: e.id,
        automation_id: e.automation_id,
        version: e.version,
        record_id: e.record_id,
        workflow_id: e.workflow_id,
        trigger_event_id: e.trigger_event_id,
        status: e.status,
      });
    }
  }

  /** Enrolls, a page at a time, every record that already matches a newly activated automation. */
  private async backfill(ws: string, outboxId: number, p: Extract<OutboxPayload, { kind: 'automation_backfill' }> & { cursor?: string }): Promise<RowResult> {
    const automation = await findAutomation(this.opts.db, ws, p.automationId);
    // Cancelled (its route, a pause, a deactivation): ends here, after the page a cancel found in
    // hand. A later activation's backfill replaces this one (it was cancelled while held, and the
    // re-activation cleared the mark): otherwise both would enrol, twice each under `always`.
    if (!automation || automation.status !== 'active' || automation.backfillCancelledAt) return { status: 'done' };
    if ((await latestBackfillRow(this.opts.db, ws, p.automationId)) !== outboxId) return { status: 'done' };
    const version = await this.opts.enroller.versionContext(ws, p.automationId, automation.currentVersion);
    if (!version) throw new Error(`automation ${p.automationId} version ${automation.currentVersion} not found`);
    const trigger = version.definition.trigger;
    if (trigger.type !== 'stage_entered' && trigger.type !== 'segment_entered') return { status: 'done' };
    const rows = await listRecords(this.opts.db, ws, {
      ...(trigger.type === 'stage_entered' ? { stage: trigger.stage } : {}),
      ...(p.cursor ? { after: p.cursor } : {}),
      limit: this.pageSize,
    });
    const page = rows.slice(0, this.pageSize);
    const a: ActiveAutomation = { id: p.automationId, version: automation.currentVersion, definition: version.definition };
    const activation: EntryCause = { kind: 'activation' };
    const needs = entryNeeds([a], activation);
    await mapLimit(page, this.concurrency, async (row) => {
      if (entries([a], activation, await this.entryFacts(ws, row, needs, null)).length === 0) return;
      await this.enroll(ws, a, row, null, backfillTriggerKey(outboxId), null);
    });
    const last = page[page.length - 1];
    if (rows.length > this.pageSize && last) return { status: 'continue', payload: { ...p, cursor: last.external_id } };
    return { status: 'done' };
  }

  /** Pause, resume or cancel every in-flight enrollment of an automation, a page at a time. */
  private async lifecycle(ws: string, p: Extract<OutboxPayload, { kind: 'automation_lifecycle' }> & { cursor?: string }): Promise<RowResult> {
    this.cache.invalidate(ws);
    const page = await inFlightOfAutomation(this.opts.db, ws, p.automationId, p.cursor ?? null, this.pageSize);
    await mapLimit(page, this.concurrency, async (e) => {
      if (p.action === 'pause') await this.signal(ws, e, pauseSignal);
      else if (p.action === 'resume') await this.signal(ws, e, resumeSignal);
      else await this.signal(ws, e, exitSignal, { reason: 'automation_deactivated' });
    });
    const last = page[page.length - 1];
    if (page.length === this.pageSize && last) return { status: 'continue', payload: { ...p, cursor: last.id } };
    return { status: 'done' };
  }
}

function enrollmentEvent(e: OutboxEvent): EnrollmentEvent {
  return { id: e.id, type: e.type, occurredAt: e.occurredAt, properties: e.properties ?? {} };
}

/** What an event or record change row may enter its record into automations by. */
function entryCause(p: OutboxPayload): EntryCause {
  if (p.kind === 'event') return { kind: 'event', event: enrollmentEvent(p.event) };
  if (p.kind === 'record_changed') return { kind: 'change', created: p.created, changes: p.changes, ...(p.previous ? { previous: p.previous } : {}) };
  throw new Error(`an ${p.kind} row enters no record`);
}

function recordIdOf(p: OutboxPayload): string {
  if (p.kind === 'event') return p.event.recordId;
  if (p.kind === 'record_changed') return p.recordId;
  return '';
}

/** Loads a record, and its later changes, at most once per batch, and only when a trigger needs them. */
class RecordLoader {
  private row: Promise<RecordRow | undefined> | undefined;
  private later: { after: number; changes: Promise<LaterChange[]> } | undefined;
  constructor(
    private readonly db: Db,
    private readonly ws: string,
    private readonly recordId: string,
    prefetched?: RecordRow,
  ) {
    if (prefetched) this.row = Promise.resolve(prefetched);
  }
  get(): Promise<RecordRow | undefined> {
    this.row ??= getRecord(this.db, this.ws, this.recordId);
    return this.row;
  }
  /**
   * The record (`now`, as read by get()) as it was at its outbox row `id`: its later changes
   * undone (domain/record-changes.ts recordAsOf). A later change without `previous` (written
   * before update_record sent it, still in flight) cannot be undone: then the record now stands
   * in, as it always did.
   *
   * The later changes are read after the record, so they include every change the record as read
   * reflects: the rows of this batch are not enough, as the record may be newer than the batch.
   * Read once, for the first row that asks (rows ask in id order); a later row takes the part after it.
   */
  async asOf(id: number, now: RecordSnapshot): Promise<RecordSnapshot> {
    await this.get();
    if (!this.later || id < this.later.after) this.later = { after: id, changes: laterRecordChanges(this.db, this.ws, this.recordId, id) };
    return (
      recordAsOf(
        now,
        (await this.later.changes).filter((c) => c.id > id),
      ) ?? now
    );
  }
}
