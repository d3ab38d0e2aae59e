/**
 * Properties of the step schedule over random starts, delays, windows, quiet hours and zones,
 * checked against small oracles that read local wall clocks minute by minute.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DateTime, IANAZone } from 'luxon';
import type { QuietHours, Settings, Step, Weekday, Window } from '#domain/definition';
import { addDuration } from '#domain/duration';
import { dueAt, stepChannel } from '#domain/timing';

const ZONES = ['America/New_York', 'Europe/Bucharest', 'Australia/Lord_Howe', 'UTC', 'Asia/Kolkata'] as const;
const WEEKDAYS: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const MINUTE = 60_000;
// A few seconds here; a busy CI machine gets headroom.
const PROPERTY_TIMEOUT = 60_000;
const DAY = 1440 * MINUTE;

// 2024 DST changes of each zone: starts cluster around them, where schedules go wrong.
const DST_CHANGES: Record<(typeof ZONES)[number], string[]> = {
  'America/New_York': ['2024-03-10T07:00Z', '2024-11-03T06:00Z'],
  'Europe/Bucharest': ['2024-03-31T01:00Z', '2024-10-27T01:00Z'],
  'Australia/Lord_Howe': ['2024-04-06T15:00Z', '2024-10-05T15:30Z'],
  UTC: [],
  'Asia/Kolkata': [],
};

const zoneAndInstant = fc
  .constantFrom(...ZONES)
  .chain((zone) =>
    fc.tuple(
      fc.constant(zone),
      fc.oneof(
        fc.integer({ min: Date.parse('2020-01-01T00:00Z'), max: Date.parse('2030-12-31T00:00Z') }),
        ...DST_CHANGES[zone].map((change) => fc.integer({ min: -2 * DAY, max: DAY }).map((d) => Date.parse(change) + d)),
      ),
    ),
  );

/** A zone that changes its clocks and an instant within three hours of a change. */
const zoneAndInstantNearChange = fc.constantFrom(...ZONES.filter((z) => DST_CHANGES[z].length > 0)).chain((zone) =>
  fc.tuple(
    fc.constant(zone),
    fc.constantFrom(...DST_CHANGES[zone]).chain((change) => fc.integer({ min: -3 * 60 * MINUTE, max: 3 * 60 * MINUTE }).map((d) => Date.parse(change) + d)),
  ),
);

