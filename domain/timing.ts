/**
 * When a step is due: the one schedule computation shared by the enrollment workflow and the
 * preview endpoint. Pure and deterministic: the current time is an input.
 *
 * due = the earliest moment that is
 *   - not before base + delay (base: the previous step's completion, or the enrollment start),
 *   - not before `now` (a due time in the past runs at once),
 *   - inside the step's window (in the window's zone, else the recipient's),
 *   - outside the quiet hours when they cover the step's channel (in the recipient's zone).
 */
import { IANAZone } from 'luxon';
import type { Channel, QuietHours, Settings, Step, Weekday, Window } from './definition';
import { addDuration, clockChangeBetween, instantOfWallTime, wallTime } from './duration';

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
}

export function dueAt({ step, settings, previousCompletedAt, enrolledAt, now, timeZone }: DueInput): Date {
  // A window on its own clock (office hours) sets the calendar of the whole step: "2 days" and
  // "that day" are days on that clock.
  const zone = step.window?.timezone ?? timeZone;
  const fromStart = (step.delayFrom ?? (settings?.timing === 'after_start' ? 'start' : 'previous')) === 'start';
  const base = fromStart ? enrolledAt : previousCompletedAt;
  let earliest = step.delay ? addDuration(base, step.delay, zone).getTime() : base.getTime();
  if (step.roundDelayToDay) earliest = instantOfWallTime(startOfDay(wallTime(earliest, zone)), zone);
  const start = Math.max(earliest, now.getTime());

  const constraints: Constraint[] = [];
  if (step.window) constraints.push(windowConstraint(step.window, zone));
  const quiet = quietHoursFor(step, settings);
  if (quiet) constraints.push(quietHoursConstraint(quiet, timeZone));
  return new Date(earliestSatisfying(start, constraints).at);
}

/** The quiet hours that hold a step back, if they cover its channel. */
export function quietHoursFor(step: Step, settings: Settings | undefined): QuietHours | undefined {
  const quiet = settings?.quietHours;
  const channel = stepChannel(step);
  return quiet && channel !== 'none' && (quiet.channels ?? DEFAULT_QUIET_CHANNELS).includes(channel) ? quiet : undefined;
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
