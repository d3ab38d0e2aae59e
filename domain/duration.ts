/**
 * ISO-8601 durations and calendar arithmetic in a time zone. Pure and deterministic (no clock):
 * imported by workflows.
 *
 * Calendar units (years, months, weeks, days) move the local wall clock, so P1D across a DST change
 * is the same local time the next day; clock units (hours, minutes, seconds) are exact elapsed time.
 * A local time that does not exist (skipped by a spring-forward change) becomes the first instant
 * after the gap, and a local time that occurs twice (fall-back) its earliest acceptable occurrence.
 */
import { DateTime, Duration, IANAZone } from 'luxon';

// Luxon also accepts "P", "PT" and negative components; the contract is stricter. Fractions are
// only allowed on clock units because half a calendar day has no single meaning across DST.
const ISO_DURATION = /^(-)?P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/** A parsed duration, split into the part that moves the calendar and the exact part. */
export interface ParsedDuration {
  sign: 1 | -1;
  calendar: { years: number; months: number; weeks: number; days: number };
  clockMillis: number;
}

/** Parses an ISO-8601 duration, optionally signed (`-P7D`); undefined when it is not one. */
export function parseDuration(iso: string): ParsedDuration | undefined {
  const m = ISO_DURATION.exec(iso);
  if (!m) return undefined;
  const [, minus, years, months, weeks, days, hours, minutes, seconds] = m;
  const num = (s: string | undefined) => (s === undefined ? 0 : Number(s));
  return {
    sign: minus ? -1 : 1,
    calendar: { years: num(years), months: num(months), weeks: num(weeks), days: num(days) },
    clockMillis: Duration.fromObject({ hours: num(hours), minutes: num(minutes), seconds: num(seconds) }).toMillis(),
  };
}

/** True for a duration that moves time forward: not zero, not negative. */
export function isPositiveDuration(d: ParsedDuration): boolean {
  const { years, months, weeks, days } = d.calendar;
  return d.sign === 1 && years + months + weeks + days + d.clockMillis > 0;
}

/**
 * `instant` plus (or minus, for `-P...`) the duration, with calendar units applied to the local
 * wall clock of `zone`. Throws on an invalid duration: callers hold validated definitions.
 */
export function addDuration(instant: Date, iso: string, zone: string): Date {
  const d = parseDuration(iso);
  if (!d) throw new RangeError(`Invalid ISO-8601 duration: ${iso}`);
  const { years, months, weeks, days } = d.calendar;
  let millis = instant.getTime();
  if (years + months + weeks + days > 0) {
    const n = d.sign;
    const wall = DateTime.fromMillis(wallTime(millis, zone), { zone: 'utc' }).plus({ years: n * years, months: n * months, weeks: n * weeks, days: n * days });
    millis = instantOfWallTime(wall.toMillis(), zone);
  }
  return new Date(millis + d.sign * d.clockMillis);
}

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/**
 * The local wall-clock reading of an instant in `zone`, as milliseconds since 1970-01-01T00:00 on
 * a clock without DST: wall times compare, and move by whole days, by plain arithmetic.
 */
export function wallTime(millis: number, zone: string): number {
  return millis + IANAZone.create(zone).offset(millis) * MINUTE_MS;
}

/**
 * The instant at which `zone` shows `wall`. When that happens twice (fall-back), the earliest
 * occurrence not before `notBefore`; when it never happens (spring-forward gap), the first instant
 * after the gap.
 */
export function instantOfWallTime(wall: number, zone: string, notBefore = -Infinity): number {
  const tz = IANAZone.create(zone);
  // An instant showing `wall` lies within 14 hours of it, and no zone changes its offset twice in
  // two days, so the offsets a day either side are every offset that can apply.
  const before = wall - tz.offset(wall - DAY_MS) * MINUTE_MS;
  const after = wall - tz.offset(wall + DAY_MS) * MINUTE_MS;
  const occurrences = [before, after].filter((u) => u + tz.offset(u) * MINUTE_MS === wall);
  const acceptable = occurrences.filter((u) => u >= notBefore);
  if (acceptable.length > 0) return Math.min(...acceptable);
  return firstInstantWithOffset(Math.min(before, after), Math.max(before, after), tz.offset(wall + DAY_MS), tz);
}

/**
 * The instant in (from, to] at which `zone` changes its UTC offset, if it does (a span shorter than
 * the months between two DST changes has at most one).
 */
export function clockChangeBetween(from: number, to: number, zone: string): number | undefined {
  const tz = IANAZone.create(zone);
  const after = tz.offset(to);
  return tz.offset(from) === after ? undefined : firstInstantWithOffset(from + 1, to, after, tz);
}

/** Binary search for the change to `offset` (minutes) within [lo, hi]. */
function firstInstantWithOffset(lo: number, hi: number, offset: number, tz: IANAZone): number {
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (tz.offset(mid) === offset) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
