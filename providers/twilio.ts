/**
 * Twilio: SMS (Messages) and voicemail drops (Calls with answering-machine detection) out through
 * the real twilio client, and what Twilio calls back (signature verification, status callbacks
 * normalised to `ProviderEvent`, the TwiML it asks for). One client per send, over a RequestClient
 * whose axios instance sends every request to TWILIO_API_URL (the SDK builds
 * https://api.twilio.com/... URLs) and carries the activity's abort signal.
 *
 * Callback URLs carry our message id (the inbound webhooks find the message by it):
 *   SMS        StatusCallback  ${PUBLIC_URL}/webhooks/twilio/status?messageId=<id>
 *   voicemail  Url             ${PUBLIC_URL}/webhooks/twilio/voice?messageId=<id>   (TwiML after the beep)
 *              StatusCallback  ${PUBLIC_URL}/webhooks/twilio/voice-status?messageId=<id>
 *
 * `candidates` lists what Twilio holds for the recipient (Messages / Calls filtered by To and From,
 * newest first). Twilio's resources do not return the callback URLs, so a message is recognised by
 * what they do return: its recipient, its sender (number or messaging service), its body (SMS), and
 * a creation time since the send was queued. The filter is on date_created, not DateSent/StartTime:
 * a message Twilio accepted but still queues (a long code sends one segment a second) has neither yet.
 */
import twilio from 'twilio';
import type { ProviderEvent, ProviderEventType } from '#domain/provider-events';
import {
  LOOKUP_CLOCK_SKEW_MS,
  networkError,
  PermanentDeliveryError,
  retryAfterMs,
  TransientDeliveryError,
  type DeliveryChannel,
  type OutboundMessage,
  type SignatureCheck,
} from './channel';

export interface TwilioOptions {
  accountSid: string;
  authToken: string;
  baseUrl: string;
  publicUrl: string;
  timeoutMs: number;
}

/** Twilio codes that mean "not now" rather than "never" (429 Too Many Requests, queue overflow). */
const TRANSIENT_CODES = new Set([20429, 20500, 20503, 30001, 14107]);

export const callbackUrl = (publicUrl: string, route: 'status' | 'voice' | 'voice-status', messageId: string) =>
  `${publicUrl}/webhooks/twilio/${route}?messageId=${encodeURIComponent(messageId)}`;

function clientFor(opts: TwilioOptions, signal: AbortSignal | undefined) {
  const http = new twilio.RequestClient({ timeout: opts.timeoutMs, keepAlive: false });
  const base = opts.baseUrl.replace(/\/+$/, '');
  http.axios.interceptors.request.use((config) => {
    if (config.url) {
      const url = new URL(config.url);
      config.url = `${base}${url.pathname}${url.search}`;
    }
    if (signal) config.signal = signal;
    return config;
  });
  return { client: twilio(opts.accountSid, opts.authToken, { httpClient: http }), http };
}

interface TwilioError {
  status?: number;
  code?: number | string;
  message?: string;
  moreInfo?: string;
}

function classifyTwilio(err: TwilioError, headers: Record<string, unknown> | undefined): Error {
  if (typeof err.status !== 'number') return networkError('Twilio', { code: typeof err.code === 'string' ? err.code : undefined, message: err.message });
  const code = typeof err.code === 'number' ? err.code : undefined;
  const message = `Twilio ${err.status}${code !== undefined ? ` (${code})` : ''}: ${err.message ?? 'error'}`;
  if (err.status === 429 || err.status >= 500 || (code !== undefined && TRANSIENT_CODES.has(code))) {
    return new TransientDeliveryError(message, retryAfterMs(headers?.['retry-after']), String(code ?? err.status));
  }
  return new PermanentDeliveryError(message, String(code ?? err.status));
}

function senderOf(m: OutboundMessage, what: string): { from: string } | { messagingServiceSid: string } {
  if (m.sender?.messagingServiceSid && m.channel === 'sms') return { messagingServiceSid: m.sender.messagingServiceSid };
  if (m.sender?.from) return { from: m.sender.from };
  throw new PermanentDeliveryError(`no ${what}: add a sender (POST /v1/senders) and make it the default or name it in the step`, 'no_sender');
}

/** How many of the recipient's newest messages or calls a lookup reads: far more than one send window holds. */
const LOOKUP_LIMIT = 50;
const createdSince = (created: Date | null | undefined, since: Date) => created instanceof Date && created.getTime() >= since.getTime() - LOOKUP_CLOCK_SKEW_MS;

