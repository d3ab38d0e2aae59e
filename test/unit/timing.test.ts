import { describe, expect, it } from 'vitest';
import { DateTime } from 'luxon';
import type { Settings, Step } from '#domain/definition';
import { dueAt, recipientTimeZone, stepChannel, stepDeadline, windowMeetsQuietHours } from '#domain/timing';

/** An instant from a local time in a zone. */
const t = (localIso: string, zone: string) => DateTime.fromISO(localIso, { zone }).toJSDate();
/** An instant as a local time in a zone, with its weekday. */
const show = (d: Date, zone: string) => DateTime.fromJSDate(d, { zone }).toFormat("ccc yyyy-MM-dd'T'HH:mm ZZ");

function due(step: Step, opts: { from: Date; start?: Date; now?: Date; zone: string; settings?: Settings }): Date {
  return dueAt({
    step,
    settings: opts.settings,
    previousCompletedAt: opts.from,
    enrolledAt: opts.start ?? opts.from,
    now: opts.now ?? opts.from,
    timeZone: opts.zone,
  });
}

const email = (extra: Partial<Step> = {}): Step => ({ id: 's', type: 'email', template: 'tpl', ...extra }) as Step;
const sms = (extra: Partial<Step> = {}): Step => ({ id: 's', type: 'sms', template: 'tpl', ...extra }) as Step;

describe('delays', () => {
  const zone = 'Europe/Bucharest';

  it('counts from the previous step by default (Romanian seed: 1 day, then 4 more = 5 days)', () => {
    const start = t('2024-05-06T10:00', zone);
    const first = due(email({ delay: 'P1D' }), { from: start, zone });
    const second = due({ id: 't', type: 'task', template: 'tpl', delay: 'P4D' }, { from: first, start, zone });
    expect(show(first, zone)).toBe('Tue 2024-05-07T10:00 +03:00');
    expect(show(second, zone)).toBe('Sat 2024-05-11T10:00 +03:00');
  });

  it('counts from the enrollment start with timing after_start (French seed: 5 min, 2 h, 6 h after entering the stage)', () => {
    const start = t('2024-05-06T10:00', 'Europe/Paris');
    const settings: Settings = { timing: 'after_start' };
    let previous = start;
    const dues = ['PT5M', 'PT2H', 'PT6H'].map((delay) => {
      previous = due(email({ delay }), { from: previous, start, zone: 'Europe/Paris', settings });
      return show(previous, 'Europe/Paris');
    });
    expect(dues).toEqual(['Mon 2024-05-06T10:05 +02:00', 'Mon 2024-05-06T12:00 +02:00', 'Mon 2024-05-06T16:00 +02:00']);
  });

  it('lets a step override the automation timing with delayFrom', () => {
    const start = t('2024-05-06T10:00', 'UTC');
    const previous = t('2024-05-08T10:00', 'UTC');
    const fromStart = due(email({ delay: 'P3D', delayFrom: 'start' }), { from: previous, start, zone: 'UTC' });
    const fromPrevious = due(email({ delay: 'P3D', delayFrom: 'previous' }), { from: previous, start, zone: 'UTC', settings: { timing: 'after_start' } });
    expect(fromStart.toISOString()).toBe('2024-05-09T10:00:00.000Z');
    expect(fromPrevious.toISOString()).toBe('2024-05-11T10:00:00.000Z');
  });

  it('runs at once when the due time has passed', () => {
    const start = t('2024-05-06T10:00', 'UTC');
    const now = t('2024-05-20T08:00', 'UTC');
    expect(due(email({ delay: 'P1D', delayFrom: 'start' }), { from: now, start, now, zone: 'UTC' })).toEqual(now);
  });

  it('runs at once with no delay and no window', () => {
    const now = t('2024-05-06T10:17:23', 'UTC');
    expect(due(email(), { from: now, zone: 'UTC' })).toEqual(now);
  });
});

