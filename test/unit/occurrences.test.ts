/** When date and inactivity triggers fire (domain/occurrences.ts), and SWEEP_INTERVAL's bounds. */
import { describe, expect, it } from 'vitest';
import { DateTime } from 'luxon';
import { dateOccurrence, dateValueRange, inactivityOccurrence } from '#domain/occurrences';
import { loadConfig, sweepIntervalMs } from '#platform/config';

const show = (ms: number, zone: string) => DateTime.fromMillis(ms, { zone }).toFormat("yyyy-MM-dd'T'HH:mm ZZ");
const renewal = { type: 'date' as const, field: 'record.attributes.renewal_date', offset: '-P7D', at: '09:00' };

describe('date trigger', () => {
  it("fires 7 days before a date-only value at 09:00 in the recipient's zone, keyed by the value", () => {
    const occ = dateOccurrence(renewal, '2027-01-20', 'Europe/Bucharest')!;
    expect(occ.key).toBe('date:2027-01-20');
    expect(show(occ.fireAt, 'Europe/Bucharest')).toBe('2027-01-13T09:00 +02:00');
    expect(show(dateOccurrence(renewal, '2027-01-20', 'America/New_York')!.fireAt, 'America/New_York')).toBe('2027-01-13T09:00 -05:00');
  });

  it('keeps 09:00 local across a DST change between the offset day and the date', () => {
    // Bucharest moves its clocks on 2027-03-28: the renewal is after, the reminder before.
    expect(show(dateOccurrence(renewal, '2027-04-02', 'Europe/Bucharest')!.fireAt, 'Europe/Bucharest')).toBe('2027-03-26T09:00 +02:00');
  });

  it('takes a timestamp as the instant it names; without `at` the offset is exact calendar days', () => {
    const t = { type: 'date' as const, field: 'record.attributes.renews_at', offset: '-P1D' };
    expect(show(dateOccurrence(t, '2027-01-20T15:30:00Z', 'UTC')!.fireAt, 'UTC')).toBe('2027-01-19T15:30 +00:00');
  });

  it('ignores values that are not dates', () => {
    for (const v of ['soon', 42, null, '2027-13-45']) expect(dateOccurrence(renewal, v, 'UTC')).toBeUndefined();
  });

  it('reads candidates in a range of values that covers every zone', () => {
    const from = new Date('2027-01-13T00:00:00Z');
    const to = new Date('2027-01-13T12:00:00Z');
    expect(dateValueRange(renewal, from, to)).toEqual({ low: '2027-01-18', high: '2027-01-22' });
  });
});

describe('inactivity trigger', () => {
  it('fires `after` the last event, keyed by that event', () => {
    const occ = inactivityOccurrence(
      { type: 'inactivity', event: 'booking.completed', after: 'P60D' },
      { eventId: 'bk_9', occurredAt: new Date('2027-01-01T10:00:00Z') },
      'UTC',
    );
    expect(occ).toEqual({ key: 'inactivity:bk_9', fireAt: Date.parse('2027-03-02T10:00:00Z') });
  });
});

describe('SWEEP_INTERVAL', () => {
  const base = { DATABASE_URL: 'postgres://u@127.0.0.1:5432/db' };
  it('defaults to five minutes and accepts down to ten seconds', () => {
    expect(sweepIntervalMs(loadConfig(base))).toBe(300_000);
    expect(sweepIntervalMs(loadConfig({ ...base, SWEEP_INTERVAL: 'PT10S' }))).toBe(10_000);
  });
  it('refuses shorter, calendar or malformed intervals, naming the variable', () => {
    for (const v of ['PT5S', 'P1D', '5m', '-PT5M']) expect(() => loadConfig({ ...base, SWEEP_INTERVAL: v })).toThrow(/SWEEP_INTERVAL/);
  });
});