export function twilioSmsChannel(opts: TwilioOptions): DeliveryChannel {
  return {
    name: 'twilio',
    async send(m) {
      const from = senderOf(m, 'SMS sender');
      const { client, http } = clientFor(opts, m.signal);
      try {
        const sent = await client.messages.create({
          to: m.to,
          ...from,
          body: m.text ?? '',
          statusCallback: callbackUrl(opts.publicUrl, 'status', m.messageId),
        });
        const segments = Number(sent.numSegments);
        return { providerId: sent.sid, status: 'sent', segments: Number.isInteger(segments) && segments > 0 ? segments : null };
      } catch (err) {
        throw classifyTwilio(err as TwilioError, http.lastResponse?.headers as Record<string, unknown> | undefined);
      }
    },
    async candidates(m, since) {
      const from = senderOf(m, 'SMS sender');
      const { client } = clientFor(opts, m.signal);
      const listed = await client.messages.list({ to: m.to, ...('from' in from ? { from: from.from } : {}), limit: LOOKUP_LIMIT });
      return listed
        .filter(
          (x) =>
            x.direction === 'outbound-api' &&
            ('from' in from || x.messagingServiceSid === from.messagingServiceSid) &&
            x.body === (m.text ?? '') &&
            createdSince(x.dateCreated, since),
        )
        .map((x) => x.sid);
    },
  };
}

export function twilioVoicemailChannel(opts: TwilioOptions): DeliveryChannel {
  return {
    name: 'twilio',
    async send(m) {
      const from = senderOf(m, 'voicemail caller id');
      if (!('from' in from)) throw new PermanentDeliveryError('a voicemail needs a caller id number', 'no_sender');
      const { client, http } = clientFor(opts, m.signal);
      try {
        const call = await client.calls.create({
          to: m.to,
          from: from.from,
          url: callbackUrl(opts.publicUrl, 'voice', m.messageId),
          method: 'POST',
          statusCallback: callbackUrl(opts.publicUrl, 'voice-status', m.messageId),
          statusCallbackMethod: 'POST',
          statusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
          // Wait for the greeting's beep, then the TwiML at `url` plays to the machine; a human is hung up on there.
          machineDetection: 'DetectMessageEnd',
        });
        return { providerId: call.sid, status: 'sent' };
      } catch (err) {
        throw classifyTwilio(err as TwilioError, http.lastResponse?.headers as Record<string, unknown> | undefined);
      }
    },
    async candidates(m, since) {
      const from = senderOf(m, 'voicemail caller id');
      if (!('from' in from)) return [];
      const { client } = clientFor(opts, m.signal);
      const listed = await client.calls.list({ to: m.to, from: from.from, limit: LOOKUP_LIMIT });
      return listed.filter((x) => x.direction === 'outbound-api' && createdSince(x.dateCreated, since)).map((x) => x.sid);
    },
  };
}

export const TWILIO_SIGNATURE_HEADER = 'x-twilio-signature';

/** Form parameters as Twilio signs them (first value of a repeated name). */
export function formParams(raw: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(raw.toString('utf8'))) if (!(k in out)) out[k] = v;
  return out;
}

/** An auth token that may have signed a Twilio request, and whose it is (the receiving workspace). */
export interface TwilioSigner<T> {
  authToken: string;
  owner: T;
}

/**
 * X-Twilio-Signature: HMAC-SHA1 under the account's auth token over the URL Twilio called
 * (`url`: PUBLIC_URL + path + query) followed by the sorted form parameters, checked with twilio's
 * validateRequest. Accepted with the owner of the first of `signers` whose token signed it.
 */
export function verifyTwilioSignature<T>(
  signature: string | undefined,
  url: string,
  params: Record<string, string>,
  signers: Array<TwilioSigner<T>>,
): SignatureCheck<{ owner: T }> {
  if (!signature) return { ok: false, reason: 'missing', header: TWILIO_SIGNATURE_HEADER };
  if (signers.length === 0) return { ok: false, reason: 'unconfigured' };
  const signer = signers.find((s) => twilio.validateRequest(s.authToken, signature, url, params));
  return signer ? { ok: true, owner: signer.owner } : { ok: false, reason: 'mismatch', header: TWILIO_SIGNATURE_HEADER };
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

const MACHINE = new Set(['machine_end_beep', 'machine_end_silence', 'machine_end_other']);

/** Did answering-machine detection find a machine ready for the message? */
function isMachine(answeredBy: string | undefined): boolean {
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

/**
 * The TwiML for an answered voicemail call: the message (a recording URL is played, text is spoken)
 * when a machine answered and its beep has passed, then hang up; a person is hung up on at once.
 */
export function voicemailTwiml(content: string | null, answeredBy: string | undefined): string {
  const response = new twilio.twiml.VoiceResponse();
  if (content && isMachine(answeredBy)) {
    if (/^https?:\/\//.test(content)) response.play(content);
    else response.say(content);
  }
  response.hangup();
  return response.toString();
}

/** The TwiML answer to an inbound SMS: `reply` sent back to the sender, or nothing. */
export function smsReplyTwiml(reply: string | null): string {
  const response = new twilio.twiml.MessagingResponse();
  if (reply !== null) response.message(reply);
  return response.toString();
}
