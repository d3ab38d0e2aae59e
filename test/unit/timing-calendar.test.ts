/**
 * Timing rules v2 (domain/timing.ts): the seeds' calendar-day delays, working days, DST, and the
 * workspace's default quiet hours, as exact due times. Rules v1 (enrollments started before) stay
 * as they were.
 */
import { describe, expect, it } from 'vitest';
import { DateTime } from 'luxon';
import type { Settings, Step } from '#domain/definition';
import type { WorkspaceQuietHours } from '#domain/settings';
import { dueAt, TIMING_RULES, type TimingRules } from '#domain/timing';

const t = (localIso: string, zone: string) => DateTime.fromISO(localIso, { zone }).toJSDate();
const show = (d: Date, zone: string) => DateTime.fromJSDate(d, { zone }).toFormat("ccc yyyy-MM-dd'T'HH:mm ZZ");

function due(step: Step, opts: { from: Date; zone: string; settings?: Settings; rules?: TimingRules; workspace?: WorkspaceQuietHours }): string {
  return show(
    dueAt({
      step,
      settings: opts.settings,
      previousCompletedAt: opts.from,
      enrolledAt: opts.from,
      now: opts.from,
      timeZone: opts.zone,
      timingRules: opts.rules ?? TIMING_RULES,
      workspaceQuietHours: opts.workspace,
    }),
    opts.zone,
  );
}

const email = (extra: Partial<Step> = {}): Step => ({ id: 's', type: 'email', template: 'tpl', ...extra }) as Step;
const sms = (extra: Partial<Step> = {}): Step => ({ id: 's', type: 'sms', template: 'tpl', ...extra }) as Step;
const voicemail = (extra: Partial<Step> = {}): Step => ({ id: 's', type: 'voicemail', template: 'tpl', ...extra }) as Step;

const NEW_WORKSPACE: WorkspaceQuietHours = { email: null, sms: { start: '21:00', end: '08:00' }, voicemail: { start: '21:00', end: '08:00' } };
const BUC = 'Europe/Bucharest';
const NY = 'America/New_York';

describe('timing rules v2: whole-day delays count calendar days, then the window applies', () => {
  it('seed 001: "1 day later between 10 and 11" from Monday 15:00 is Tuesday 10:00', () => {
    const step = email({ delay: 'P1D', window: { from: '10:00', to: '11:00' } });
    expect(due(step, { from: t('2026-11-30T15:00', BUC), zone: BUC })).toBe('Tue 2026-12-01T10:00 +02:00');
    // A week: the same weekday a week later, at the window's opening.
    expect(due(email({ delay: 'P1W', window: { from: '10:00', to: '11:00' } }), { from: t('2026-11-30T15:00', BUC), zone: BUC })).toBe(
      'Mon 2026-12-07T10:00 +02:00',
    );
  });

  it('timing rules v1 (enrollments started before) keep the old meaning: Wednesday 10:00', () => {
    const step = email({ delay: 'P1D', window: { from: '10:00', to: '11:00' } });
    expect(due(step, { from: t('2026-11-30T15:00', BUC), zone: BUC, rules: 1 })).toBe('Wed 2026-12-02T10:00 +02:00');
    // Absent rules mean v1: a recorded history without the field replays unchanged.
    const d = dueAt({
      step,
      previousCompletedAt: t('2026-11-30T15:00', BUC),
      enrolledAt: t('2026-11-30T15:00', BUC),
      now: t('2026-11-30T15:00', BUC),
      timeZone: BUC,
    });
    expect(show(d, BUC)).toBe('Wed 2026-12-02T10:00 +02:00');
  });

  it('counts working days with a workdays window: Friday 15:00 + 3 working days is Wednesday', () => {
    const friday = t('2026-11-27T15:00', BUC);
    expect(due(email({ delay: 'P3D', window: { days: 'workdays' } }), { from: friday, zone: BUC })).toBe('Wed 2026-12-02T15:00 +02:00');
    expect(due(email({ delay: 'P3D', window: { days: 'workdays', from: '09:00', to: '17:00' } }), { from: friday, zone: BUC })).toBe(
      'Wed 2026-12-02T09:00 +02:00',
    );
    expect(due(email({ delay: 'P1D', window: { days: 'workdays' } }), { from: friday, zone: BUC })).toBe('Mon 2026-11-30T15:00 +02:00');
    // Without the workdays window, days are calendar days: Monday.
    expect(due(email({ delay: 'P3D' }), { from: friday, zone: BUC })).toBe('Mon 2026-11-30T15:00 +02:00');
    // From a Saturday, the first working day is Monday.
    expect(due(email({ delay: 'P1D', window: { days: 'workdays' } }), { from: t('2026-11-28T11:00', BUC), zone: BUC })).toBe('Mon 2026-11-30T11:00 +02:00');
  });

  describe.each([
    // zone, the Saturday before the spring change, the Saturday before the autumn change, offsets before/after
    [BUC, '2026-03-28', '2026-10-24', ['+02:00', '+03:00'], ['+03:00', '+02:00']],
    [NY, '2026-03-07', '2026-10-31', ['-05:00', '-04:00'], ['-04:00', '-05:00']],
  ] as const)('across both DST changes in %s', (zone, spring, autumn, springOffsets, autumnOffsets) => {
    const dayAfter = (sat: string) => DateTime.fromISO(sat).plus({ days: 1 }).toFormat('ccc yyyy-MM-dd');

    it('a whole-day delay without a window keeps the local clock time (not 24 hours)', () => {
      expect(due(email({ delay: 'P1D' }), { from: t(`${spring}T09:00`, zone), zone })).toBe(`${dayAfter(spring)}T09:00 ${springOffsets[1]}`);
      expect(due(email({ delay: 'P1D' }), { from: t(`${autumn}T09:00`, zone), zone })).toBe(`${dayAfter(autumn)}T09:00 ${autumnOffsets[1]}`);
    });

    it('a whole-day delay with a window opens on the next day at the window, on the new clock', () => {
      const step = email({ delay: 'P1D', window: { from: '10:00', to: '11:00' } });
      expect(due(step, { from: t(`${spring}T15:00`, zone), zone })).toBe(`${dayAfter(spring)}T10:00 ${springOffsets[1]}`);
      expect(due(step, { from: t(`${autumn}T15:00`, zone), zone })).toBe(`${dayAfter(autumn)}T10:00 ${autumnOffsets[1]}`);
    });

    it('hour delays stay exact elapsed time', () => {
      expect(due(email({ delay: 'PT24H' }), { from: t(`${spring}T09:00`, zone), zone })).toBe(`${dayAfter(spring)}T10:00 ${springOffsets[1]}`);
      expect(due(email({ delay: 'PT24H' }), { from: t(`${autumn}T09:00`, zone), zone })).toBe(`${dayAfter(autumn)}T08:00 ${autumnOffsets[1]}`);
    });

    it('a local time the spring change skips becomes the first instant after the gap', () => {
      const gap = zone === BUC ? '03:30' : '02:30';
      const after = zone === BUC ? '04:00' : '03:00';
      expect(due(email({ delay: 'P1D' }), { from: t(`${spring}T${gap}`, zone), zone })).toBe(`${dayAfter(spring)}T${after} ${springOffsets[1]}`);
    });
  });
});

