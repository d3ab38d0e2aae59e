/**
 * Entry: which automations an event, a record change, an activation (backfill) or a sweep's
 * occurrence enters a record into. Pure: the caller asks `entryNeeds` what to read (the record as
 * it was, the event counts in each view), reads it, and `entries` decides.
 */
import type { AutomationDefinition, Condition, Trigger } from './definition';
import type { RecordSnapshot, TriggerEvent } from './enrollment';
import { evaluate, fieldsReferenced, type EventCounter } from './conditions';
import { countLeavesOf, type CountLeaf } from './event-counts';
import { applyChanges, flattenChanges } from './record-changes';

export type EntryCause =
  /** A stored event: `event` triggers, and segments whose filter counts its type. */
  | { kind: 'event'; event: TriggerEvent }
  /** A record created or changed; `previous`: the changed fields' values before, when the writer sent them. */
  | { kind: 'change'; created: boolean; changes: Record<string, unknown>; previous?: Record<string, unknown> }
  /** An automation's activation: does the record belong in it now (`stage_entered`, `segment_entered`)? */
  | { kind: 'activation' }
  /** A sweep's date or inactivity occurrence, due now: the entry conditions decide. */
  | { kind: 'occurrence'; event: TriggerEvent };

/**
 * The record's events each count looks at:
 * - `now`: all stored ones (entry conditions, an event trigger's `where`, an activation's segment);
 * - `withEvent` / `withoutEvent`: up to the cause's event, counting it or not (segment entry by it);
 * - `beforeChange`: those stored before the cause's change (segment entry by it).
 */
export type CountView = 'now' | 'withEvent' | 'withoutEvent' | 'beforeChange';

interface Automation {
  definition: AutomationDefinition;
}

export interface EntryNeeds<A> {
  /** The automations the cause may enter the record into: none, and nothing needs reading. */
  candidates: A[];
  /** Whether a segment is judged, on the record as it was at the cause (`EntryFacts.recordThen`). */
  recordThen: boolean;
  /** The `eventCount` leaves to count in each view. */
  counts: Record<CountView, CountLeaf[]>;
}

export interface EntryFacts {
  /** The record now: entry conditions, an event trigger's `where`, an activation. */
  record: RecordSnapshot;
  /** The record as it was right at the cause's event or change: segment entry. */
  recordThen: RecordSnapshot;
  counts: Record<CountView, EventCounter>;
}

const filterOf = (t: Trigger) => (t.type === 'segment_entered' ? (t.filter as Condition) : undefined);
const conditionsOf = (a: Automation) => a.definition.conditions as Condition | undefined;

function holds(cond: Condition | undefined, record: RecordSnapshot, event: TriggerEvent | null, eventCount: EventCounter): boolean {
  return !cond || evaluate(cond, { record, event, steps: {} }, { eventCount });
}

function mayEnter(t: Trigger, cause: EntryCause): boolean {
  switch (cause.kind) {
    case 'event':
      if (t.type === 'event') return t.event === cause.event.type;
      return t.type === 'segment_entered' && countLeavesOf([t.filter as Condition]).some((l) => l.event === cause.event.type);
    case 'change': {
      const changed = flattenChanges(cause.changes);
      return (t.type === 'stage_entered' && 'stage' in changed && changed.stage === t.stage) || t.type === 'segment_entered';
    }
    case 'activation':
      return t.type === 'stage_entered' || t.type === 'segment_entered';
    case 'occurrence':
      return t.type === 'date' || t.type === 'inactivity';
  }
}

/** What deciding `entries` for this cause needs read. */
export function entryNeeds<A extends Automation>(automations: A[], cause: EntryCause): EntryNeeds<A> {
  const candidates = automations.filter((a) => mayEnter(a.definition.trigger, cause));
  const triggers = candidates.map((a) => a.definition.trigger);
  const filters = triggers.map(filterOf);
  const present = (conds: Array<Condition | undefined>) => countLeavesOf(conds.filter((c): c is Condition => c !== undefined));
  const now = candidates.map(conditionsOf);
  if (cause.kind === 'event') now.push(...triggers.map((t) => (t.type === 'event' ? (t.where as Condition | undefined) : undefined)));
  if (cause.kind === 'activation') now.push(...filters);
  const byEvent = cause.kind === 'event' ? present(filters) : [];
  return {
    candidates,
    recordThen: (cause.kind === 'event' || cause.kind === 'change') && filters.some((f) => f !== undefined),
    counts: { now: present(now), withEvent: byEvent, withoutEvent: byEvent, beforeChange: cause.kind === 'change' ? present(filters) : [] },
  };
}

function touches(fields: Set<string>, changed: string[]): boolean {
  for (const c of changed) {
    for (const f of fields) {
      if (f === c || f.startsWith(`${c}.`) || c.startsWith(`${f}.`)) return true;
    }
  }
  return false;
}

/** Record fields (`stage`, `attributes.plan`, `ownerId`) that a condition reads. */
function recordFieldsOf(cond: Condition): Set<string> {
  return new Set(
    fieldsReferenced(cond)
      .filter((f) => f.startsWith('record.'))
      .map((f) => f.slice('record.'.length)),
  );
}

/**
 * `segment_entered` by a change: the filter holds on `then`, and did not with `previous` put back (a
 * new record matched nothing). Without `previous` (an older writer's row), touching a field it reads enters.
 */
function segmentEnteredByChange(filter: Condition, cause: Extract<EntryCause, { kind: 'change' }>, then: RecordSnapshot, counts: EventCounter): boolean {
  if (!holds(filter, then, null, counts)) return false;
  if (cause.created) return true;
  if (cause.previous) return !holds(filter, applyChanges(then, cause.previous), null, counts);
  return touches(recordFieldsOf(filter), Object.keys(flattenChanges(cause.changes)));
}

/** Whether the cause enters the record into this candidate's trigger (before the entry conditions). */
function triggered(t: Trigger, cause: EntryCause, facts: EntryFacts): boolean {
  const filter = filterOf(t);
  switch (cause.kind) {
    case 'event':
      // Of several events stored before the router reaches them, exactly the one that crossed the line enters.
      if (filter) return holds(filter, facts.recordThen, null, facts.counts.withEvent) && !holds(filter, facts.recordThen, null, facts.counts.withoutEvent);
      return t.type === 'event' && holds(t.where as Condition | undefined, facts.record, cause.event, facts.counts.now);
    case 'change':
      return filter ? segmentEnteredByChange(filter, cause, facts.recordThen, facts.counts.beforeChange) : true;
    case 'activation':
      return filter ? holds(filter, facts.record, null, facts.counts.now) : t.type === 'stage_entered' && facts.record.stage === t.stage;
    case 'occurrence':
      return true;
  }
}

/** The automations (of `automations`, in their order) the cause enters the record into: trigger, then entry conditions. */
export function entries<A extends Automation>(automations: A[], cause: EntryCause, facts: EntryFacts): A[] {
  const event = cause.kind === 'event' || cause.kind === 'occurrence' ? cause.event : null;
  return automations.filter(
    (a) =>
      mayEnter(a.definition.trigger, cause) && triggered(a.definition.trigger, cause, facts) && holds(conditionsOf(a), facts.record, event, facts.counts.now),
  );
}