const hhmm = (h: number, m: number) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`;
const anyLocalTime = fc.tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 })).map(([h, m]) => hhmm(h, m));
// The small hours, where the clocks change.
const smallHours = fc.tuple(fc.integer({ min: 0, max: 3 }), fc.constantFrom(0, 10, 15, 30, 45)).map(([h, m]) => hhmm(h, m));

function windowOf(localTime: fc.Arbitrary<string>): fc.Arbitrary<Window> {
  return fc
    .record(
      {
        days: fc.oneof(fc.constantFrom('any' as const, 'workdays' as const, 'weekends' as const), fc.subarray(WEEKDAYS, { minLength: 1 })),
        from: localTime,
        to: localTime,
      },
      { requiredKeys: [] },
    )
    .filter((w) => w.from === undefined || w.from !== w.to);
}

function quietHoursOf(localTime: fc.Arbitrary<string>): fc.Arbitrary<QuietHours> {
  return fc
    .record(
      { start: localTime, end: localTime, channels: fc.subarray(['email', 'sms', 'voicemail'] as const, { minLength: 1 }) },
      { requiredKeys: ['start', 'end'] },
    )
    .filter((q) => q.start !== q.end);
}

const anyDelay = fc.oneof(
  fc.integer({ min: 1, max: 600 }).map((n) => `PT${n}M`),
  fc.integer({ min: 1, max: 72 }).map((n) => `PT${n}H`),
  fc.integer({ min: 1, max: 30 }).map((n) => `P${n}D`),
  fc.tuple(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 23 })).map(([d, h]) => `P${d}DT${h}H`),
);

function stepOf(localTime: fc.Arbitrary<string>, delay: fc.Arbitrary<string>): fc.Arbitrary<Step> {
  return fc
    .record(
      {
        type: fc.constantFrom('email', 'sms', 'voicemail', 'task'),
        delay,
        delayFrom: fc.constantFrom('previous' as const, 'start' as const),
        window: windowOf(localTime),
        roundDelayToDay: fc.boolean(),
      },
      { requiredKeys: ['type'] },
    )
    .map((s) => ({ id: 's', template: 'tpl', ...s }) as Step);
}

function settingsOf(localTime: fc.Arbitrary<string>): fc.Arbitrary<Settings> {
  return fc.record({ timing: fc.constantFrom('after_previous' as const, 'after_start' as const), quietHours: quietHoursOf(localTime) }, { requiredKeys: [] });
}

const mostlyAnyTime = fc.oneof(anyLocalTime, smallHours);

// ---- oracles: local wall-clock reading, minute by minute

/** The local minute of the day and ISO weekday (1 = Monday) of an instant. */
interface Local {
  minute: number;
  weekday: number;
}

function localOf(t: number, offsetMinutes: number): Local {
  const wall = t + offsetMinutes * MINUTE;
  return { minute: Math.floor(wall / MINUTE) % 1440, weekday: ((Math.floor(wall / DAY) + 3) % 7) + 1 }; // 1970-01-01 was a Thursday
}

function localAt(t: number, zone: string): Local {
  return localOf(t, IANAZone.create(zone).offset(t));
}

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h! * 60 + m!;
}

/** Whether a minute of the day lies in the daily interval [from, to), wrapping past midnight. */
function inDaily(minute: number, from: number, to: number): { today: boolean; fromYesterday: boolean } {
  return to > from ? { today: minute >= from && minute < to, fromYesterday: false } : { today: minute >= from, fromYesterday: minute < to };
}

function dayAllowed(days: Window['days'], weekday: number): boolean {
  if (days === undefined || days === 'any') return true;
  if (days === 'workdays') return weekday <= 5;
  if (days === 'weekends') return weekday >= 6;
  return days.includes(WEEKDAYS[weekday - 1]!);
}

function inWindow(local: Local, w: Window): boolean {
  const { today, fromYesterday } = inDaily(local.minute, w.from ? minutes(w.from) : 0, w.to ? minutes(w.to) : 1440);
  return (today && dayAllowed(w.days, local.weekday)) || (fromYesterday && dayAllowed(w.days, ((local.weekday + 5) % 7) + 1));
}

function inQuiet(local: Local, q: QuietHours): boolean {
  const { today, fromYesterday } = inDaily(local.minute, minutes(q.start), minutes(q.end));
  return today || fromYesterday;
}

function quietApplies(s: Step, st: Settings): st is Settings & { quietHours: QuietHours } {
  const channel = stepChannel(s);
  return !!st.quietHours && channel !== 'none' && (st.quietHours.channels ?? ['sms', 'voicemail']).includes(channel);
}

function allowed(local: Local, s: Step, st: Settings): boolean {
  return (!s.window || inWindow(local, s.window)) && !(quietApplies(s, st) && inQuiet(local, st.quietHours));
}

/**
 * The whole minutes in [from, to) that are allowed. Reading the zone offset once per quarter hour
 * (and minute by minute only across a change) keeps the scan of a week cheap.
 */
function allowedMinutesBetween(from: number, to: number, s: Step, st: Settings, zone: string): number[] {
  const tz = IANAZone.create(zone);
  const quarter = 15 * MINUTE;
  const found: number[] = [];
  let bucket = NaN;
  let steadyOffset: number | undefined;
  for (let m = Math.ceil(from / MINUTE) * MINUTE; m < to; m += MINUTE) {
    if (m >= bucket + quarter || !(m >= bucket)) {
      bucket = Math.floor(m / quarter) * quarter;
      const [start, end] = [tz.offset(bucket), tz.offset(bucket + quarter)];
      steadyOffset = start === end ? start : undefined;
    }
    if (allowed(localOf(m, steadyOffset ?? tz.offset(m)), s, st)) found.push(m);
  }
  return found;
}

/** Some minute of the day is in the window and not quiet: the step can ever be sent. */
function satisfiable(s: Step, st: Settings): boolean {
  if (!s.window || !quietApplies(s, st)) return true;
  const w = s.window;
  const q = st.quietHours;
  return Array.from({ length: 1440 }, (_, m) => m).some((m) => {
    const win = inDaily(m, w.from ? minutes(w.from) : 0, w.to ? minutes(w.to) : 1440);
    const quiet = inDaily(m, minutes(q.start), minutes(q.end));
    return (win.today || win.fromYesterday) && !(quiet.today || quiet.fromYesterday);
  });
}

function earliest(s: Step, st: Settings, previous: number, enrolled: number, zone: string): number {
  const fromStart = (s.delayFrom ?? (st.timing === 'after_start' ? 'start' : 'previous')) === 'start';
  const base = new Date(fromStart ? enrolled : previous);
  const afterDelay = s.delay ? addDuration(base, s.delay, zone).getTime() : base.getTime();
  return s.roundDelayToDay ? DateTime.fromMillis(afterDelay, { zone }).startOf('day').toMillis() : afterDelay;
}

interface Scenario {
  zoneAndStart: [string, number];
  sincePrevious: number;
  lateBy: number;
  step: Step;
  settings: Settings;
}

/** The due time is not early, is allowed, and is the first allowed minute from the earliest moment on. */
function checkDue({ zoneAndStart: [zone, enrolled], sincePrevious, lateBy, step: s, settings: st }: Scenario): void {
  fc.pre(satisfiable(s, st));
  const previous = enrolled + sincePrevious;
  const now = previous + Math.max(0, lateBy);
  const due = dueAt({
    step: s,
    settings: st,
    previousCompletedAt: new Date(previous),
    enrolledAt: new Date(enrolled),
    now: new Date(now),
    timeZone: zone,
  }).getTime();
  const start = Math.max(earliest(s, st, previous, enrolled, zone), now);

  expect(due).toBeGreaterThanOrEqual(start);
  if (s.window) expect(inWindow(localAt(due, zone), s.window)).toBe(true);
  if (quietApplies(s, st)) expect(inQuiet(localAt(due, zone), st.quietHours)).toBe(false);
  expect(allowedMinutesBetween(start, due, s, st, zone).map((m) => new Date(m).toISOString())).toEqual([]);
}

describe('dueAt properties', () => {
  it(
    'is never before the earliest moment, inside the window, outside quiet hours, and the first such minute',
    () => {
      const scenario = fc.record({
        zoneAndStart: zoneAndInstant,
        sincePrevious: fc.oneof(fc.integer({ min: 0, max: 10 * DAY }), fc.integer({ min: 0, max: 3 * 60 * MINUTE })),
        lateBy: fc.integer({ min: -5 * DAY, max: 5 * DAY }),
        step: stepOf(mostlyAnyTime, anyDelay),
        settings: settingsOf(mostlyAnyTime),
      });
      fc.assert(fc.property(scenario, checkDue), { numRuns: 300 });
    },
    PROPERTY_TIMEOUT,
  );

  it(
    'holds the same across DST changes (skipped and repeated local times)',
    () => {
      const scenario = fc.record({
        zoneAndStart: zoneAndInstantNearChange,
        sincePrevious: fc.integer({ min: 0, max: 2 * 60 * MINUTE }),
        lateBy: fc.integer({ min: -60 * MINUTE, max: 60 * MINUTE }),
        step: stepOf(
          smallHours,
          fc.integer({ min: 1, max: 180 }).map((n) => `PT${n}M`),
        ),
        settings: settingsOf(smallHours),
      });
      fc.assert(fc.property(scenario, checkDue), { numRuns: 300 });
    },
    PROPERTY_TIMEOUT,
  );

  it(
    'never goes backwards along a sequence',
    () => {
      fc.assert(
        fc.property(
          zoneAndInstant,
          fc.array(fc.tuple(stepOf(mostlyAnyTime, anyDelay), fc.integer({ min: 0, max: 5 * MINUTE })), { minLength: 2, maxLength: 8 }),
          settingsOf(mostlyAnyTime),
          ([zone, enrolled], steps, st) => {
            fc.pre(steps.every(([s]) => satisfiable(s, st)));
            let previous = enrolled;
            for (const [s, runTime] of steps) {
              const due = dueAt({
                step: s,
                settings: st,
                previousCompletedAt: new Date(previous),
                enrolledAt: new Date(enrolled),
                now: new Date(previous),
                timeZone: zone,
              }).getTime();
              expect(due).toBeGreaterThanOrEqual(previous);
              previous = due + runTime;
            }
          },
        ),
        { numRuns: 300 },
      );
    },
    PROPERTY_TIMEOUT,
  );
});
