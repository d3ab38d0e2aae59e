/**
 * The date/inactivity sweep's activities (docs/design.md §6.7). The sweep
 * workflow (workflows/sweep.ts) hands each one the moment it sweeps up to (its own workflow time,
 * so a retry sweeps the same span), and each active automation with such a trigger is swept over
 * the occurrences since its mark (db/sweeps.ts `automation_sweeps`):
 *
 *   from = the mark, when it was set during the current activation; else the activation itself
 *          (`onlyNew: true`), or the backfill's reach (`onlyNew: false`: domain/occurrences.ts)
 *   to   = the sweep's moment
 *
 * Candidates come a page at a time through an index, each occurrence is checked exactly in the
 * recipient's zone, the entry conditions are evaluated at the sweep's moment, and the record is
 * enrolled with the occurrence's key as trigger key, so a sweep that runs twice, or is retried
 * after a crash, finds the enrollment already there. The page cursor is heartbeated: a retried
 * activity goes on where the last one stopped. The mark moves only after the whole span is done.
 */
import { Context } from '@temporalio/activity';
import type { Db } from '#db/connection';
import { entryCounts } from '#db/enrollments';
import { recordSnapshot } from '#db/records';
import type { RecordRow } from '#db/schema';
import { getWorkspaceSettings } from '#db/settings';
import { dateCandidates, ensureDateIndex, inactivityCandidates, markSwept, sweptAutomations, sweptUntil } from '#db/sweeps';
import type { TriggerEvent } from '#domain/enrollment';
import { entries, entryNeeds, type EntryCause } from '#domain/entry';
import {
  attributePath,
  backfillFrom,
  dateOccurrence,
  dateValueRange,
  inactivityEventRange,
  inactivityOccurrence,
  type DateTrigger,
  type InactivityTrigger,
  type Occurrence,
} from '#domain/occurrences';
import { recipientTimeZone } from '#domain/timing';
import type { Enroller, VersionContext } from './enroller';
import { mapLimit } from '#platform/concurrency';
import type { ActivityDeps } from '#activities/deps';
import type { SweepActivities, SweepOutcome, SweepRequest } from '#domain/commands';

export interface SweepDeps {
  db: Db;
  enroller: Enroller;
  logger: ActivityDeps['logger'];
  /** Candidates read per page (default 500). */
  pageSize?: number;
  /** Enrollments started at once within a page (default 32). */
  concurrency?: number;
}

type Cursor = { a: string; b: string };

/** Heartbeats the cursor of the page just done; a retry resumes from the last one. */
function heartbeat(cursor: Cursor | null): void {
  try {
    Context.current().heartbeat(cursor);
  } catch {
    // outside an activity (a direct call): nothing to report to
  }
}

function resumedCursor(): Cursor | null {
  try {
    return (Context.current().info.heartbeatDetails as Cursor | undefined) ?? null;
  } catch {
    return null;
  }
}

