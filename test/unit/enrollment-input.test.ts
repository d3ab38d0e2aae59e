/** The workflow input's versions (domain/enrollment.ts): every version a running enrollment may hold is read as the newest. */
import { describe, expect, it } from 'vitest';
import { currentInput, UnsupportedInputVersion, type EnrollmentInputV1, type VersionedEnrollmentInput } from '#domain/enrollment';

const base: Omit<EnrollmentInputV1, 'v'> = {
  enrollmentId: 'enr_1',
  workspaceId: 'ws_1',
  workspaceTimezone: 'Europe/Bucharest',
  automationId: 'aut_1',
  version: 3,
  definition: { name: 'x', trigger: { type: 'manual' }, steps: [{ id: 's1', type: 'email', template: 'tpl_1' }] },
  templates: {},
  record: { externalId: 'rec_1', email: null, phone: null, name: null, timezone: null, stage: null, ownerId: null, attributes: {} },
  trigger: null,
  variant: 'B',
  startedAt: '2026-01-05T10:00:00.000Z',
};
const quiet = { email: null, sms: { start: '21:00', end: '08:00' }, voicemail: null };

describe('enrollment input versions', () => {
  it('reads an input from before versioning (no v) as version 1: timing rules 1, no workspace quiet hours', () => {
    expect(currentInput(base)).toEqual({ ...base, v: 2, timingRules: 1, workspaceQuietHours: null });
  });

  it('reads version 1 with its optional fields as stated', () => {
    expect(currentInput({ ...base, v: 1, timingRules: 2, workspaceQuietHours: quiet })).toEqual({ ...base, v: 2, timingRules: 2, workspaceQuietHours: quiet });
  });

  it('keeps version 2 as it is', () => {
    const v2: VersionedEnrollmentInput = { ...base, v: 2, timingRules: 2, workspaceQuietHours: null };
    expect(currentInput(v2)).toBe(v2);
  });

  it('refuses a version it does not know (a newer deployment started it)', () => {
    expect(() => currentInput({ ...base, v: 3 } as unknown as VersionedEnrollmentInput)).toThrow(new UnsupportedInputVersion(3));
    expect(() => currentInput({ ...base, v: 3 } as unknown as VersionedEnrollmentInput)).toThrow('unsupported enrollment input version 3');
  });
});
