/** Normalising provider events: forward-only statuses, SendGrid and Twilio mapping. */
import { describe, expect, it } from 'vitest';
import { nextStatus } from '#domain/provider-events';
import { fromSendGridEvent } from '#providers/sendgrid';
import { fromTwilioCallStatus, fromTwilioMessageStatus, voicemailOutcome } from '#providers/twilio';

describe('nextStatus', () => {
  it.each([
    ['sent', 'delivered', 'delivered'],
    ['opened', 'delivered', 'opened'],
    ['clicked', 'opened', 'clicked'],
    ['delivered', 'clicked', 'clicked'],
    ['delivered', 'bounced', 'bounced'],
    ['bounced', 'delivered', 'bounced'],
    ['sent', 'deferred', 'sent'],
    ['sent', 'undelivered', 'failed'],
    ['sandboxed', 'delivered', 'sandboxed'],
    ['suppressed', 'opened', 'suppressed'],
    ['queued', 'sent', 'sent'],
  ] as const)('%s + %s -> %s', (current, event, expected) => {
    expect(nextStatus(current, event)).toBe(expected);
  });
});

describe('fromSendGridEvent', () => {
  it('maps an event with our message id; ignores others', () => {
    expect(fromSendGridEvent({ event: 'click', sg_event_id: 'e1', message_id: 'msg_1', url: 'https://x.example', timestamp: 1_800_000_000 })).toMatchObject({
      messageId: 'msg_1',
      dedupeKey: 'sendgrid:e1',
      type: 'clicked',
      url: 'https://x.example',
      occurredAt: new Date(1_800_000_000_000),
    });
    expect(fromSendGridEvent({ event: 'bounce', type: 'blocked', sg_event_id: 'e2', message_id: 'm' })).toMatchObject({ type: 'bounced', bounceType: 'soft' });
    expect(fromSendGridEvent({ event: 'bounce', type: 'bounce', sg_event_id: 'e3', message_id: 'm' })).toMatchObject({ type: 'bounced', bounceType: 'hard' });
    expect(fromSendGridEvent({ event: 'spamreport', sg_event_id: 'e4', message_id: 'm' })).toMatchObject({ type: 'spam_report' });
    expect(fromSendGridEvent({ event: 'open', sg_event_id: 'e5' })).toBeNull();
    expect(fromSendGridEvent({ event: 'open', message_id: 'm' })).toBeNull();
    expect(fromSendGridEvent({ event: 'something_new', sg_event_id: 'e6', message_id: 'm' })).toBeNull();
  });
});

describe('Twilio callbacks', () => {
  const now = new Date('2026-11-30T00:00:00Z');
  it('message statuses: final ones only, keyed by sid and status', () => {
    expect(fromTwilioMessageStatus('m', { MessageSid: 'SM1', MessageStatus: 'failed', ErrorCode: '21610' }, now)).toMatchObject({
      type: 'failed',
      code: '21610',
      dedupeKey: 'twilio:SM1:failed',
    });
    expect(fromTwilioMessageStatus('m', { MessageSid: 'SM1', MessageStatus: 'sending' }, now)).toBeNull();
  });
  it.each([
    [{ CallStatus: 'completed', AnsweredBy: 'machine_end_beep' }, 'voicemail_left'],
    [{ CallStatus: 'completed', AnsweredBy: 'human' }, 'human_answered'],
    [{ CallStatus: 'no-answer' }, 'no_answer'],
    [{ CallStatus: 'busy' }, 'busy'],
    [{ CallStatus: 'failed' }, 'failed'],
    [{ CallStatus: 'ringing' }, null],
  ])('call %j -> %s', (params, outcome) => {
    expect(voicemailOutcome(params as Record<string, string>)).toBe(outcome);
  });
  it('call status events need a CallSid', () => {
    expect(fromTwilioCallStatus('m', { CallStatus: 'busy' }, now)).toBeNull();
    expect(fromTwilioCallStatus('m', { CallSid: 'CA1', CallStatus: 'busy' }, now)).toMatchObject({ type: 'busy', dedupeKey: 'twilio:CA1:busy' });
  });
});
