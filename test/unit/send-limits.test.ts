/** Which rate limiters a send passes (domain/delivery.ts sendLimitsFor). */
import { describe, expect, it } from 'vitest';
import { sendLimitsFor } from '#domain/delivery';

const sms = (over: Partial<{ kind: 'long_code' | 'toll_free' | 'short_code' | null; segmentsPerSecond: number | null; from: string | null }> = {}) => ({
  from: '+15005550006',
  messagingServiceSid: null,
  kind: 'long_code' as const,
  segmentsPerSecond: null,
  ...over,
});

describe('sendLimitsFor', () => {
  it("an SMS sender holds its kind's segments per second, counted in the message's segments, keyed by its number", () => {
    const base = { workspaceId: 'ws_1', provider: 'twilio' as const, providerPerSecond: 0, segments: 3 };
    expect(sendLimitsFor({ ...base, smsSender: sms() })).toEqual([{ key: 'sms:+15005550006', perSecond: 1, cost: 3 }]);
    expect(sendLimitsFor({ ...base, smsSender: sms({ kind: 'toll_free' }) })[0]!.perSecond).toBe(3);
    expect(sendLimitsFor({ ...base, smsSender: sms({ kind: 'short_code' }) })[0]!.perSecond).toBe(100);
    expect(sendLimitsFor({ ...base, smsSender: sms({ kind: 'short_code', segmentsPerSecond: 40 }) })[0]!.perSecond).toBe(40);
  });

  it("adds the workspace's share of the provider unless it is 0; email has no sender limit", () => {
    expect(sendLimitsFor({ workspaceId: 'ws_1', provider: 'sendgrid', providerPerSecond: 50, segments: null, smsSender: null })).toEqual([
      { key: 'provider:ws_1:sendgrid', perSecond: 50, cost: 1 },
    ]);
    expect(sendLimitsFor({ workspaceId: 'ws_1', provider: 'sendgrid', providerPerSecond: 0, segments: null, smsSender: null })).toEqual([]);
    expect(sendLimitsFor({ workspaceId: 'ws_1', provider: 'twilio', providerPerSecond: 10, segments: 1, smsSender: sms() }).map((l) => l.key)).toEqual([
      'sms:+15005550006',
      'provider:ws_1:twilio',
    ]);
  });
});
