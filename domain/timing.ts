/**
 * When a step is due: the one schedule computation shared by the enrollment workflow and the
 * preview endpoint. Pure and deterministic: the current time is an input.
 *
 * due = the earliest moment that is
 *   - not before base + delay (base: the previous step's completion, or the enrollment start),
 *   - not before `now` (a due time in the past runs at once),
 *   - inside the step's window (in the window's zone, else the recipient's),
 *   - outside the quiet hours that cover the step's channel (in the recipient's zone): the
 *     automation's own, else the workspace's default for that channel.
 *
 * Timing rules are versioned: an enrollment keeps the rules it started with (`timingRules` in its
 * input), so replayed histories and records already in flight keep their due times.
 *   1  the delay is added (calendar units on the local clock, clock units exact), then the window
 *      applies: "P1D, 10:00-11:00" from Monday 15:00 is Wednesday 10:00 (Tuesday 15:00 is past
 *      Tuesday's window). `roundDelayToDay` opts into counting whole days.
 *   2  what users of follow-up tools expect: a delay in whole days/weeks/months counts calendar days in the zone and
 *      the step is due on the day it lands on, at the window's opening when the window has hours
 *      ("P1D, 10:00-11:00" from Monday 15:00 is Tuesday 10:00), else at the same local clock time
 *      (DST-safe); with `window.days: "workdays"` the days are working days (Friday + P3D =
 *      Wednesday). Hour and minute delays stay exact. `roundDelayToDay` stays accepted for saved
 *      definitions and keeps its meaning (the start of the landing day), which v2 already gives
 *      whole-day delays with a window hour, so new definitions need not set it.
 */
import { DateTime, IANAZone } from 'luxon';
import type { Channel, QuietHours, Settings, Step, Weekday, Window } from './definition';
import type { WorkspaceQuietHours } from './settings';
import { addDuration, clockChangeBetween, instantOfWallTime, parseDuration, wallTime, type ParsedDuration } from './duration';

/** The timing rules new enrollments get. */
export const TIMING_RULES = 2;
export type TimingRules = 1 | 2;

const DEFAULT_QUIET_CHANNELS: readonly Channel[] = ['sms', 'voicemail'];

/** The channel that quiet hours and windows speak of; staff-facing and internal steps have none. */
export function stepChannel(step: Step): Channel | 'none' {
  return step.type === 'email' || step.type === 'sms' || step.type === 'voicemail' ? step.type : 'none';
}

/**
 * The recipient's time zone: the record's, else the automation's (`"record"` names none), else the
 * workspace's, else UTC. A zone that is not a valid IANA name is passed over, not trusted.
 */
export function recipientTimeZone(zones: { record?: string | null; automation?: string; workspace?: string | null }): string {
  const candidates = [zones.record, zones.automation === 'record' ? undefined : zones.automation, zones.workspace];
  return candidates.find((z): z is string => !!z && IANAZone.isValidZone(z)) ?? 'UTC';
}

export interface DueInput {
  step: Step;
  settings?: Settings;
  /** When the previous step completed; for the first step, when the enrollment started. */
  previousCompletedAt: Date;
  enrolledAt: Date;
  /** The current time: workflow time in a workflow, the simulated clock in a preview. */
  now: Date;
  /** The recipient's zone, from `recipientTimeZone`. */
  timeZone: string;
  /** The timing rules the enrollment started with; absent: 1 (enrollments started before v2). */
  timingRules?: TimingRules;
  /** The workspace's default quiet hours per channel; absent: none. */
  workspaceQuietHours?: WorkspaceQuietHours;
}

