/**
 * Trigger matching for the router: which active automations an event or a record change enters a
 * record into. Pure functions over the definition; the DB-backed parts (eventCount) are handed in.
 */
import type { Condition, Trigger } from '#domain/definition';
import type { RecordSnapshot } from '#domain/enrollment';
import { evaluate, eventCountsReferenced, fieldsReferenced } from '#domain/conditions';
import type { OutboxEvent } from '#db/outbox';
import { applyChanges, flattenChanges } from '#domain/record-changes';
import { leafKey, windowStart } from '#domain/event-counts';

export type ConditionEvent = { id: string; type: string; occurredAt: string; properties: Record<string, unknown> } | null;

/** Counts of `eventCount` leaves, looked up before a synchronous evaluation. */
export type EventCounter = (event: string, within?: string) => number;

export function holds(cond: Condition | undefined, record: RecordSnapshot, event: ConditionEvent, eventCount: EventCounter): boolean {
  if (!cond) return true;
  return evaluate(cond, { record, event, steps: {} }, { eventCount });
}

/**
 * The counts of a condition's `eventCount` leaves at `now`, fetched through `count` (the events
 * table: the record's events of that type since `now - within`), for a synchronous `holds`.
 */
export async function eventCounterAt(
  cond: Condition | undefined,
  now: Date,
  count: (event: string, since: Date | undefined) => Promise<number>,
): Promise<EventCounter> {
  const counts = new Map<string, number>();
  for (const leaf of eventCountLeaves(cond)) {
    const key = leafKey(leaf.event, leaf.within);
    if (counts.has(key)) continue;
    const since = windowStart(now.getTime(), leaf.within);
    counts.set(key, await count(leaf.event, Number.isFinite(since) ? new Date(since) : undefined));
  }
  return (event, within) => counts.get(leafKey(event, within)) ?? 0;
}

/** The `eventCount` leaves of a condition, so their counts can be fetched in one go. */
export function eventCountLeaves(cond: Condition | undefined): Array<{ event: string; within?: string }> {
  return cond ? eventCountsReferenced(cond) : [];
}

/** Record fields (`stage`, `attributes.plan`, `ownerId`) that a condition reads. */
export function recordFieldsOf(cond: Condition | undefined): Set<string> {
  if (!cond) return new Set();
  return new Set(
    fieldsReferenced(cond)
      .filter((f) => f.startsWith('record.'))
      .map((f) => f.slice('record.'.length)),
  );
}

export function asConditionEvent(e: OutboxEvent): ConditionEvent {
  return { id: e.id, type: e.type, occurredAt: e.occurredAt, properties: e.properties ?? {} };
}

/**
 * `event` triggers on the event's type, with the optional `where` on `event.*` / `record.*`.
 * The record (and the counts of a `where`'s eventCount leaves: eventCounterAt) is only needed for
 * a `where`; pass null to ask "could it match at all?".
 */
export function eventTriggerMatches(trigger: Trigger, event: OutboxEvent, subject: { record: RecordSnapshot; counts: EventCounter } | null): boolean {
  if (trigger.type !== 'event' || trigger.event !== event.type) return false;
  if (!trigger.where || !subject) return true;
  return holds(trigger.where as Condition, subject.record, asConditionEvent(event), subject.counts);
}

function touches(fields: Set<string>, changed: string[]): boolean {
  for (const c of changed) {
    for (const f of fields) {
      if (f === c || f.startsWith(`${c}.`) || c.startsWith(`${f}.`)) return true;
    }
  }
  return false;
}

export interface RecordChangeFacts {
  created: boolean;
  changes: Record<string, unknown>;
  /** Values before the change, when the writer sent them (`previous` on the outbox payload). */
  previous?: Record<string, unknown>;
}

/**
 * `stage_entered`: the change set the stage to the trigger's stage.
 * `segment_entered`: the record matches the filter right after the change (`record`: the record
 * as it was then, domain/record-changes.ts recordAsOf) and did not before. "Before" is `record`
 * with the change's `previous` values put back; a new record matched nothing before. A change
 * without `previous` (a row written before its writer sent them, still in flight) keeps the old
 * rule: a change that touches none of the fields the filter reads cannot have made it match, and
 * one that does is taken as an entry (re-entry rules keep that from enrolling a record that is
 * already in the automation). A change leaves the record's events as they are: `counts` (the
 * events table without the events stored after the change, eventCounterAt) answers both sides.
 */
export function recordTriggerMatches(trigger: Trigger, facts: RecordChangeFacts, record: RecordSnapshot, counts: EventCounter): boolean {
  const changes = flattenChanges(facts.changes);
  if (trigger.type === 'stage_entered') {
    return 'stage' in changes && changes.stage === trigger.stage;
  }
  if (trigger.type === 'segment_entered') {
    const filter = trigger.filter as Condition;
    if (!holds(filter, record, null, counts)) return false;
    if (facts.created) return true;
    if (facts.previous) return !holds(filter, applyChanges(record, facts.previous), null, counts);
    return touches(recordFieldsOf(filter), Object.keys(changes));
  }
  return false;
}

/** Whether an event of this type can move a record into the trigger's segment (its filter counts that type). */
export function segmentCountsEvent(trigger: Trigger, type: string): boolean {
  return trigger.type === 'segment_entered' && eventCountLeaves(trigger.filter as Condition).some((l) => l.event === type);
}

/**
 * `segment_entered` by an event: the filter holds with the record's events up to and including
 * this one (`withIt`) and did not without it (`withoutIt`), `record` as it was at the event. Both counts stop at this event, so of
 * several events stored before the router reaches them, exactly the one that crossed the line
 * enrols the record.
 */
export function segmentEnteredByEvent(trigger: Trigger, record: RecordSnapshot, withIt: EventCounter, withoutIt: EventCounter): boolean {
  if (trigger.type !== 'segment_entered') return false;
  const filter = trigger.filter as Condition;
  return holds(filter, record, null, withIt) && !holds(filter, record, null, withoutIt);
}

/** Does a record (as it is now) belong in the automation at activation (backfill)? */
export function backfillMatches(trigger: Trigger, record: RecordSnapshot, counts: EventCounter): boolean {
  if (trigger.type === 'stage_entered') return record.stage === trigger.stage;
  if (trigger.type === 'segment_entered') return holds(trigger.filter as Condition, record, null, counts);
  return false;
}
