/**
 * The unsubscribe link of every email (`${PUBLIC_URL}/u/<token>`, platform/unsubscribe-token.ts):
 * GET shows a small confirmation page and changes nothing (mail scanners open links); POST
 * unsubscribes, both from that page's button and as RFC 8058 one-click unsubscribe (the mail
 * client POSTs `List-Unsubscribe=One-Click` to the List-Unsubscribe URL). No API key: the signed
 * token is the authority.
 */
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { getRecord, upsertRecord } from '#db/records';
import { addSuppression } from '#db/suppressions';
import { suppressionFor } from '#domain/suppression';
import { verifyUnsubscribeToken, type UnsubscribeSubject } from '#platform/unsubscribe-token';
import { escapeHtml as escape } from '../html';

const CHANNEL_WORDS = { email: 'emails', sms: 'text messages', voicemail: 'voicemails' } as const;

function page(reply: FastifyReply, status: number, title: string, body: string): FastifyReply {
  return reply
    .status(status)
    .type('text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('referrer-policy', 'no-referrer')
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
        `<title>${escape(title)}</title><style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5}button{font-size:1rem;padding:.5rem 1rem}</style></head>` +
        `<body><h1>${escape(title)}</h1>${body}</body></html>`,
    );
}

const INVALID = '<p>This unsubscribe link is not valid. Copy the whole link from the message, or reply to it asking to be removed.</p>';

const unsubscribe: FastifyPluginAsync = async (app) => {
  // One-click clients send application/x-www-form-urlencoded (or multipart); the body carries
  // nothing we need, so any content type is accepted and left unread.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, _body, done) => done(null, undefined));

  /** Suppresses the record's current address on the channel (or, without one, sets its flag). */
  async function unsubscribeSubject(s: UnsubscribeSubject): Promise<void> {
    const record = await getRecord(app.db, s.workspaceId, s.recordId);
    const address = s.channel === 'email' ? record?.email : record?.phone;
    if (address) await addSuppression(app.db, s.workspaceId, { channel: s.channel, address, ...suppressionFor({ kind: 'unsubscribe_link' }) });
    else if (record) await upsertRecord(app.db, s.workspaceId, s.recordId, { unsubscribed: { [s.channel]: true } });
  }

  app.get<{ Params: { token: string } }>('/:token', { schema: { hide: true } }, async (request, reply) => {
    const subject = verifyUnsubscribeToken(app.config.SECRETS_KEY, request.params.token);
    if (!subject) return page(reply, 404, 'Link not valid', INVALID);
    const what = CHANNEL_WORDS[subject.channel];
    return page(reply, 200, 'Unsubscribe', `<p>Stop receiving ${what} from us?</p><form method="post"><button type="submit">Unsubscribe</button></form>`);
  });

  app.post<{ Params: { token: string } }>('/:token', { schema: { hide: true } }, async (request, reply) => {
    const subject = verifyUnsubscribeToken(app.config.SECRETS_KEY, request.params.token);
    if (!subject) return page(reply, 404, 'Link not valid', INVALID);
    await unsubscribeSubject(subject);
    return page(reply, 200, 'You are unsubscribed', `<p>You will not receive any more ${CHANNEL_WORDS[subject.channel]} from us.</p>`);
  });
};

export default unsubscribe;
