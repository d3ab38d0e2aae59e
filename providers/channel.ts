/**
 * Delivery channels. A provider (SendGrid, Twilio) implements `DeliveryChannel`; with no
 * credentials the sandbox channel stands in: nothing leaves the process and the message is
 * stored as `sandboxed`, so a fresh install shows what it would have sent.
 *
 * A provider call ends in a receipt or one of three errors, and the difference decides whether
 * the message may be sent again: permanent (the provider refused it: record, never retry),
 * transient (the provider did not take it: retry), ambiguous (the request may have reached the
 * provider: never resend blindly, confirm first; see messages.ts).
 */
import type { MessageChannel } from '#domain/commands';

/** The sender identity a message goes out as (docs/design.md §7.3). */
export interface SenderIdentity {
  id: string;
  /** Email address (email), E.164 number (sms, voicemail caller id). */
  from: string | null;
  name: string | null;
  replyTo: string | null;
  messagingServiceSid: string | null;
}

export interface OutboundMessage {
  /** Our message id: providers echo it back in status callbacks (custom_args, callback URLs). */
  messageId: string;
  channel: MessageChannel;
  /** Email address or E.164 phone number. */
  to: string;
  sender: SenderIdentity | null;
  subject: string | null;
  text: string | null;
  html: string | null;
  /** Voicemail: a recording to drop instead of text-to-speech. */
  audioUrl: string | null;
  /** Email: SendGrid categories (automation, step), for the provider's own statistics. */
  categories: string[];
  /** Email to a record: the signed one-click unsubscribe link (List-Unsubscribe). */
  unsubscribeUrl: string | null;
  /** Email: a SendGrid dynamic template to render instead of our subject/text/html. */
  dynamicTemplate: { id: string; data: Record<string, unknown> } | null;
  /** Aborts the provider request (activity cancelled). */
  signal?: AbortSignal;
}

export interface DeliveryReceipt {
  providerId: string | null;
  status: 'sent' | 'sandboxed';
  /** SMS: segments as the provider counted them, when it says. */
  segments?: number | null;
}

export interface DeliveryChannel {
  readonly name: string;
  send(message: OutboundMessage): Promise<DeliveryReceipt>;
  /**
   * Asks the provider which messages it holds that could be this one, sent since `since` (the
   * unknown-send window: the worker died before it heard the answer): their provider ids, each
   * matching what the provider returns of the request (recipient, sender, and the text where it
   * returns it). Throws when the provider cannot be asked. Absent for providers with no such lookup
   * (SendGrid's message search needs the paid Email Activity add-on).
   */
  candidates?(message: OutboundMessage, since: Date): Promise<string[]>;
}

/** A provider refused the message for good (invalid address, 4xx): recorded, not retried. */
export class PermanentDeliveryError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'PermanentDeliveryError';
  }
}

/** The provider did not take the message and said so (429, 5xx, refused connection): safe to send again; `retryAfterMs` honours Retry-After. */
export class TransientDeliveryError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'TransientDeliveryError';
  }
}

/** The request left but no answer came back (timeout, reset, abort): the provider may have accepted it. */
export class AmbiguousDeliveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AmbiguousDeliveryError';
  }
}

/** How long before `since` a lookup (`candidates`) still counts a provider's resource: the provider's clock against ours. */
export const LOOKUP_CLOCK_SKEW_MS = 120_000;

export type Channels = Record<MessageChannel, DeliveryChannel>;

export const sandboxChannel: DeliveryChannel = {
  name: 'sandbox',
  async send() {
    return { providerId: null, status: 'sandboxed' };
  },
};

/** Every channel sandboxed unless a provider is given for it. */
export function channelsWith(providers: Partial<Channels> = {}): Channels {
  return {
    email: providers.email ?? sandboxChannel,
    sms: providers.sms ?? sandboxChannel,
    voicemail: providers.voicemail ?? sandboxChannel,
  };
}

/** Retry-After in seconds or as an HTTP date, in ms; undefined when absent or unreadable. */
export function retryAfterMs(value: unknown, now = Date.now()): number | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const at = Date.parse(String(value));
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Network errors (axios, node) where the request never reached the provider. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_INVALID_URL']);

/** An error without an HTTP answer: transient when nothing was sent, ambiguous otherwise. */
export function networkError(provider: string, err: { code?: string; message?: string }): TransientDeliveryError | AmbiguousDeliveryError {
  const code = err.code ?? 'unknown';
  if (NOT_SENT.has(code)) return new TransientDeliveryError(`${provider} not reachable (${code})`, undefined, code);
  return new AmbiguousDeliveryError(`${provider} did not answer (${code}: ${err.message ?? ''})`);
}

/**
 * A webhook request checked against the provider's signature: accepted, or why not. `missing`: the
 * request is not signed; the others: it is, but by no one we trust (`unconfigured`: there is no
 * key to check with). `header` names the request header at fault.
 */
export type SignatureCheck<T extends object = object> =
  | ({ ok: true } & T)
  | { ok: false; reason: 'missing' | 'mismatch'; header: string }
  | { ok: false; reason: 'stale'; header: string; maxAgeS: number }
  | { ok: false; reason: 'unconfigured' };
