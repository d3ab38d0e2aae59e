/** Suppression decisions: what each cause stores as reason and source, and the SMS keywords. */
import { describe, expect, it } from 'vitest';
import type { ProviderEvent } from '#domain/provider-events';
import { smsKeyword, suppressionFor } from '#domain/suppression';

const event = (e: Partial<ProviderEvent>): ProviderEvent => ({
  messageId: 'msg_1',
  dedupeKey: 'k',
  provider: 'sendgrid',
  type: 'delivered',
  occurredAt: new Date(0),
  payload: {},
  ...e,
});

describe('suppressionFor', () => {
  it('always suppresses for the API and the unsubscribe link', () => {
    expect(suppressionFor({ kind: 'api', reason: 'asked by phone' })).toEqual({ reason: 'asked by phone', source: 'api' });
    expect(suppressionFor({ kind: 'api' })).toEqual({ reason: 'added through the API', source: 'api' });
    expect(suppressionFor({ kind: 'unsubscribe_link' })).toEqual({ reason: 'unsubscribe link', source: 'unsubscribe_link' });
  });

  it('suppresses on an SMS reply that is a STOP keyword, quoting it', () => {
    expect(suppressionFor({ kind: 'sms_reply', body: ' Stop. ' })).toEqual({ reason: 'replied Stop.', source: 'sms_keyword' });
    expect(suppressionFor({ kind: 'sms_reply', body: 'START' })).toBeNull();
    expect(suppressionFor({ kind: 'sms_reply', body: 'please stop texting me' })).toBeNull();
  });

  it.each([
    [
      { type: 'bounced', bounceType: 'hard', reason: '550 no such user' },
      { reason: 'hard bounce: 550 no such user', source: 'bounce' },
    ],
    [
      { type: 'bounced', bounceType: 'hard' },
      { reason: 'hard bounce', source: 'bounce' },
    ],
    [{ type: 'bounced', bounceType: 'soft' }, null],
    [{ type: 'spam_report' }, { reason: 'spam report', source: 'spam_report' }],
    [{ type: 'unsubscribed' }, { reason: 'unsubscribed at the provider', source: 'provider_unsubscribe' }],
    [
      { provider: 'twilio', type: 'failed', code: '21610' },
      { reason: 'carrier error 21610: the number replied STOP', source: 'provider_error' },
    ],
    [{ provider: 'twilio', type: 'failed', code: '30003' }, null],
    [{ type: 'delivered' }, null],
  ] as const)('provider event %j -> %j', (e, expected) => {
    expect(suppressionFor({ kind: 'provider_event', event: event(e) })).toEqual(expected);
  });

  it('suppresses an SMS number Twilio refused with 21610, nothing else it refused', () => {
    expect(suppressionFor({ kind: 'send_refused', channel: 'sms', code: '21610' })).toEqual({
      reason: 'the recipient replied STOP (Twilio 21610)',
      source: 'twilio',
    });
    expect(suppressionFor({ kind: 'send_refused', channel: 'sms', code: '21211' })).toBeNull();
    expect(suppressionFor({ kind: 'send_refused', channel: 'voicemail', code: '21610' })).toBeNull();
    expect(suppressionFor({ kind: 'send_refused', channel: 'email', code: undefined })).toBeNull();
  });
});

describe('smsKeyword', () => {
  it.each([
    ['STOP', 'stop'],
    [' stop ', 'stop'],
    ['Stop.', 'stop'],
    ['STOPALL', 'stop'],
    ['unsubscribe', 'stop'],
    ['Cancel', 'stop'],
    ['END', 'stop'],
    ['quit', 'stop'],
    ['START', 'start'],
    ['yes', 'start'],
    ['UNSTOP', 'start'],
    ['HELP', 'help'],
    ['info', 'help'],
    ['please stop texting me', null],
    ['yes please', null],
    ['', null],
  ])('%j -> %s', (body, keyword) => {
    expect(smsKeyword(body)).toBe(keyword);
  });
});
