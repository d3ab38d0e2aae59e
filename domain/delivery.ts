/**
 * How a send activity is run, shared by the workflow (which proxies it with these options) and
 * the activity (which must know its last attempt). Pure constants: safe in workflow code.
 *
 * Two attempts of one send never overlap at the provider: only the attempt that moved the row
 * `queued` -> `sending` calls it, and its request is aborted after SEND_TIMEOUT_MS (<= 60 s, under
 * START_TO_CLOSE). The row's lease (SEND_TIMEOUT_MS + SEND_LEASE_MARGIN_MS) outlives that request,
 * so a retry that finds it live knows the previous attempt may still be talking to the provider,
 * and one that finds it run out knows the provider has answered or never will.
 */
/**
 * A message's status. `sending`: claimed by one attempt (attempt id, lease) that is calling the
 * provider. `uncertain`: the provider may have accepted it but never confirmed; not resent (at most
 * once); a later status callback still moves it on. `cancelled`: the enrollment exited before it
 * went out. A message that would wait for send capacity past its validity period is `failed` with
 * the error code `expired` (SEND_EXPIRED).
 */
export const MESSAGE_STATUSES = [
  'queued',
  'sending',
  'sent',
  'delivered',
  'opened',
  'clicked',
  'bounced',
  'failed',
  'sandboxed',
  'suppressed',
  'uncertain',
  'cancelled',
] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

export const SEND_START_TO_CLOSE_MS = 90_000;
export const SEND_HEARTBEAT_MS = 15_000;
export const SEND_MAX_ATTEMPTS = 12;
export const SEND_LEASE_MARGIN_MS = 5_000;

export const SEND_ACTIVITY_OPTIONS = {
  startToCloseTimeout: SEND_START_TO_CLOSE_MS,
  /** A worker that died mid-send is noticed after this long, not after START_TO_CLOSE. */
  heartbeatTimeout: SEND_HEARTBEAT_MS,
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '15m', maximumAttempts: SEND_MAX_ATTEMPTS },
} as const;

/** Email categories a message carries to SendGrid (its own statistics per automation and step). */
export function sendCategories(automationId: string | null, stepId: string | null): string[] {
  return [automationId ? `automation:${automationId}` : null, stepId ? `step:${stepId}` : null].filter((c): c is string => c !== null);
}

/** Carrier throughput of an SMS sender, segments per second, unless the sender overrides it. */
export const SMS_SEGMENTS_PER_SECOND = { long_code: 1, toll_free: 3, short_code: 100 } as const;
export type SmsSenderKind = keyof typeof SMS_SEGMENTS_PER_SECOND;

/** The error code of a message failed because it would have waited past its validity period. */
export const SEND_EXPIRED = 'expired';

/**
 * A send waits for capacity inside its activity (heartbeating) up to this long; a longer wait ends
 * the attempt and the retry wakes SEND_WAKE_EARLY_MS before the slot. Together with one provider
 * request (SEND_TIMEOUT_MS <= 60 s) it stays under SEND_START_TO_CLOSE_MS.
 */
export const SEND_INLINE_WAIT_MS = 20_000;
export const SEND_WAKE_EARLY_MS = 5_000;

/**
 * A limiter this slow (a send at least this far apart: a long code's 1 segment/s, a toll-free's 3)
 * is held at the provider, not only at the moment a send leaves: the next send goes one interval
 * after the previous one's answer, so however long a request takes on its way, two never arrive
 * closer together than the limit. Faster limiters (a short code's 100/s, a provider's share) space
 * the departures only: holding them for a round trip would cap them at one request per round trip.
 */
export const SPACED_AT_PROVIDER_MIN_MS = 250;

/** One rate limiter a send passes: `cost` units of `perSecond` (SMS segments, or sends). */
export interface SendLimit {
  key: string;
  perSecond: number;
  cost: number;
}

export type Provider = 'sendgrid' | 'twilio';

/**
 * The limiters of one send (db/send-limits.ts holds them across workers): the SMS sender's number
 * (carriers count segments per number, whichever workspace sends from it), at its own rate or its
 * kind's; and the workspace's share of the provider (`perSecond` 0: none).
 */
export function sendLimitsFor(s: {
  workspaceId: string;
  provider: Provider;
  providerPerSecond: number;
  segments: number | null;
  smsSender: { from: string | null; messagingServiceSid: string | null; kind: SmsSenderKind | null; segmentsPerSecond: number | null } | null;
}): SendLimit[] {
  const limits: SendLimit[] = [];
  const number = s.smsSender?.from ?? s.smsSender?.messagingServiceSid;
  if (s.smsSender && number) {
    const perSecond = s.smsSender.segmentsPerSecond ?? SMS_SEGMENTS_PER_SECOND[s.smsSender.kind ?? 'long_code'];
    limits.push({ key: `sms:${number}`, perSecond, cost: Math.max(1, s.segments ?? 1) });
  }
  if (s.providerPerSecond > 0) limits.push({ key: `provider:${s.workspaceId}:${s.provider}`, perSecond: s.providerPerSecond, cost: 1 });
  return limits;
}
