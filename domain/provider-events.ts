/**
 * What the providers tell us about a message, normalised: SendGrid's Event Webhook entries and
 * Twilio's status callbacks become `ProviderEvent`s, and the message's current status only ever
 * moves forward (a late `delivered` does not hide an `opened`). Pure; the webhook routes and the
 * db layer share it.
 */

import type { MessageStatus } from './delivery';

export type ProviderEventType =
  | 'processed'
  | 'sent'
  | 'delivered'
  | 'opened'
  | 'clicked'
  | 'bounced'
  | 'dropped'
  | 'deferred'
  | 'spam_report'
  | 'unsubscribed'
  | 'undelivered'
  | 'failed'
  // Voicemail calls (Twilio voice): the outcome of the call.
  | 'voicemail_left'
  | 'human_answered'
  | 'no_answer'
  | 'busy';

export interface ProviderEvent {
  /** Our message id (SendGrid custom_args.message_id, the Twilio callback's ?messageId=). */
  messageId: string;
  /** Unique per provider event: a replay of the same event is recognised by it. */
  dedupeKey: string;
  provider: 'sendgrid' | 'twilio';
  type: ProviderEventType;
  occurredAt: Date;
  url?: string | null;
  bounceType?: 'hard' | 'soft' | null;
  /** The provider's or carrier's error code (Twilio ErrorCode, SendGrid SMTP status). */
  code?: string | null;
  reason?: string | null;
  payload: Record<string, unknown>;
}

/** Forward-only order of a message's statuses; statuses not listed never change from an event. */
// A callback for a `sending` or `uncertain` message is the provider's confirmation that it took it.
const RANK: Partial<Record<MessageStatus, number>> = {
  queued: 0,
  sending: 0,
  uncertain: 0,
  sent: 1,
  delivered: 2,
  opened: 3,
  clicked: 4,
  bounced: 5,
  failed: 5,
};

/** The statuses a message has moved on to from `status` (forward only): a write of `status` must leave them alone. */
export function statusesAfter(status: MessageStatus): MessageStatus[] {
  const from = RANK[status] ?? 0;
  return (Object.keys(RANK) as MessageStatus[]).filter((s) => (RANK[s] ?? 0) > from);
}

/** The status an event moves a message to, or null when it leaves the status alone. */
export function statusOf(type: ProviderEventType): MessageStatus | null {
  switch (type) {
    case 'sent':
      return 'sent';
    case 'delivered':
      return 'delivered';
    case 'opened':
      return 'opened';
    case 'clicked':
      return 'clicked';
    case 'bounced':
      return 'bounced';
    case 'voicemail_left':
      return 'delivered';
    case 'dropped':
    case 'undelivered':
    case 'failed':
      return 'failed';
    default:
      return null;
  }
}

/** The status after `event`: never backwards, never out of sandboxed or suppressed. */
export function nextStatus(current: MessageStatus, type: ProviderEventType): MessageStatus {
  const target = statusOf(type);
  const from = RANK[current];
  if (target === null || from === undefined) return current;
  return (RANK[target] ?? 0) > from ? target : current;
}

const SENDGRID_TYPES: Record<string, ProviderEventType> = {
  processed: 'processed',
  delivered: 'delivered',
  open: 'opened',
  click: 'clicked',
  bounce: 'bounced',
  dropped: 'dropped',
  deferred: 'deferred',
  spamreport: 'spam_report',
  unsubscribe: 'unsubscribed',
  group_unsubscribe: 'unsubscribed',
};

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : null);

/**
 * One SendGrid Event Webhook entry, or null when it is not about one of our messages (no
 * `message_id` custom arg, no `sg_event_id`) or is of a type we do not track.
 */