describe('windows', () => {
  const zone = 'Europe/Bucharest';

  it('MiniCRM: 2 days, workdays, 09:00 moves a weekend due time to Monday 09:00', () => {
    const start = t('2024-05-02T15:00', zone); // Thursday
    expect(show(due(email({ delay: 'P2D', window: { days: 'workdays', from: '09:00' } }), { from: start, zone }), zone)).toBe('Mon 2024-05-06T09:00 +03:00');
  });

  it('a `from`-only window is open from that hour to the end of the day', () => {
    const start = t('2024-05-06T15:00', zone); // Monday
    expect(show(due(email({ delay: 'P2D', window: { days: 'workdays', from: '09:00' } }), { from: start, zone }), zone)).toBe('Wed 2024-05-08T15:00 +03:00');
  });

  it('MiniCRM: a chosen weekday waits for that day', () => {
    const start = t('2024-05-07T11:00', zone); // Tuesday
    expect(show(due(email({ window: { days: ['mon'], from: '10:00' } }), { from: start, zone }), zone)).toBe('Mon 2024-05-13T10:00 +03:00');
  });

  it('MiniCRM: weekends', () => {
    const start = t('2024-05-07T11:00', zone); // Tuesday
    expect(show(due(email({ window: { days: 'weekends' } }), { from: start, zone }), zone)).toBe('Sat 2024-05-11T00:00 +03:00');
  });

  it('a `to`-only window is open from midnight until that hour', () => {
    const start = t('2024-05-07T11:00', zone);
    expect(show(due(email({ window: { to: '10:00' } }), { from: start, zone }), zone)).toBe('Wed 2024-05-08T00:00 +03:00');
    expect(due(email({ window: { to: '12:00' } }), { from: start, zone })).toEqual(start);
  });

  it('a window whose end is before its start wraps past midnight, on the day it opens', () => {
    const window = { days: ['fri' as const], from: '22:00', to: '06:00' };
    // Saturday 03:00 is still inside Friday's night window.
    const saturdayNight = t('2024-05-11T03:00', zone);
    expect(due(email({ window }), { from: saturdayNight, zone })).toEqual(saturdayNight);
    // Saturday 07:00 is past it: the next opening is the next Friday 22:00.
    expect(show(due(email({ window }), { from: t('2024-05-11T07:00', zone), zone }), zone)).toBe('Fri 2024-05-17T22:00 +03:00');
  });

  it('seller leads: action 1 at once, actions 2+ between 14:00 and 15:00 New York time, days counted from the start', () => {
    const settings: Settings = { timing: 'after_start' };
    const window = { from: '14:00', to: '15:00', timezone: 'America/New_York' };
    const recipientZone = 'America/Los_Angeles';
    for (const startLocal of ['2024-05-06T10:00', '2024-05-06T16:30']) {
      const start = t(startLocal, 'America/New_York'); // Monday
      const first = due(email(), { from: start, zone: recipientZone, settings });
      const second = due(sms({ delay: 'P2D', roundDelayToDay: true, window }), { from: first, start, zone: recipientZone, settings });
      const third = due(sms({ delay: 'P3D', roundDelayToDay: true, window }), { from: second, start, zone: recipientZone, settings });
      expect(first).toEqual(start);
      expect(show(second, 'America/New_York')).toBe('Wed 2024-05-08T14:00 -04:00');
      expect(show(third, 'America/New_York')).toBe('Thu 2024-05-09T14:00 -04:00');
    }
  });

  it('without roundDelayToDay the delay is exact and a late start waits for the next opening', () => {
    const start = t('2024-05-06T16:30', 'America/New_York');
    const step = sms({ delay: 'P2D', window: { from: '14:00', to: '15:00' } });
    expect(show(due(step, { from: start, zone: 'America/New_York' }), 'America/New_York')).toBe('Thu 2024-05-09T14:00 -04:00');
  });
});

