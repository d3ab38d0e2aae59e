/**
 * Email through the real @sendgrid/mail client. One client per send: its default request carries
 * the base URL (SENDGRID_API_URL, so tests point it at a fake), the timeout and the activity's
 * abort signal, which the SDK passes to axios unchanged.
 */
import { Client } from '@sendgrid/client';
import { MailService, type MailDataRequired } from '@sendgrid/mail';
import { networkError, PermanentDeliveryError, retryAfterMs, TransientDeliveryError, type DeliveryChannel, type OutboundMessage } from './channel';

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
