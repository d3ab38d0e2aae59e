/**
 * When a `date` or `inactivity` trigger fires for a record (docs/design.md §4.1, §6.7), and the key of that
 * occurrence: a record enters once per occurrence, however often or late the sweep runs.
 * Pure: the sweep (engine/sweeper.ts) reads candidates through an index and asks these
 * functions for the exact moment.
 *
 * - `date`: the record's date field plus `offset`, in the recipient's zone; with `at`, at that
 *   local time on that day. A date-only value (`2027-01-20`) is that day in the recipient's zone;
 *   a timestamp is taken as the instant it names. The key is the date's value, so a moved date is
 *   a new occurrence and the old one, no longer in the record, never fires.
 * - `inactivity`: the record's last event of the type plus `after`. The key is that event's id, so
 *   a new event (a booking) replaces the occurrence with a later one.
 */
import { DateTime } from 'luxon';
import type { Trigger } from './definition';
import { addDuration, instantOfWallTime, wallTime } from './duration';

export type DateTrigger = Extract<Trigger, { type: 'date' }>;
export type InactivityTrigger = Extract<Trigger, { type: 'inactivity' }>;

export interface Occurrence {
  key: string;
  /** When the record enters (ms since the epoch). */
  fireAt: number;
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DAY = 86_400_000;

/** The JSON path under `attributes` that a date trigger reads, or undefined for a field outside them. */
export function attributePath(field: string): string[] | undefined {
  const parts = field.split('.');
  return parts[0] === 'record' && parts[1] === 'attributes' && parts.length > 2 ? parts.slice(2) : undefined;
}

/** Parses a date field's value: a date-only string is that day in `zone`, else an ISO timestamp. */
function instantOf(value: unknown, zone: string): number | undefined {
  if (typeof value !== 'string') return undefined;
  const d = DATE_ONLY.test(value) ? DateTime.fromISO(value, { zone }) : DateTime.fromISO(value, { setZone: true });
  return d.isValid ? d.toMillis() : undefined;
}

export function dateOccurrence(trigger: DateTrigger, value: unknown, zone: string): Occurrence | undefined {
  const base = instantOf(value, zone);
  if (base === undefined) return undefined;
  let fireAt = addDuration(new Date(base), trigger.offset, zone).getTime();
  if (trigger.at) {
    const [h, m] = trigger.at.split(':').map(Number);
    const day = Math.floor(wallTime(fireAt, zone) / DAY) * DAY;
    fireAt = instantOfWallTime(day + (h! * 60 + m!) * 60_000, zone);
  }
  return { key: `date:${value as string}`, fireAt };
}

export function inactivityOccurrence(trigger: InactivityTrigger, last: { eventId: string; occurredAt: Date }, zone: string): Occurrence {
  return { key: `inactivity:${last.eventId}`, fireAt: addDuration(last.occurredAt, trigger.after, zone).getTime() };
}

const negate = (iso: string) => (iso.startsWith('-') ? iso.slice(1) : `-${iso}`);
// Any zone's offset and any `at` move the firing moment less than two days from the UTC day of
// the value: candidates are read with that margin and checked exactly.
const MARGIN = 'P2D';

/**
 * The values of the date field (as ISO text, which sorts like time) whose occurrence may fall in
 * (from, to]: `[low, high)`, a superset checked exactly with `dateOccurrence`.
 */
export function dateValueRange(trigger: DateTrigger, from: Date, to: Date): { low: string; high: string } {
  const low = addDuration(addDuration(from, negate(trigger.offset), 'UTC'), `-${MARGIN}`, 'UTC');
  const high = addDuration(addDuration(to, negate(trigger.offset), 'UTC'), MARGIN, 'UTC');
  return { low: low.toISOString().slice(0, 10), high: high.toISOString().slice(0, 10) };
}

/** The last-event times whose occurrence may fall in (from, to]: `(after, upTo]`, a superset checked exactly. */
export function inactivityEventRange(trigger: InactivityTrigger, from: Date | null, to: Date): { after: Date | null; upTo: Date } {
  const back = (d: Date, margin: string) => addDuration(addDuration(d, negate(trigger.after), 'UTC'), margin, 'UTC');
  return { after: from && back(from, `-${MARGIN}`), upTo: back(to, MARGIN) };
}

/**
 * How far back the first sweep after an activation with `onlyNew: false` reaches: a date trigger
 * enrolls the records whose date is still ahead within its offset ("7 days before renewal": the
 * renewals of the coming 7 days); an inactivity trigger every record already inactive (null).
 */
export function backfillFrom(trigger: DateTrigger | InactivityTrigger, activatedAt: Date): Date | null {
  if (trigger.type === 'inactivity') return null;
  const span = trigger.offset.startsWith('-') ? trigger.offset.slice(1) : trigger.offset;
  return addDuration(activatedAt, `-${span}`, 'UTC');
}