describe('quiet hours', () => {
  const zone = 'Europe/Bucharest';
  const settings: Settings = { quietHours: { start: '23:00', end: '07:30' } };

  it('Romanian seed: an SMS due at night is deferred to 07:30, not dropped', () => {
    expect(show(due(sms(), { from: t('2024-05-06T23:40', zone), zone, settings }), zone)).toBe('Tue 2024-05-07T07:30 +03:00');
    expect(show(due(sms(), { from: t('2024-05-07T06:00', zone), zone, settings }), zone)).toBe('Tue 2024-05-07T07:30 +03:00');
    expect(show(due(sms(), { from: t('2024-05-07T07:30', zone), zone, settings }), zone)).toBe('Tue 2024-05-07T07:30 +03:00');
  });

  it('applies to sms and voicemail by default, not to email or tasks', () => {
    const night = t('2024-05-06T23:40', zone);
    expect(show(due({ id: 'v', type: 'voicemail', template: 'tpl' }, { from: night, zone, settings }), zone)).toBe('Tue 2024-05-07T07:30 +03:00');
    expect(due(email(), { from: night, zone, settings })).toEqual(night);
    expect(due({ id: 't', type: 'task', template: 'tpl' }, { from: night, zone, settings })).toEqual(night);
  });

  it('applies to the channels it lists', () => {
    const night = t('2024-05-06T23:40', zone);
    const emailOnly: Settings = { quietHours: { start: '23:00', end: '07:30', channels: ['email'] } };
    expect(show(due(email(), { from: night, zone, settings: emailOnly }), zone)).toBe('Tue 2024-05-07T07:30 +03:00');
    expect(due(sms(), { from: night, zone, settings: emailOnly })).toEqual(night);
  });

  it('is read in the recipient zone', () => {
    const noonInNewYork = t('2024-05-06T12:00', 'America/New_York'); // 19:00 in Bucharest, 21:30 in Kolkata
    expect(due(sms(), { from: noonInNewYork, zone: 'Asia/Kolkata', settings })).toEqual(noonInNewYork);
    const lateInNewYork = t('2024-05-06T14:00', 'America/New_York'); // 23:30 in Kolkata
    expect(show(due(sms(), { from: lateInNewYork, zone: 'Asia/Kolkata', settings }), 'Asia/Kolkata')).toBe('Tue 2024-05-07T07:30 +05:30');
  });

  it('satisfies the window and the quiet hours together (SMS on workdays after 9, never at night)', () => {
    const step = sms({ window: { days: 'workdays', from: '06:00', to: '23:59' } });
    // Friday 23:30: quiet until Saturday 07:30, the weekend is closed, Monday 06:00 is quiet: Monday 07:30.
    expect(show(due(step, { from: t('2024-05-10T23:30', zone), zone, settings }), zone)).toBe('Mon 2024-05-13T07:30 +03:00');
  });

  it('when a window in its own zone only opens during quiet hours, sends when they end after the opening', () => {
    // 14:00-15:00 New York is 23:30-00:30 in Kolkata in May.
    const step = sms({ window: { from: '14:00', to: '15:00', timezone: 'America/New_York' } });
    const d = due(step, { from: t('2024-05-06T10:00', 'America/New_York'), zone: 'Asia/Kolkata', settings });
    expect(show(d, 'Asia/Kolkata')).toBe('Tue 2024-05-07T07:30 +05:30');
  });
});

describe('DST', () => {
  const ny = 'America/New_York';

  it('a window opening at a local time the clocks skip opens at the first instant after the gap', () => {
    // 2024-03-10: 02:00 -> 03:00 in New York.
    const d = due(email({ window: { from: '02:30', to: '04:00' } }), { from: t('2024-03-10T00:30', ny), zone: ny });
    expect(show(d, ny)).toBe('Sun 2024-03-10T03:00 -04:00');
  });

  it('a window that lies wholly in the gap opens the next day', () => {
    const d = due(email({ window: { from: '02:00', to: '02:30' } }), { from: t('2024-03-10T00:30', ny), zone: ny });
    expect(show(d, ny)).toBe('Mon 2024-03-11T02:00 -04:00');
  });

  it('quiet hours ending in the gap end when the gap ends', () => {
    const settings: Settings = { quietHours: { start: '23:00', end: '02:30' } };
    expect(show(due(sms(), { from: t('2024-03-10T01:00', ny), zone: ny, settings }), ny)).toBe('Sun 2024-03-10T03:00 -04:00');
  });

  it('on a fall-back night the window reopens at the second occurrence of its opening time', () => {
    // 2024-11-03: 02:00 EDT -> 01:00 EST. 01:10 EST comes after the first 01:30 (EDT) has passed.
    const tenPastOneEst = new Date('2024-11-03T06:10:00Z');
    const d = due(email({ window: { from: '01:30', to: '03:00' } }), { from: tenPastOneEst, zone: ny });
    expect(d.toISOString()).toBe('2024-11-03T06:30:00.000Z');
  });

  it('turning the clocks back can end quiet hours early: the repeated hour is not quiet', () => {
    // Quiet from 01:15; at 02:00 EDT the clocks go back to 01:00 EST, outside the quiet hours again.
    const settings: Settings = { quietHours: { start: '01:15', end: '06:00' } };
    const tenToTwoEdt = new Date('2024-11-03T05:50:00Z');
    expect(due(sms(), { from: tenToTwoEdt, zone: ny, settings }).toISOString()).toBe('2024-11-03T06:00:00.000Z');
  });

  it('a daily window keeps its local hour across the change', () => {
    const window = { from: '09:00', to: '10:00' };
    const before = due(email({ delay: 'P1D', window }), { from: t('2024-03-09T09:15', ny), zone: ny });
    expect(show(before, ny)).toBe('Sun 2024-03-10T09:15 -04:00');
  });

  it('Lord Howe Island: a half-hour gap', () => {
    const zone = 'Australia/Lord_Howe'; // 2024-10-06: 02:00 -> 02:30
    const d = due(email({ window: { from: '02:10', to: '05:00' } }), { from: t('2024-10-06T01:00', zone), zone });
    expect(show(d, zone)).toBe('Sun 2024-10-06T02:30 +11:00');
  });
});

