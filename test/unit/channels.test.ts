/**
 * The real @sendgrid/mail and twilio clients against the local fakes: the exact requests each
 * channel makes, and how every provider answer is classified (permanent, transient, ambiguous).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AmbiguousDeliveryError, PermanentDeliveryError, TransientDeliveryError, type OutboundMessage } from '#providers/channel';
import { sendgridChannel } from '#providers/sendgrid';
import { twilioSmsChannel, twilioVoicemailChannel } from '#providers/twilio';
import { fakeSendgrid, fakeTwilio, twilioError } from '../helpers/fake-providers';

const SID = `AC${'a'.repeat(32)}`;
const PUBLIC = 'https://followup.example.com';

const email: OutboundMessage = {
  messageId: 'msg_1',
  channel: 'email',
  to: 'ana@example.com',
  sender: { id: 'snd_1', from: 'hello@cleaning.example', name: 'Sparkle Cleaning', replyTo: 'office@cleaning.example', messagingServiceSid: null },
  subject: 'How was the cleaning, Ana?',
  text: 'Reply with a rating',
  html: '<p>Reply with a rating</p>',
  audioUrl: null,
  categories: ['automation:aut_1', 'step:ask'],
  unsubscribeUrl: `${PUBLIC}/u/tok123`,
  dynamicTemplate: null,
};
const sms: OutboundMessage = {
  ...email,
  channel: 'sms',
  to: '+40712345678',
  sender: { id: 'snd_2', from: '+15005550006', name: null, replyTo: null, messagingServiceSid: null },
  subject: null,
  text: 'Hi Ana, how was the cleaning?',
  html: null,
  categories: [],
  unsubscribeUrl: null,
};

async function sg() {
  const fake = await fakeSendgrid();
  return { fake, channel: sendgridChannel({ apiKey: 'SG.test-key', baseUrl: fake.url, timeoutMs: 2000 }) };
}
async function tw() {
  const fake = await fakeTwilio();
  const opts = { accountSid: SID, authToken: 'secret-token', baseUrl: fake.url, publicUrl: PUBLIC, timeoutMs: 2000 };
  return { fake, sms: twilioSmsChannel(opts), voice: twilioVoicemailChannel(opts) };
}

afterEach(async () => {
  (await fakeSendgrid()).reset();
  (await fakeTwilio()).reset();
});

describe('SendGrid email', () => {
  it('sends the sender, content, categories, message id and one-click unsubscribe headers', async () => {
    const { fake, channel } = await sg();
    const receipt = await channel.send(email);
    expect(receipt).toEqual({ providerId: expect.stringMatching(/^sg_/), status: 'sent' });
    expect(fake.requests).toHaveLength(1);
    const [req] = fake.requests;
    expect(req!.method).toBe('POST');
    expect(req!.path).toBe('/v3/mail/send');
    expect(req!.headers.authorization).toBe('Bearer SG.test-key');
    expect(req!.body).toEqual({
      personalizations: [{ to: [{ email: 'ana@example.com' }] }],
      from: { email: 'hello@cleaning.example', name: 'Sparkle Cleaning' },
      reply_to: { email: 'office@cleaning.example' },
      subject: 'How was the cleaning, Ana?',
      content: [
        { type: 'text/plain', value: 'Reply with a rating' },
        { type: 'text/html', value: '<p>Reply with a rating</p>' },
      ],
      categories: ['automation:aut_1', 'step:ask'],
      custom_args: { message_id: 'msg_1' },
      headers: { 'List-Unsubscribe': `<${PUBLIC}/u/tok123>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
    });
    expect(fake.acceptedFor('msg_1')).toBe(1);
  });

  it('sends a dynamic template id with its data instead of content', async () => {
    const { fake, channel } = await sg();
    await channel.send({ ...email, unsubscribeUrl: null, dynamicTemplate: { id: 'd-123', data: { name: 'Ana' } } });
    expect(fake.requests[0]!.body).toMatchObject({
      template_id: 'd-123',
      personalizations: [{ to: [{ email: 'ana@example.com' }], dynamic_template_data: { name: 'Ana' } }],
    });
    expect(fake.requests[0]!.body.content).toBeUndefined();
    expect(fake.requests[0]!.body.headers).toBeUndefined();
  });

  it('classifies 429 with Retry-After and 500 as transient, 400 and 403 as permanent with the reason', async () => {
    const { fake, channel } = await sg();
    fake.script(
      { status: 429, headers: { 'retry-after': '7' }, body: { errors: [{ message: 'too many requests' }] } },
      { status: 503, body: { errors: [{ message: 'unavailable' }] } },
      { status: 400, body: { errors: [{ message: 'Does not contain a valid address.', field: 'personalizations.0.to.0.email' }] } },
      { status: 403, body: { errors: [{ message: 'The from address does not match a verified Sender Identity.', field: 'from' }] } },
    );
    const e429 = await channel.send(email).catch((e) => e);
    expect(e429).toBeInstanceOf(TransientDeliveryError);
    expect(e429).toMatchObject({ retryAfterMs: 7000, code: '429' });
    expect(await channel.send(email).catch((e) => e)).toBeInstanceOf(TransientDeliveryError);
    const e400 = await channel.send(email).catch((e) => e);
    expect(e400).toBeInstanceOf(PermanentDeliveryError);
    expect(e400).toMatchObject({ code: '400', message: 'SendGrid 400: personalizations.0.to.0.email: Does not contain a valid address.' });
    expect(await channel.send(email).catch((e) => e)).toMatchObject({ name: 'PermanentDeliveryError', code: '403' });
    expect(fake.accepted).toHaveLength(0);
  });

  it('gives up on a hanging provider after the timeout, as ambiguous (the message may have been taken)', async () => {
    const { fake, channel } = await sg();
    fake.script({ delayMs: 3000 });
    const err = await channel.send(email).catch((e) => e);
    expect(err).toBeInstanceOf(AmbiguousDeliveryError);
  });

  it('aborts the request when the signal fires', async () => {
    const { fake, channel } = await sg();
    fake.script({ delayMs: 1500 });
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 100);
    const started = Date.now();
    const err = await channel.send({ ...email, signal: abort.signal }).catch((e) => e);
    expect(err).toBeInstanceOf(AmbiguousDeliveryError);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('is transient when nothing listens (the request never left)', async () => {
    const channel = sendgridChannel({ apiKey: 'SG.x', baseUrl: 'http://127.0.0.1:1', timeoutMs: 2000 });
    expect(await channel.send(email).catch((e) => e)).toBeInstanceOf(TransientDeliveryError);
  });
});

describe('Twilio SMS', () => {
  it('posts To, From, Body and the status callback carrying the message id', async () => {
    const { fake, sms: channel } = await tw();
    const receipt = await channel.send(sms);
    expect(receipt).toEqual({ providerId: expect.stringMatching(/^SM/), status: 'sent', segments: 1 });
    const [req] = fake.requests;
    expect(req!.path).toBe(`/2010-04-01/Accounts/${SID}/Messages.json`);
    expect(req!.headers.authorization).toBe(`Basic ${Buffer.from(`${SID}:secret-token`).toString('base64')}`);
    expect(req!.body).toEqual({
      To: '+40712345678',
      From: '+15005550006',
      Body: 'Hi Ana, how was the cleaning?',
      StatusCallback: `${PUBLIC}/webhooks/twilio/status?messageId=msg_1`,
    });
    expect(fake.acceptedFor('msg_1')).toBe(1);
  });

  it('sends from a messaging service when the sender is one', async () => {
    const { fake, sms: channel } = await tw();
    await channel.send({ ...sms, sender: { id: 'snd_3', from: null, name: null, replyTo: null, messagingServiceSid: 'MG123' } });
    expect(fake.requests[0]!.body).toMatchObject({ MessagingServiceSid: 'MG123' });
    expect(fake.requests[0]!.body.From).toBeUndefined();
  });

  it.each([
    [21211, "The 'To' number is not a valid phone number."],
    [21614, "'To' number is not a valid mobile number"],
    [21610, 'Attempt to send to unsubscribed recipient'],
  ])('refuses for good on error %i, keeping the code', async (code, message) => {
    const { fake, sms: channel } = await tw();
    fake.script(twilioError(400, code, message));
    const err = await channel.send(sms).catch((e) => e);
    expect(err).toBeInstanceOf(PermanentDeliveryError);
    expect(err).toMatchObject({ code: String(code), message: `Twilio 400 (${code}): ${message}` });
  });

  it('retries on 429/20429 (honouring Retry-After) and 500', async () => {
    const { fake, sms: channel } = await tw();
    fake.script({ ...twilioError(429, 20429, 'Too Many Requests'), headers: { 'retry-after': '3' } }, twilioError(500, 20500, 'Internal Server Error'));
    expect(await channel.send(sms).catch((e) => e)).toMatchObject({ name: 'TransientDeliveryError', code: '20429', retryAfterMs: 3000 });
    expect(await channel.send(sms).catch((e) => e)).toMatchObject({ name: 'TransientDeliveryError', code: '20500' });
  });
});

describe('Twilio voicemail', () => {
  it('places a call with answering-machine detection and the message id in both callback URLs', async () => {
    const { fake, voice } = await tw();
    const receipt = await voice.send({ ...sms, channel: 'voicemail', text: 'Hi Ana, call us back' });
    expect(receipt).toEqual({ providerId: expect.stringMatching(/^CA/), status: 'sent' });
    const [req] = fake.requests;
    expect(req!.path).toBe(`/2010-04-01/Accounts/${SID}/Calls.json`);
    expect(req!.body).toEqual({
      To: '+40712345678',
      From: '+15005550006',
      Url: `${PUBLIC}/webhooks/twilio/voice?messageId=msg_1`,
      Method: 'POST',
      StatusCallback: `${PUBLIC}/webhooks/twilio/voice-status?messageId=msg_1`,
      StatusCallbackMethod: 'POST',
      StatusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
      MachineDetection: 'DetectMessageEnd',
    });
    expect(fake.acceptedFor('msg_1')).toBe(1);
  });
});
