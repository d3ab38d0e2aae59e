/**
 * What SendGrid and Twilio send back: statuses, replies, opt-outs, the voicemail call's TwiML.
 * No API key: every route verifies the provider's signature (or, for Inbound Parse, which SendGrid
 * does not sign, a per-workspace secret and basic auth) on the raw body before anything in it is
 * acted on or stored, and answers 401 (missing) or 403 (wrong or stale) otherwise. Replays change
 * nothing: status events are deduplicated by provider event id, inbound messages by provider id.
 */
import { createHash } from 'node:crypto';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { findMessage, applyProviderEvents, type AppliedEvent } from '#db/message-events';
import { emailReceivers, receiveInbound, smsReceivers, type Receiver } from '#db/inbound';
import { addSuppression, removeSuppression } from '#db/suppressions';
import { inboundParseWorkspace } from '#db/inbound-parse';
import { getWorkspaceSettings } from '#db/settings';
import type { Db } from '#db/connection';
import type { Provider } from '#domain/delivery';
import type { ProviderEvent } from '#domain/provider-events';
import { smsKeyword, suppressionFor } from '#domain/suppression';
import type { SignatureCheck } from '#providers/channel';
import { sendgridWebhookKeys, twilioCallbackTokens } from '#providers/registry';
import { fromSendGridEvent, SENDGRID_SIGNATURE_HEADER, SENDGRID_TIMESTAMP_HEADER, verifySendgridSignature } from '#providers/sendgrid';
import {
  formParams,
  fromTwilioCallStatus,
  fromTwilioMessageStatus,
  smsReplyTwiml,
  TWILIO_SIGNATURE_HEADER,
  verifyTwilioSignature,
  voicemailTwiml,
  type TwilioSigner,
} from '#providers/twilio';
import { HttpProblem } from '../errors';

const DEFAULT_HELP_TEXT = 'Reply STOP to unsubscribe, START to subscribe again.';