describe("quiet hours: the automation's own, else the workspace default", () => {
  const lateSms = t('2026-12-01T23:30', BUC);

  it("seed 003: an SMS due at 23:30 waits until 07:30 under the automation's 23:00-07:30", () => {
    const settings: Settings = { quietHours: { start: '23:00', end: '07:30', channels: ['sms'] } };
    expect(due(sms(), { from: lateSms, zone: BUC, settings, workspace: NEW_WORKSPACE })).toBe('Wed 2026-12-02T07:30 +02:00');
  });

  it("seed 003: the same SMS waits until 08:00 under a new workspace's default 21:00-08:00", () => {
    expect(due(sms(), { from: lateSms, zone: BUC, workspace: NEW_WORKSPACE })).toBe('Wed 2026-12-02T08:00 +02:00');
    // An SMS at 21:30 is held too (the default starts at 21:00), an email never is.
    expect(due(sms(), { from: t('2026-12-01T21:30', BUC), zone: BUC, workspace: NEW_WORKSPACE })).toBe('Wed 2026-12-02T08:00 +02:00');
    expect(due(email(), { from: lateSms, zone: BUC, workspace: NEW_WORKSPACE })).toBe('Tue 2026-12-01T23:30 +02:00');
  });

  it("an automation's quiet hours for SMS leave the workspace default on voicemail (never silently dropped)", () => {
    const settings: Settings = { quietHours: { start: '23:00', end: '07:30', channels: ['sms'] } };
    expect(due(voicemail(), { from: t('2026-12-01T22:00', BUC), zone: BUC, settings, workspace: NEW_WORKSPACE })).toBe('Wed 2026-12-02T08:00 +02:00');
    expect(due(sms(), { from: t('2026-12-01T22:00', BUC), zone: BUC, settings, workspace: NEW_WORKSPACE })).toBe('Tue 2026-12-01T22:00 +02:00');
  });

  it("a workspace that cleared its SMS default holds nothing back; the quiet hours are in the recipient's zone", () => {
    expect(due(sms(), { from: lateSms, zone: BUC, workspace: { ...NEW_WORKSPACE, sms: null } })).toBe('Tue 2026-12-01T23:30 +02:00');
    // 23:30 in Bucharest is 16:30 in New York: not quiet there.
    expect(due(sms(), { from: lateSms, zone: NY, workspace: NEW_WORKSPACE })).toBe('Tue 2026-12-01T16:30 -05:00');
  });

  it('a whole-day delay lands in the quiet hours and moves to their end', () => {
    const step = sms({ delay: 'P1D' });
    expect(due(step, { from: t('2026-11-30T22:15', BUC), zone: BUC, workspace: NEW_WORKSPACE })).toBe('Wed 2026-12-02T08:00 +02:00');
  });
});
