/**
 * What the providers tell us about a message, in one vocabulary whatever the provider
 * (providers/sendgrid.ts and providers/twilio.ts normalise their callbacks to `ProviderEvent`), and
 * the message's current status only ever moves forward (a late `delivered` does not hide an `opened`).
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
