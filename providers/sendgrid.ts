/**
 * SendGrid: email out through the real @sendgrid/mail client, and what its Event Webhook sends back
 * (signature verification, events normalised to `ProviderEvent`).
 *
 * One client per send: its default request carries the base URL (SENDGRID_API_URL, so tests point
 * it at a fake), the timeout and the activity's abort signal, which the SDK passes to axios unchanged.
 */
import { Client } from '@sendgrid/client';
import sendgridWebhook from '@sendgrid/eventwebhook';
import { MailService, type MailDataRequired } from '@sendgrid/mail';
import type { ProviderEvent, ProviderEventType } from '#domain/provider-events';
import {
  networkError,
  PermanentDeliveryError,
  retryAfterMs,
  TransientDeliveryError,
  type DeliveryChannel,
  type OutboundMessage,
  type SignatureCheck,
} from './channel';

const { EventWebhook, EventWebhookHeader } = sendgridWebhook;

export interface SendgridOptions {
  apiKey: string;
  baseUrl: string;
  timeoutMs: number;
}

interface SendgridResponseError {
  code?: number | string;
  message?: string;
  response?: { headers?: Record<string, string>; body?: { errors?: Array<{ message?: string; field?: string | null }> } };
}

/** The JSON body SendGrid gets (v3 mail/send), built by the SDK from these fields. */
export function mailData(m: OutboundMessage): MailDataRequired {
  const sender = m.sender;
  if (!sender?.from)
    throw new PermanentDeliveryError('no email sender: add one (POST /v1/senders) and make it the default or name it in the step', 'no_sender');
  const content = m.dynamicTemplate
    ? { templateId: m.dynamicTemplate.id, dynamicTemplateData: m.dynamicTemplate.data }
    : { subject: m.subject ?? '', ...(m.text ? { text: m.text } : {}), ...(m.html ? { html: m.html } : {}) };
  return {
    to: m.to,
    from: sender.name ? { email: sender.from, name: sender.name } : sender.from,
    ...(sender.replyTo ? { replyTo: sender.replyTo } : {}),
    ...content,
    ...(m.categories.length > 0 ? { categories: m.categories } : {}),
    customArgs: { message_id: m.messageId },
    ...(m.unsubscribeUrl ? { headers: { 'List-Unsubscribe': `<${m.unsubscribeUrl}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' } } : {}),
  } as MailDataRequired;
}

export function sendgridChannel(opts: SendgridOptions): DeliveryChannel {
  return {
    name: 'sendgrid',
    async send(m) {
      const data = mailData(m);
      const client = new Client();
      client.setApiKey(opts.apiKey);
      client.setDefaultRequest({ baseUrl: opts.baseUrl, timeout: opts.timeoutMs, ...(m.signal ? { signal: m.signal } : {}) } as never);
      const mail = new MailService();
      mail.setClient(client);
      try {
        const [response] = await mail.send(data);
        const id = response.headers['x-message-id'];
        return { providerId: typeof id === 'string' ? id : null, status: 'sent' };
      } catch (err) {
        throw classifySendgrid(err as SendgridResponseError);
      }
    },
  };
}

function classifySendgrid(err: SendgridResponseError): Error {
  const status = typeof err.code === 'number' ? err.code : undefined;
  if (status === undefined || !err.response)
    return networkError('SendGrid', { code: typeof err.code === 'string' ? err.code : undefined, message: err.message });
  const reasons = (err.response.body?.errors ?? [])
    .map((e) => (e.field ? `${e.field}: ${e.message}` : e.message))
    .filter(Boolean)
    .join('; ');
  const message = `SendGrid ${status}${reasons ? `: ${reasons}` : ''}`;
  if (status === 429 || status >= 500) return new TransientDeliveryError(message, retryAfterMs(err.response.headers?.['retry-after']), String(status));
  return new PermanentDeliveryError(message, String(status));
}

export const SENDGRID_SIGNATURE_HEADER = EventWebhookHeader.SIGNATURE().toLowerCase();
export const SENDGRID_TIMESTAMP_HEADER = EventWebhookHeader.TIMESTAMP().toLowerCase();
/** A signed SendGrid request older (or further in the future) than this is refused: a replay. */
const SENDGRID_MAX_AGE_S = 300;

/**
 * SendGrid's Signed Event Webhook: ECDSA P-256 (SHA-256) over timestamp + raw body, the timestamp
 * no more than SENDGRID_MAX_AGE_S away from now. Checked with @sendgrid/eventwebhook.
 */
export function verifySendgridSignature(headers: { signature?: string; timestamp?: string }, raw: Buffer, publicKeys: string[], now: Date): SignatureCheck {
  const { signature, timestamp } = headers;
  if (!signature) return { ok: false, reason: 'missing', header: SENDGRID_SIGNATURE_HEADER };
  if (!timestamp) return { ok: false, reason: 'missing', header: SENDGRID_TIMESTAMP_HEADER };
  if (!/^\d{1,12}$/.test(timestamp) || Math.abs(now.getTime() / 1000 - Number(timestamp)) > SENDGRID_MAX_AGE_S) {
    return { ok: false, reason: 'stale', header: SENDGRID_TIMESTAMP_HEADER, maxAgeS: SENDGRID_MAX_AGE_S };
  }
  if (publicKeys.length === 0) return { ok: false, reason: 'unconfigured' };
  const webhook = new EventWebhook();
  const valid = publicKeys.some((key) => {
    try {
      // The key as SendGrid shows it (base64 DER) or as PEM.
      return webhook.verifySignature(webhook.convertPublicKeyToECDSA(key), raw, signature, timestamp);
    } catch {
      return false; // a malformed signature or key is a wrong one
    }
  });
  return valid ? { ok: true } : { ok: false, reason: 'mismatch', header: SENDGRID_SIGNATURE_HEADER };
}

/** Whether a SendGrid webhook verification key can be used (base64 DER as SendGrid shows it, or PEM). */
export function isSendGridPublicKey(key: string): boolean {
  try {
    new EventWebhook().convertPublicKeyToECDSA(key);
    return true;
  } catch {
    return false;
  }
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