export function sweepActivities(deps: SweepDeps): SweepActivities {
  const { db, enroller, logger } = deps;
  const pageSize = deps.pageSize ?? 500;
  const concurrency = deps.concurrency ?? 32;

  /** Enrolls one record for one occurrence if it is due in the span and the entry conditions hold. */
  async function enrollOccurrence(
    ws: string,
    version: VersionContext,
    row: RecordRow,
    occ: Occurrence | undefined,
    span: { from: number; to: number },
    trigger: TriggerEvent | ((occ: Occurrence) => TriggerEvent),
  ): Promise<'none' | 'due' | 'started'> {
    if (!occ || occ.fireAt <= span.from || occ.fireAt > span.to) return 'none';
    const cause: EntryCause = { kind: 'occurrence', event: typeof trigger === 'function' ? trigger(occ) : trigger };
    const automation = [{ definition: version.definition }];
    const record = recordSnapshot(row);
    const counts = await entryCounts(db, ws, row.external_id, entryNeeds(automation, cause).counts, new Date(span.to));
    if (entries(automation, cause, { record, recordThen: record, counts }).length === 0) return 'due';
    const outcome = await enroller.enroll({ workspaceId: ws, version, record: row, trigger: cause.event, triggerKey: occ.key });
    return outcome.kind === 'started' ? 'started' : 'due';
  }

  return {
    /** The automations a workspace's sweep serves now. */
    async sweepTargets(req: { workspaceId: string }): Promise<string[]> {
      return (await sweptAutomations(db, req.workspaceId)).map((a) => a.id);
    },

    async sweepAutomation(req: SweepRequest): Promise<SweepOutcome> {
      const ws = req.workspaceId;
      const to = new Date(req.now);
      const a = (await sweptAutomations(db, ws)).find((x) => x.id === req.automationId);
      const version = a && (await enroller.versionContext(ws, a.id, a.version));
      const trig = version?.definition.trigger;
      if (!a || !version || (trig?.type !== 'date' && trig?.type !== 'inactivity')) {
        return { automationId: req.automationId, from: null, to: req.now, due: 0, started: 0 };
      }
      const mark = await sweptUntil(db, ws, a.id);
      const from = mark && mark >= a.activatedAt ? mark : a.onlyNew ? a.activatedAt : backfillFrom(trig, a.activatedAt);
      const outcome: SweepOutcome = { automationId: a.id, from: from?.toISOString() ?? null, to: req.now, due: 0, started: 0 };
      if (from && from >= to) return outcome;
      const settings = await getWorkspaceSettings(db, ws);
      const automationZone = version.definition.settings?.timezone;
      const zoneOf = (row: RecordRow) =>
        recipientTimeZone({ record: row.timezone, ...(automationZone ? { automation: automationZone } : {}), workspace: settings?.timezone ?? null });
      const span = { from: from?.getTime() ?? -Infinity, to: to.getTime() };
      const count = (r: 'none' | 'due' | 'started') => {
        if (r !== 'none') outcome.due++;
        if (r === 'started') outcome.started++;
      };

      let cursor = resumedCursor();
      if (trig.type === 'date') {
        const t: DateTrigger = trig;
        const path = attributePath(t.field);
        if (!path) {
          logger.warn({ workspaceId: ws, automationId: a.id, field: t.field }, 'date trigger on a field outside record.attributes: nothing to sweep');
        } else {
          await ensureDateIndex(db, path);
          const range = dateValueRange(t, from!, to);
          for (;;) {
            const page = await dateCandidates(db, ws, { path, ...range, cursor: cursor && { value: cursor.a, recordId: cursor.b }, limit: pageSize });
            const results = await mapLimit(page, concurrency, (c) =>
              enrollOccurrence(ws, version, c.record, dateOccurrence(t, c.value, zoneOf(c.record)), span, (occ) => ({
                id: occ.key,
                type: 'date',
                occurredAt: new Date(occ.fireAt).toISOString(),
                properties: { field: t.field, value: c.value },
              })),
            );
            results.forEach(count);
            const last = page[page.length - 1];
            if (!last || page.length < pageSize) break;
            cursor = { a: last.value, b: last.record.external_id };
            heartbeat(cursor);
          }
        }
      } else {
        const t: InactivityTrigger = trig;
        const range = inactivityEventRange(t, from, to);
        for (;;) {
          const page = await inactivityCandidates(db, ws, {
            type: t.event,
            ...range,
            cursor: cursor && { occurredAt: cursor.a, recordId: cursor.b },
            limit: pageSize,
          });
          const results = await mapLimit(page, concurrency, (c) => {
            const occ = inactivityOccurrence(t, { eventId: c.eventId, occurredAt: c.occurredAt }, zoneOf(c.record));
            return enrollOccurrence(ws, version, c.record, occ, span, {
              id: occ.key,
              type: 'inactivity',
              occurredAt: new Date(occ.fireAt).toISOString(),
              properties: { event: t.event, after: t.after, lastEventId: c.eventId, lastEventAt: c.occurredAt.toISOString() },
            });
          });
          results.forEach(count);
          const last = page[page.length - 1];
          if (!last || page.length < pageSize) break;
          cursor = { a: last.occurredAt.toISOString(), b: last.record.external_id };
          heartbeat(cursor);
        }
      }
      await markSwept(db, ws, a.id, to);
      return outcome;
    },
  };
}