const header = (request: FastifyRequest, name: string): string | undefined => {
  const v = request.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

const queryParam = (request: FastifyRequest, name: string): string | undefined => {
  const v = (request.query as Record<string, unknown>)[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
};

/**
 * Stores status events and their side effects in one transaction: a crash after the events but
 * before a bounce's suppression would make the provider's retry a replay and lose the suppression.
 */
function applyAndAct(db: Db, events: ProviderEvent[], onlyWorkspaceId?: string): Promise<void> {
  return db.transaction().execute(async (trx) => actOnStatusEvents(trx, await applyProviderEvents(trx, events, onlyWorkspaceId)));
}

/** Side effects of newly stored status events: the suppressions they decide (domain/suppression.ts). */
async function actOnStatusEvents(db: Db, applied: AppliedEvent[]): Promise<void> {
  for (const { event, message } of applied) {
    const suppress = suppressionFor({ kind: 'provider_event', event });
    if (!suppress || !message.to) continue;
    const channel = message.channel === 'email' ? 'email' : message.channel === 'voicemail' ? 'voicemail' : 'sms';
    await addSuppression(db, message.workspace_id, { channel, address: message.to, ...suppress });
  }
}

/** Why a request signed by no one we trust is refused (403), in each provider's words. */
const UNTRUSTED: Record<Provider, { unconfigured: string; mismatch: string }> = {
  twilio: { unconfigured: 'no Twilio auth token is configured for this account', mismatch: 'X-Twilio-Signature does not match' },
  sendgrid: { unconfigured: 'no SendGrid webhook public key is configured (SENDGRID_WEBHOOK_PUBLIC_KEY)', mismatch: 'signature does not match' },
};

/** The accepted check, or the problem its refusal answers: 401 when the request is not signed, 403 when no one we trust signed it. */
function accepted<T extends object>(provider: Provider, check: SignatureCheck<T>): T {
  if (check.ok) return check;
  switch (check.reason) {
    case 'missing':
      throw new HttpProblem(401, 'Unauthorized', { detail: `missing ${check.header}`, field: `/headers/${check.header}` });
    case 'stale':
      throw forbidden(`timestamp is more than ${check.maxAgeS} s away from now`, `/headers/${check.header}`);
    case 'mismatch':
      throw forbidden(UNTRUSTED[provider].mismatch, `/headers/${check.header}`);
    case 'unconfigured':
      throw forbidden(UNTRUSTED[provider].unconfigured);
  }
}

const forbidden = (detail: string, field?: string) => new HttpProblem(403, 'Forbidden', { detail, ...(field ? { field } : {}) });

const providerWebhooks: FastifyPluginAsync = async (app) => {
  // The raw bytes are what the providers signed: no parser may touch them before verification.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  const rawBody = (request: FastifyRequest): Buffer => (Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0));
  /** The URL Twilio called, as it signed it. */
  const calledUrl = (request: FastifyRequest) => `${app.config.PUBLIC_URL}${request.url}`;
  async function twilioSigners<T>(workspaceId: string | null, owner: T, accountSid: string | undefined): Promise<Array<TwilioSigner<T>>> {
    return (await twilioCallbackTokens(app.db, app.config, workspaceId, accountSid)).map((authToken) => ({ authToken, owner }));
  }

  /** Verified Twilio form parameters for a callback about one of our messages (?messageId=). */
  async function twilioCallback(request: FastifyRequest) {
    const messageId = queryParam(request, 'messageId');
    const message = messageId ? await findMessage(app.db, messageId) : undefined;
    const params = formParams(rawBody(request));
    const signers = await twilioSigners(message?.workspace_id ?? null, null, params.AccountSid);
    accepted('twilio', verifyTwilioSignature(header(request, TWILIO_SIGNATURE_HEADER), calledUrl(request), params, signers));
    return { message, params };
  }

  const hidden = { schema: { hide: true } };

  app.post('/twilio/status', hidden, async (request, reply) => {
    const { message, params } = await twilioCallback(request);
    const event = message ? fromTwilioMessageStatus(message.id, params, new Date()) : null;
    if (event) await applyAndAct(app.db, [event]);
    return reply.status(204).send();
  });

  app.post('/twilio/voice-status', hidden, async (request, reply) => {
    const { message, params } = await twilioCallback(request);
    const event = message ? fromTwilioCallStatus(message.id, params, new Date()) : null;
    if (event) await applyProviderEvents(app.db, [event]);
    return reply.status(204).send();
  });

  // The voicemail call was answered: leave the message on a machine (after its beep), hang up on a person.
  app.post('/twilio/voice', hidden, async (request, reply) => {
    const { message, params } = await twilioCallback(request);
    const content = message?.channel === 'voicemail' ? message.body : null;
    return reply.type('text/xml').send(voicemailTwiml(content, params.AnsweredBy));
  });

  app.post('/twilio/sms', hidden, async (request, reply) => {
    const params = formParams(rawBody(request));
    // The workspace that owns the receiving number (a sender of its own), signed for by the auth
    // token of the account it receives through; a number no workspace has: the service-wide account.
    const receivers = params.To
      ? await smsReceivers(app.db, { number: params.To, messagingServiceSid: params.MessagingServiceSid, from: params.From ?? '' })
      : [];
    const signers = (await Promise.all(receivers.map((r) => twilioSigners<Receiver | null>(r.workspaceId, r, params.AccountSid)))).flat();
    if (receivers.length === 0) signers.push(...(await twilioSigners<Receiver | null>(null, null, params.AccountSid)));
    const receiver = accepted('twilio', verifyTwilioSignature(header(request, TWILIO_SIGNATURE_HEADER), calledUrl(request), params, signers)).owner;
    if (!receiver || !params.From || !params.MessageSid) {
      request.log.warn({ to: params.To, messageSid: params.MessageSid }, 'inbound SMS to a number no workspace has as a sender; not stored');
      return reply.type('text/xml').send(smsReplyTwiml(null));
    }
    const { workspaceId } = receiver;
    const { From: from, MessageSid: messageSid } = params;
    const keyword = smsKeyword(params.Body ?? '');
    const stop = suppressionFor({ kind: 'sms_reply', body: params.Body ?? '' });
    // The message and the opt-out it carries commit together: a crash between them would make
    // Twilio's retry a known message and lose the STOP.
    await app.db.transaction().execute(async (trx) => {
      const inbound = await receiveInbound(trx, {
        workspaceId,
        channel: 'sms',
        providerId: messageSid,
        from,
        to: params.To ?? '',
        senderIds: [receiver.senderId],
        text: params.Body ?? '',
        keyword,
        receivedAt: new Date(),
      });
      if (inbound.created && stop) {
        await addSuppression(trx, workspaceId, { channel: 'sms', address: from, ...stop });
      } else if (inbound.created && keyword === 'start') {
        await removeSuppression(trx, workspaceId, 'sms', from);
      }
    });
    const help = keyword === 'help' ? ((await getWorkspaceSettings(app.db, workspaceId))?.smsHelpText ?? DEFAULT_HELP_TEXT) : null;
    return reply.type('text/xml').send(smsReplyTwiml(help));
  });

  app.post('/sendgrid/events', hidden, async (request, reply) => {
    const raw = rawBody(request);
    const { publicKeys, onlyWorkspaceId } = await sendgridWebhookKeys(app.db, app.config, queryParam(request, 'workspace'));
    const signed = { signature: header(request, SENDGRID_SIGNATURE_HEADER), timestamp: header(request, SENDGRID_TIMESTAMP_HEADER) };
    accepted('sendgrid', verifySendgridSignature(signed, raw, publicKeys, new Date()));
    let entries: unknown;
    try {
      entries = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new HttpProblem(400, 'Bad Request', { detail: 'body is not JSON', field: '/body' });
    }
    if (!Array.isArray(entries)) throw new HttpProblem(400, 'Bad Request', { detail: 'body is not an array of events', field: '/body' });
    const events = entries
      .map((e) => (e && typeof e === 'object' ? fromSendGridEvent(e as Record<string, unknown>) : null))
      .filter((e): e is ProviderEvent => e !== null);
    await applyAndAct(app.db, events, onlyWorkspaceId);
    return reply.status(204).send();
  });

  // Inbound Parse is not signed: the URL's secret names the workspace and basic auth proves it.
  app.post<{ Params: { secret: string } }>('/sendgrid/inbound/:secret', hidden, async (request, reply) => {
    const auth = header(request, 'authorization');
    const basic = auth?.match(/^Basic\s+([A-Za-z0-9+/=]+)$/i);
    if (!basic) {
      throw new HttpProblem(401, 'Unauthorized', {
        detail: 'missing basic auth',
        field: '/headers/authorization',
        headers: { 'www-authenticate': 'Basic realm="inbound"' },
      });
    }
    const [user, ...rest] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':');
    const workspaceId = await inboundParseWorkspace(app.db, request.params.secret, user ?? '', rest.join(':'));
    if (!workspaceId) throw forbidden('unknown inbound address or wrong credentials', '/headers/authorization');

    const form = await new Response(new Uint8Array(rawBody(request)), { headers: { 'content-type': header(request, 'content-type') ?? '' } })
      .formData()
      .catch(() => null);
    if (!form) throw new HttpProblem(400, 'Bad Request', { detail: 'body is not multipart/form-data', field: '/body' });
    const field = (name: string) => {
      const v = form.get(name);
      return typeof v === 'string' ? v : '';
    };
    const from = addressOf(field('from'));
    const to = addressOf(field('to'));
    if (!from) throw new HttpProblem(400, 'Bad Request', { detail: 'no sender address', field: '/body/from' });
    const messageIdHeader = /^message-id:\s*(\S+)/im.exec(field('headers'))?.[1];
    const text = field('text') || stripHtml(field('html'));
    await receiveInbound(app.db, {
      workspaceId,
      channel: 'email',
      providerId: messageIdHeader ?? createHash('sha256').update(rawBody(request).toString('base64')).digest('hex'),
      from,
      to,
      senderIds: await emailReceivers(app.db, workspaceId, to),
      text: latestReply(text),
      receivedAt: new Date(),
    });
    return reply.status(204).send();
  });
};

/** `Ana <ana@example.com>` -> ana@example.com */
function addressOf(value: string): string {
  const angle = /<([^>]+)>/.exec(value)?.[1];
  return (angle ?? value.split(',')[0] ?? '').trim().toLowerCase();
}

function stripHtml(html: string): string {
  return html
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The reply without the quoted message below it ("On ... wrote:", "> ..."). */
function latestReply(text: string): string {
  const lines = text.split(/\r?\n/);
  const cut = lines.findIndex((l) => /^On .+wrote:\s*$/.test(l) || l.startsWith('>'));
  return (cut === -1 ? lines : lines.slice(0, cut)).join('\n').trim();
}

export default providerWebhooks;
