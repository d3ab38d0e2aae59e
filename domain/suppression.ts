/**
 * Why an address stops receiving messages: from what happened (a STOP reply, an unsubscribe link,
 * a bounce or spam report, a provider's refusal, the API) to the suppression's reason and source as
 * stored and shown (GET /v1/suppressions, the suppression.created notification). Pure; the routes
 * and activities that see it happen store what this decides.
 */
import type { Channel } from './definition';
import type { ProviderEvent } from './provider-events';

/** Who suppressed: the API, an unsubscribe link, a STOP reply, a provider's event, a send Twilio refused (21610). */
export const SUPPRESSION_SOURCES = [
  'api',
  'unsubscribe_link',
  'sms_keyword',
  'bounce',
  'spam_report',
  'provider_unsubscribe',
  'provider_error',
  'twilio',
] as const;

export interface Suppression {
  reason: string;
  source: (typeof SUPPRESSION_SOURCES)[number];
}

/** What happened that may suppress an address. */
type AlwaysSuppresses =
  /** POST /v1/suppressions, with the caller's reason when it gave one. */
  | { kind: 'api'; reason?: string }
  /** The signed unsubscribe link of a message. */
  | { kind: 'unsubscribe_link' };
type MaySuppress =
  /** An inbound SMS: a STOP keyword suppresses. */
  | { kind: 'sms_reply'; body: string }
  /** A provider's status event: a hard bounce, spam report, unsubscribe or Twilio's 21610. */
  | { kind: 'provider_event'; event: ProviderEvent }
  /** The provider refused a send with this error code. */
  | { kind: 'send_refused'; channel: Channel; code: string | undefined };

/** Twilio's error for a message to a number that replied STOP: Twilio sends nothing more to it from this sender. */
const TWILIO_OPTED_OUT = '21610';

export function suppressionFor(cause: AlwaysSuppresses): Suppression;
export function suppressionFor(cause: MaySuppress): Suppression | null;
export function suppressionFor(cause: AlwaysSuppresses | MaySuppress): Suppression | null {
  switch (cause.kind) {
    case 'api':
      return { reason: cause.reason ?? 'added through the API', source: 'api' };
    case 'unsubscribe_link':
      return { reason: 'unsubscribe link', source: 'unsubscribe_link' };
    case 'sms_reply':
      return smsKeyword(cause.body) === 'stop' ? { reason: `replied ${cause.body.trim()}`, source: 'sms_keyword' } : null;
    case 'provider_event':
      return eventSuppression(cause.event);
    case 'send_refused':
      return cause.channel === 'sms' && cause.code === TWILIO_OPTED_OUT ? { reason: 'the recipient replied STOP (Twilio 21610)', source: 'twilio' } : null;
  }
}

function eventSuppression(event: ProviderEvent): Suppression | null {
  if (event.type === 'bounced' && event.bounceType === 'hard') return { reason: `hard bounce${event.reason ? `: ${event.reason}` : ''}`, source: 'bounce' };
  if (event.type === 'spam_report') return { reason: 'spam report', source: 'spam_report' };
  if (event.type === 'unsubscribed') return { reason: 'unsubscribed at the provider', source: 'provider_unsubscribe' };
  if (event.provider === 'twilio' && event.code === TWILIO_OPTED_OUT) {
    return { reason: `carrier error ${TWILIO_OPTED_OUT}: the number replied STOP`, source: 'provider_error' };
  }
  return null;
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