export function fromSendGridEvent(e: Record<string, unknown>): ProviderEvent | null {
  const messageId = str(e.message_id);
  const eventId = str(e.sg_event_id);
  const type = SENDGRID_TYPES[String(e.event)];
  if (!messageId || !eventId || !type) return null;
  const ts = typeof e.timestamp === 'number' ? new Date(e.timestamp * 1000) : new Date();
  // SendGrid reports a hard bounce as `bounce` and a temporary rejection as `blocked` (or a
  // `bounce_classification` of a transient kind); both arrive as event "bounce".
  const bounceType = type === 'bounced' ? (e.type === 'blocked' ? 'soft' : 'hard') : null;
  return {
    messageId,
    dedupeKey: `sendgrid:${eventId}`,
    provider: 'sendgrid',
    type,
    occurredAt: ts,
    url: type === 'clicked' ? str(e.url) : null,
    bounceType,
    code: str(e.status),
    reason: str(e.reason) ?? str(e.response),
    payload: e,
  };
}

const TWILIO_SMS_TYPES: Record<string, ProviderEventType> = {
  sent: 'sent',
  delivered: 'delivered',
  undelivered: 'undelivered',
  failed: 'failed',
  read: 'opened',
};

/** A Twilio message status callback; null for intermediate states (queued, accepted, sending). */
export function fromTwilioMessageStatus(messageId: string, p: Record<string, string>, now: Date): ProviderEvent | null {
  const status = p.MessageStatus ?? p.SmsStatus;
  const type = status ? TWILIO_SMS_TYPES[status] : undefined;
  const sid = p.MessageSid ?? p.SmsSid;
  if (!type || !sid) return null;
  return {
    messageId,
    dedupeKey: `twilio:${sid}:${status}`,
    provider: 'twilio',
    type,
    occurredAt: now,
    code: p.ErrorCode || null,
    reason: p.ErrorMessage || null,
    payload: p,
  };
}

/** Twilio's error for a message to a number that replied STOP: the number is suppressed. */
export const TWILIO_UNSUBSCRIBED_ERROR = '21610';

const MACHINE = new Set(['machine_end_beep', 'machine_end_silence', 'machine_end_other']);

/** Did answering-machine detection find a machine ready for the message? */
export function isMachine(answeredBy: string | undefined): boolean {
  return answeredBy !== undefined && MACHINE.has(answeredBy);
}

/** The voicemail call's outcome from its final status callback; null until the call ended. */
export function voicemailOutcome(
  p: Record<string, string>,
): Extract<ProviderEventType, 'voicemail_left' | 'human_answered' | 'no_answer' | 'busy' | 'failed'> | null {
  switch (p.CallStatus) {
    case 'completed':
      if (isMachine(p.AnsweredBy)) return 'voicemail_left';
      return p.AnsweredBy === 'human' ? 'human_answered' : 'no_answer';
    case 'no-answer':
      return 'no_answer';
    case 'busy':
      return 'busy';
    case 'failed':
    case 'canceled':
      return 'failed';
    default:
      return null;
  }
}

export function fromTwilioCallStatus(messageId: string, p: Record<string, string>, now: Date): ProviderEvent | null {
  const outcome = voicemailOutcome(p);
  if (!outcome || !p.CallSid) return null;
  return {
    messageId,
    dedupeKey: `twilio:${p.CallSid}:${p.CallStatus}`,
    provider: 'twilio',
    type: outcome,
    occurredAt: now,
    code: p.ErrorCode || null,
    reason: p.ErrorMessage || null,
    payload: p,
  };
}

/** Carrier keywords (CTIA; Twilio's defaults) in an inbound SMS, matched on the whole trimmed body. */
export type SmsKeyword = 'stop' | 'start' | 'help';
const STOP = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT']);
const START = new Set(['START', 'YES', 'UNSTOP']);
const HELP = new Set(['HELP', 'INFO']);

export function smsKeyword(body: string): SmsKeyword | null {
  const word = body
    .trim()
    .replace(/[.!]+$/, '')
    .toUpperCase();
  if (STOP.has(word)) return 'stop';
  if (START.has(word)) return 'start';
  if (HELP.has(word)) return 'help';
  return null;
}