export function dueAt({ step, settings, previousCompletedAt, enrolledAt, now, timeZone, timingRules = 1, workspaceQuietHours }: DueInput): Date {
  // A window on its own clock (office hours) sets the calendar of the whole step: "2 days" and
  // "that day" are days on that clock.
  const zone = step.window?.timezone ?? timeZone;
  const fromStart = (step.delayFrom ?? (settings?.timing === 'after_start' ? 'start' : 'previous')) === 'start';
  const base = fromStart ? enrolledAt : previousCompletedAt;
  const delay = step.delay === undefined ? undefined : parseDuration(step.delay);
  let earliest: number;
  if (timingRules >= 2 && delay && isWholeDays(delay)) {
    earliest = afterCalendarDays(base.getTime(), delay, step, zone);
  } else {
    earliest = step.delay ? addDuration(base, step.delay, zone).getTime() : base.getTime();
    if (step.roundDelayToDay) earliest = instantOfWallTime(startOfDay(wallTime(earliest, zone)), zone);
  }
  const start = Math.max(earliest, now.getTime());

  const constraints: Constraint[] = [];
  if (step.window) constraints.push(windowConstraint(step.window, zone));
  const quiet = quietHoursFor(step, settings, workspaceQuietHours);
  if (quiet) constraints.push(quietHoursConstraint(quiet, timeZone));
  return new Date(earliestSatisfying(start, constraints).at);
}

/**
 * The quiet hours that hold a step back: the automation's own when they cover the step's channel,
 * else the workspace's default for that channel (an automation changes the defaults for the
 * channels it names, and never silently drops them for the others).
 */
export function quietHoursFor(step: Step, settings: Settings | undefined, workspace?: WorkspaceQuietHours): QuietHours | undefined {
  const channel = stepChannel(step);
  if (channel === 'none') return undefined;
  const own = settings?.quietHours;
  if (own && (own.channels ?? DEFAULT_QUIET_CHANNELS).includes(channel)) return own;
  const fallback = workspace?.[channel];
  return fallback ? { start: fallback.start, end: fallback.end, channels: [channel] } : undefined;
}

/** A delay made only of calendar units (P1D, P3D, P1W, P1M): counted in days on the local calendar. */
function isWholeDays(d: ParsedDuration): boolean {
  const { years, months, weeks, days } = d.calendar;
  return d.sign === 1 && d.clockMillis === 0 && years + months + weeks + days > 0;
}

/**
 * Timing rules v2 for a whole-day delay: the local day `delay` lands on (working days when the
 * window allows only workdays), at the window's opening hour when the window has hours (or at
 * midnight with `roundDelayToDay`), else at the base's local clock time.
 */
function afterCalendarDays(base: number, delay: ParsedDuration, step: Step, zone: string): number {
  const wall = wallTime(base, zone);
  const { years, months, weeks, days } = delay.calendar;
  const workdays = step.window?.days === 'workdays';
  let day = DateTime.fromMillis(startOfDay(wall), { zone: 'utc' })
    .plus({ years, months, weeks, ...(workdays ? {} : { days }) })
    .toMillis();
  if (workdays) {
    for (let left = days; left > 0;) {
      day += DAY;
      if (isoWeekday(day) <= 5) left--;
    }
  }
  const window = step.window;
  let timeOfDay = wall - startOfDay(wall);
  if (window?.from !== undefined || window?.to !== undefined) timeOfDay = (window.from ? minuteOfDay(window.from) : 0) * MINUTE;
  else if (step.roundDelayToDay) timeOfDay = 0;
  return instantOfWallTime(day + timeOfDay, zone);
}

/**
 * Whether a window ever opens outside the quiet hours when both are read in the same zone; when
 * not, a step with both would never find its moment.
 */
export function windowMeetsQuietHours(window: Window, quiet: QuietHours): boolean {
  return earliestSatisfying(0, [windowConstraint(window, 'UTC'), quietHoursConstraint(quiet, 'UTC')]).settled;
}

/**
 * When a step that lasts ends: a `wait`'s end, a `wait_for`'s timeout, a task's due date.
 * Undefined for a step that does not last.
 */
export function stepDeadline(step: Step, startedAt: Date, timeZone: string): Date | undefined {
  const length = step.type === 'wait' ? step.duration : step.type === 'wait_for' ? step.timeout : step.type === 'task' ? step.due : undefined;
  return length === undefined ? undefined : addDuration(startedAt, length, timeZone);
}

/** The earliest instant at or after `t` that satisfies one rule. */
type Constraint = (t: number) => number;

// Same-zone windows and quiet hours that overlap at all settle within a few passes (each pass
// moves to a later opening, and every full day looks alike); more passes mean they never overlap.
const MAX_PASSES = 8;

