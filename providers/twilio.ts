/**
 * SMS (Messages) and voicemail drops (Calls with answering-machine detection) through the real
 * twilio client. One client per send, over a RequestClient whose axios instance sends every
 * request to TWILIO_API_URL (the SDK builds https://api.twilio.com/... URLs) and carries the
 * activity's abort signal.
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
import {
  LOOKUP_CLOCK_SKEW_MS,
  networkError,
  PermanentDeliveryError,
  retryAfterMs,
  TransientDeliveryError,
  type DeliveryChannel,
  type OutboundMessage,
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
/** The recipient replied STOP: nothing more may go to the number on this sender. */
export const TWILIO_UNSUBSCRIBED = 21610;

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
