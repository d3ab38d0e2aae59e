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
 * once); a later status callback still moves it on. `expired`: waited for send capacity past its
 * validity period. `cancelled`: the enrollment exited before it went out.
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
  'expired',
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