/**
 * The earliest instant at or after `start` that satisfies every constraint. If none is found (a
 * window in its own zone that only opens during the recipient's quiet hours), the later
 * constraints win from the first opening on: the message is late, never sent at night and never
 * dropped.
 */
function earliestSatisfying(start: number, constraints: Constraint[]): { at: number; settled: boolean } {
  const applyInTurn = (t: number) => constraints.reduce((acc, next) => next(acc), t);
  const firstPass = applyInTurn(start);
  let t = firstPass;
  for (let pass = 1; pass < MAX_PASSES; pass++) {
    if (constraints.every((c) => c(t) === t)) return { at: t, settled: true };
    t = applyInTurn(t);
  }
  return { at: firstPass, settled: false };
}

/**
 * Lifts a rule on local wall time to instants in `zone`. Between an instant and the one showing
 * the wanted wall time the clock reads steadily forward, unless it changes: then the search starts
 * again from the change, since a gap skips the wanted time and turning the clock back shows
 * earlier times again, one of which may be allowed.
 */
function inZone(zone: string, nextAllowedWall: (wall: number) => number): Constraint {
  return (t) => {
    let instant = t;
    for (;;) {
      const wall = wallTime(instant, zone);
      const wanted = nextAllowedWall(wall);
      if (wanted === wall) return instant;
      const candidate = instantOfWallTime(wanted, zone, instant);
      const change = clockChangeBetween(instant, candidate, zone);
      if (change === undefined) return candidate;
      instant = change;
    }
  };
}

const MINUTE = 60_000;
const DAY = 1440 * MINUTE;

function minuteOfDay(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h! * 60 + m!;
}

function startOfDay(wall: number): number {
  return Math.floor(wall / DAY) * DAY;
}

/** ISO weekday of a wall time: 1 is Monday. 1970-01-01 was a Thursday. */
function isoWeekday(wall: number): number {
  return ((((Math.floor(wall / DAY) + 3) % 7) + 7) % 7) + 1;
}

/**
 * The daily interval opening at `from` (minutes) on the day starting at `day`; it lasts until
 * `to`, on the next day when `to` is not after `from`.
 */
function dailyInterval(day: number, from: number, to: number): { open: number; close: number } {
  const length = to > from ? to - from : to + 1440 - from;
  const open = day + from * MINUTE;
  return { open, close: open + length * MINUTE };
}

const WEEKDAYS: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

function allowsDay(days: Window['days'], isoDay: number): boolean {
  if (days === undefined || days === 'any') return true;
  if (days === 'workdays') return isoDay <= 5;
  if (days === 'weekends') return isoDay >= 6;
  return days.includes(WEEKDAYS[isoDay - 1]!);
}

/** The window's next opening at or after a wall time, or that wall time when the window is open. */
function nextWindowOpening(wall: number, window: Window): number {
  const from = window.from ? minuteOfDay(window.from) : 0;
  const to = window.to ? minuteOfDay(window.to) : 1440;
  // Yesterday's interval may still be open (it wraps past midnight); any allowed weekday comes
  // within the next seven days.
  for (let offset = -1; offset <= 7; offset++) {
    const day = startOfDay(wall) + offset * DAY;
    if (!allowsDay(window.days, isoWeekday(day))) continue;
    const { open, close } = dailyInterval(day, from, to);
    if (close > wall) return Math.max(open, wall);
  }
  throw new RangeError('A window needs at least one allowed day');
}

/** The end of the quiet hours a wall time falls in, or that wall time when it is not quiet. */
function quietHoursEnd(wall: number, quiet: QuietHours): number {
  for (const day of [startOfDay(wall) - DAY, startOfDay(wall)]) {
    const { open, close } = dailyInterval(day, minuteOfDay(quiet.start), minuteOfDay(quiet.end));
    if (open <= wall && wall < close) return close;
  }
  return wall;
}

function windowConstraint(window: Window, zone: string): Constraint {
  return inZone(zone, (wall) => nextWindowOpening(wall, window));
}

function quietHoursConstraint(quiet: QuietHours, zone: string): Constraint {
  return inZone(zone, (wall) => quietHoursEnd(wall, quiet));
}