describe('stepDeadline', () => {
  const start = new Date('2024-03-09T14:00:00Z');

  it('ends a wait after its duration, on the calendar', () => {
    expect(stepDeadline({ id: 'w', type: 'wait', duration: 'P1D' }, start, 'America/New_York')?.toISOString()).toBe('2024-03-10T13:00:00.000Z');
    expect(stepDeadline({ id: 'w', type: 'wait', duration: 'PT2H' }, start, 'UTC')?.toISOString()).toBe('2024-03-09T16:00:00.000Z');
  });

  it('gives a wait_for its timeout and a task its due date', () => {
    expect(stepDeadline({ id: 'r', type: 'wait_for', event: 'rating.received', timeout: 'P1D' }, start, 'UTC')?.toISOString()).toBe('2024-03-10T14:00:00.000Z');
    expect(stepDeadline({ id: 'k', type: 'task', template: 'tpl', due: 'P2D' }, start, 'UTC')?.toISOString()).toBe('2024-03-11T14:00:00.000Z');
  });

  it('is undefined for steps that do not last', () => {
    expect(stepDeadline({ id: 'k', type: 'task', template: 'tpl' }, start, 'UTC')).toBeUndefined();
    expect(stepDeadline(email(), start, 'UTC')).toBeUndefined();
  });
});

describe('recipientTimeZone', () => {
  it('prefers the record, then the automation, then the workspace, then UTC', () => {
    expect(recipientTimeZone({ record: 'Asia/Kolkata', automation: 'Europe/Bucharest', workspace: 'America/New_York' })).toBe('Asia/Kolkata');
    expect(recipientTimeZone({ record: null, automation: 'Europe/Bucharest', workspace: 'America/New_York' })).toBe('Europe/Bucharest');
    expect(recipientTimeZone({ record: null, automation: 'record', workspace: 'America/New_York' })).toBe('America/New_York');
    expect(recipientTimeZone({})).toBe('UTC');
  });

  it('passes over a zone that is not a valid IANA name', () => {
    expect(recipientTimeZone({ record: 'Mars/Olympus', workspace: 'Europe/Bucharest' })).toBe('Europe/Bucharest');
  });
});

describe('stepChannel', () => {
  it('names the recipient channel of sends, and none for the rest', () => {
    expect(stepChannel(sms())).toBe('sms');
    expect(stepChannel({ id: 'u', type: 'email_user', to: 'owner', template: 'tpl' })).toBe('none');
  });
});

describe('windowMeetsQuietHours', () => {
  it('is false only when every opening is quiet', () => {
    const quiet = { start: '23:00', end: '07:30' };
    expect(windowMeetsQuietHours({ from: '23:30', to: '06:00' }, quiet)).toBe(false);
    expect(windowMeetsQuietHours({ from: '23:30', to: '07:45' }, quiet)).toBe(true);
    expect(windowMeetsQuietHours({ days: ['sun'], from: '09:00' }, quiet)).toBe(true);
  });
});
