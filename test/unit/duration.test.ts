import { describe, expect, it } from 'vitest';
import { DateTime } from 'luxon';
import { addDuration, instantOfWallTime, isPositiveDuration, parseDuration } from '#domain/duration';

const at = (iso: string) => new Date(iso);
const local = (d: Date, zone: string) => DateTime.fromJSDate(d, { zone }).toFormat("yyyy-MM-dd'T'HH:mm ZZ");

describe('parseDuration', () => {
  it.each(['PT2H', 'P3D', 'P1DT12H', 'P1W', 'P1Y2M', 'PT5M', 'PT1.5H', 'PT30S', '-P7D'])('accepts %s', (iso) => {
    expect(parseDuration(iso)).toBeDefined();
  });

  it.each(['', 'P', 'PT', 'P1', '1D', 'p1d', ' P1D', 'P1.5D', 'P-1D', 'PT1H-30M', 'P1DT', '--P1D', 'P1H'])('rejects %j', (iso) => {
    expect(parseDuration(iso)).toBeUndefined();
  });

  it('splits calendar units from exact time', () => {
    expect(parseDuration('P1W2DT3H30M')).toEqual({ sign: 1, calendar: { years: 0, months: 0, weeks: 1, days: 2 }, clockMillis: 3.5 * 3_600_000 });
    expect(parseDuration('-P7D')?.sign).toBe(-1);
  });

  it('tells positive durations from zero and negative ones', () => {
    expect(isPositiveDuration(parseDuration('PT1S')!)).toBe(true);
    expect(isPositiveDuration(parseDuration('P1M')!)).toBe(true);
    expect(isPositiveDuration(parseDuration('PT0S')!)).toBe(false);
    expect(isPositiveDuration(parseDuration('P0D')!)).toBe(false);
    expect(isPositiveDuration(parseDuration('-P1D')!)).toBe(false);
  });
});

describe('addDuration', () => {
  it('keeps the local time across a spring-forward change for calendar days', () => {
    // 2024-03-10 is the US spring-forward day: a day later is 23 hours later.
    const due = addDuration(at('2024-03-09T14:00:00Z'), 'P1D', 'America/New_York'); // 09:00 EST
    expect(local(due, 'America/New_York')).toBe('2024-03-10T09:00 -04:00');
    expect(due.getTime() - at('2024-03-09T14:00:00Z').getTime()).toBe(23 * 3_600_000);
  });

  it('counts hours as elapsed time across the same change', () => {
    const due = addDuration(at('2024-03-09T14:00:00Z'), 'PT24H', 'America/New_York');
    expect(local(due, 'America/New_York')).toBe('2024-03-10T10:00 -04:00');
  });

  it('keeps the local time across a fall-back change', () => {
    const due = addDuration(at('2024-10-26T06:00:00Z'), 'P1D', 'Europe/Bucharest'); // 09:00 EEST
    expect(local(due, 'Europe/Bucharest')).toBe('2024-10-27T09:00 +02:00');
  });

  it('moves a local time that the clocks skip to the first instant after the gap', () => {
    // 02:30 does not exist in New York on 2024-03-10: the clocks go from 02:00 to 03:00.
    const due = addDuration(at('2024-03-09T07:30:00Z'), 'P1D', 'America/New_York'); // 02:30 EST
    expect(local(due, 'America/New_York')).toBe('2024-03-10T03:00 -04:00');
  });

  it('handles the half-hour shift of Lord Howe Island', () => {
    // 2024-10-06 02:00 -> 02:30 at Lord Howe.
    const start = DateTime.fromISO('2024-10-05T02:15', { zone: 'Australia/Lord_Howe' }).toJSDate();
    expect(local(addDuration(start, 'P1D', 'Australia/Lord_Howe'), 'Australia/Lord_Howe')).toBe('2024-10-06T02:30 +11:00');
  });

  it('goes back in time for a negative offset', () => {
    expect(addDuration(at('2024-06-15T12:00:00Z'), '-P7D', 'UTC').toISOString()).toBe('2024-06-08T12:00:00.000Z');
  });

  it('adds months on the calendar (clamping to the end of the month)', () => {
    expect(addDuration(at('2024-01-31T10:00:00Z'), 'P1M', 'UTC').toISOString()).toBe('2024-02-29T10:00:00.000Z');
  });

  it('throws on an invalid duration', () => {
    expect(() => addDuration(at('2024-01-01T00:00:00Z'), 'P', 'UTC')).toThrow(RangeError);
  });
});

describe('instantOfWallTime', () => {
  const wall = (iso: string) => Date.parse(`${iso}Z`);

  it('picks the earliest occurrence of a repeated local time that is not too early', () => {
    // 01:30 happens twice in New York on 2024-11-03 (EDT, then EST).
    const first = instantOfWallTime(wall('2024-11-03T01:30'), 'America/New_York');
    expect(new Date(first).toISOString()).toBe('2024-11-03T05:30:00.000Z');
    const second = instantOfWallTime(wall('2024-11-03T01:30'), 'America/New_York', first + 1);
    expect(new Date(second).toISOString()).toBe('2024-11-03T06:30:00.000Z');
  });
});
