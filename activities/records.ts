/**
 * update_record steps: the record row and a `record_changed` outbox row in one transaction, so
 * the router sees the change exactly when it is committed. What counts as a change and how null is
 * stored is domain/record-changes (the API's and the workflow's rules). Idempotent: a retry finds
 * the values already set, changes nothing and enqueues nothing.
 */
import { enqueue } from '#db/outbox';
import { notify } from '#db/notifications';
import { lockRecord, recordSnapshot, updateRecordColumns } from '#db/records';
import { applyChanges, diffChanges, readField } from '#domain/record-changes';
import type { ActivityDeps } from './deps';
import { countEvents } from '#db/enrollments';
import { latestEventIds, storedEventIds } from '#db/events';
import { countLeaves, windowStart } from '#domain/event-counts';
import type { CountEventsRequest, CountEventsResult, UpdateRecordRequest, UpdateRecordResult } from '#domain/commands';

/** Stored events of a counted type, newest first, whose ids a count reports as known (a later signal of one of them is not counted again). */
const KNOWN_PER_TYPE = 100;

export function recordActivities(deps: ActivityDeps) {
  const { db, clock } = deps;
  return {
    /** `eventCount` leaves for a running enrollment: the events table, plus signalled events it does not hold (yet). */
    async countEvents(req: CountEventsRequest): Promise<CountEventsResult> {
      const at = Date.parse(req.at);
      const signalled = req.signalled.map((e) => ({ id: e.id, type: e.type, at: Date.parse(e.at) }));
      const stored = await storedEventIds(
        db,
        req.workspaceId,
        signalled.map((e) => e.id),
      );
      const notStored = signalled.filter((e) => !stored.has(e.id));
      const counts = await Promise.all(
        req.leaves.map(async (leaf) => {
          const since = windowStart(at, leaf.within);
          const inTable = await countEvents(db, req.workspaceId, req.recordId, leaf.event, Number.isFinite(since) ? new Date(since) : undefined);
          return inTable + countLeaves([leaf], at, notStored)[0]!;
        }),
      );
      const latest = await latestEventIds(db, req.workspaceId, req.recordId, [...new Set(req.leaves.map((l) => l.event))], KNOWN_PER_TYPE);
      return { counts, known: [...new Set([...signalled.map((e) => e.id), ...latest])] };
    },
    async updateRecord(req: UpdateRecordRequest): Promise<UpdateRecordResult> {
      return db.transaction().execute(async (tx) => {
        const row = await lockRecord(tx, req.workspaceId, req.recordId);
        if (!row) return { changes: {}, found: false };

        const before = recordSnapshot(row);
        const changes = diffChanges(before, req.set);
        if (Object.keys(changes).length === 0) return { changes, found: true };
        const after = applyChanges(before, changes);
        const attributesChanged = Object.keys(changes).some((k) => k.startsWith('attributes.'));

        await updateRecordColumns(
          tx,
          req.workspaceId,
          req.recordId,
          {
            email: after.email,
            phone: after.phone,
            name: after.name,
            timezone: after.timezone,
            stage: after.stage,
            owner_id: after.ownerId,
            ...(attributesChanged ? { attributes: JSON.stringify(after.attributes) } : {}),
          },
          { now: clock(), stageChanged: 'stage' in changes },
        );
        // The values before (null for an absent attribute, as the API's upsert writes them), so the
        // router can tell whether the record matched a segment before this change and undo it.
        const previous = Object.fromEntries(Object.keys(changes).map((key) => [key, readField(before, key) ?? null]));
        await enqueue(tx, req.workspaceId, [
          { kind: 'record_changed', changeId: req.changeId, recordId: req.recordId, created: false, changes, previous, at: req.at },
        ]);
        // The backend applies update_record steps to its own copy of the record.
        await notify(tx, req.workspaceId, {
          id: `record.updated:${req.changeId}`,
          type: 'record.updated',
          data: { recordId: req.recordId, changes, enrollmentId: req.enrollmentId, automationId: req.automationId, at: req.at },
        });
        return { changes, found: true };
      });
    },
  };
}
