/**
 * Every notification type reaches a backend endpoint subscribed to all of them, end to end on the
 * Temporal dev server: sends through the real SDKs to the fake providers, a signed reply and bounce
 * back through the provider webhooks. A send that fails before any attempt (no address) is told as
 * `message.failed` like a send the provider refused.
 */
import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { rawRequest } from '../helpers/app';
import { fakeSendgrid, fakeTwilio } from '../helpers/fake-providers';
import { createAutomation, putRecord, startEngineTest, waitFor, type EngineTest } from './engine-support';

vi.setConfig({ testTimeout: 180_000 });

const PUBLIC = 'https://followup.example.com';
const SID = `AC${'d'.repeat(32)}`;
const TOKEN = 'notification-types-twilio-token';
const run = String(Date.now() % 10_000).padStart(4, '0');
const OUR_NUMBER = `+1500777${run}`;
const LEAD_PHONE = `+1500888${run}`;
const signing = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

let e: EngineTest;
let server: Server;
let secret = '';
const received: Array<{ json: any; valid: boolean }> = [];

beforeAll(async () => {
  const sg = await fakeSendgrid();
  const tw = await fakeTwilio();
  e = await startEngineTest({
    env: {
      SENDGRID_API_KEY: 'SG.types',
      SENDGRID_API_URL: sg.url,
      SENDGRID_WEBHOOK_PUBLIC_KEY: signing.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
      TWILIO_ACCOUNT_SID: SID,
      TWILIO_AUTH_TOKEN: TOKEN,
      TWILIO_API_URL: tw.url,
      PUBLIC_URL: PUBLIC,
      WEBHOOK_RETRY_BASE_MS: '200',
    },
  });
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += String(d)));
    req.on('end', () => {
      const header = String(req.headers['x-followup-signature'] ?? '');
      const t = /(?:^|,)t=(\d+)/.exec(header)?.[1];
      const valid = Boolean(t) && header.includes(`v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`);
      received.push({ json: JSON.parse(body), valid });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const ep = await e.api('POST', '/v1/webhook-endpoints', { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/hooks` });
  expect(ep.status, JSON.stringify(ep.body)).toBe(201);
  secret = ep.body.secret;
  for (const sender of [
    { id: 'snd_types_mail', channel: 'email', from: 'hello@homes.example' },
    { id: 'snd_types_sms', channel: 'sms', from: OUR_NUMBER, kind: 'long_code' },
  ]) {
    expect((await e.api('POST', '/v1/senders', sender)).status).toBe(201);
  }
  const settings = await e.api('PUT', '/v1/settings', {
    quietHours: { sms: null, voicemail: null },
    defaultSenders: { email: 'snd_types_mail', sms: 'snd_types_sms' },
  });
  expect(settings.status, JSON.stringify(settings.body)).toBe(200);
});
afterAll(async () => {
  server?.closeAllConnections();
  server?.close();
  await e?.close();
});

async function enroll(automationId: string, recordId: string): Promise<string> {
  const res = await e.api('POST', `/v1/automations/${automationId}/enrollments`, { recordId });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id;
}

const ofType = (type: string) => received.filter((r) => r.json.type === type).map((r) => r.json);

describe('notification types', () => {
  it('enrollment.started/completed/exited, message.sent/failed/replied/bounced and suppression.created all arrive, signed', async () => {
    const replied = await createAutomation(
      e,
      {
        name: 'Types: reply',
        trigger: { type: 'manual' },
        exitWhen: [{ event: 'message.replied' }],
        steps: [
          { id: 'text', type: 'sms', template: 'tpl_types_sms' },
          { id: 'mail', type: 'email', template: 'tpl_types_mail' },
          { id: 'hold', type: 'wait_for', event: 'types.never', timeout: 'P1D' },
        ],
      },
      { templates: [{ id: 'tpl_types_sms', channel: 'sms', content: { body: 'Hi {{ record.name }}' } }, { id: 'tpl_types_mail' }] },
    );
    // No email address: the email step fails before any attempt.
    await putRecord(e, 'types-1', { name: 'Ana', email: null, phone: LEAD_PHONE });
    const enr1 = await enroll(replied.id, 'types-1');
    await waitFor('message.failed', async () => ofType('message.failed').length > 0);

    const params: Record<string, string> = { MessageSid: 'SMtypes1', AccountSid: SID, From: LEAD_PHONE, To: OUR_NUMBER, Body: 'Call me' };
    const data = Object.keys(params)
      .sort()
      .reduce((acc, k) => acc + k + params[k], `${PUBLIC}/webhooks/twilio/sms`);
    const reply = await rawRequest(e.t, 'POST', '/webhooks/twilio/sms', {
      key: null,
      contentType: 'application/x-www-form-urlencoded',
      body: new URLSearchParams(params).toString(),
      headers: { 'x-twilio-signature': createHmac('sha1', TOKEN).update(data).digest('base64') },
    });
    expect(reply.status).toBe(200);
    await waitFor('enrollment.exited', async () => ofType('enrollment.exited').length > 0);

    const bounced = await createAutomation(
      e,
      { name: 'Types: bounce', trigger: { type: 'manual' }, steps: [{ id: 'mail', type: 'email', template: 'tpl_types_mail' }] },
      { templates: [{ id: 'tpl_types_mail' }] },
    );
    await putRecord(e, 'types-2', { name: 'Bo', email: 'bo.types@example.com' });
    const enr2 = await enroll(bounced.id, 'types-2');
    await waitFor('enrollment.completed', async () => ofType('enrollment.completed').length > 0);
    const sent = ofType('message.sent').find((n) => n.data.recordId === 'types-2');
    const body = JSON.stringify([
      {
        email: 'bo.types@example.com',
        event: 'bounce',
        type: 'bounce',
        status: '5.1.1',
        reason: 'no such user',
        timestamp: Math.floor(Date.now() / 1000),
        sg_event_id: 'types_b1',
        message_id: sent.data.id,
      },
    ]);
    const ts = String(Math.floor(Date.now() / 1000));
    const bounce = await rawRequest(e.t, 'POST', '/webhooks/sendgrid/events', {
      key: null,
      body,
      headers: {
        'x-twilio-email-event-webhook-signature': sign('sha256', Buffer.from(ts + body), signing.privateKey).toString('base64'),
        'x-twilio-email-event-webhook-timestamp': ts,
      },
    });
    expect(bounce.status).toBe(204);
    await waitFor('suppression.created', async () => ofType('suppression.created').length > 0 && ofType('message.bounced').length > 0);

    expect(received.every((r) => r.valid)).toBe(true);
    expect(new Set(received.map((r) => r.json.type))).toEqual(
      new Set([
        'enrollment.started',
        'enrollment.completed',
        'enrollment.exited',
        'message.sent',
        'message.failed',
        'message.replied',
        'message.bounced',
        'suppression.created',
      ]),
    );
    expect(
      ofType('enrollment.started')
        .map((n) => n.data.enrollmentId)
        .sort(),
    ).toEqual([enr1, enr2].sort());
    expect(ofType('enrollment.exited')).toMatchObject([{ data: { enrollmentId: enr1, exitReason: 'event:message.replied' } }]);
    expect(ofType('enrollment.completed')).toMatchObject([{ data: { enrollmentId: enr2 } }]);
    expect(ofType('message.failed')).toMatchObject([
      { data: { recordId: 'types-1', stepId: 'mail', channel: 'email', status: 'failed', error: 'no email address for the recipient' } },
    ]);
    expect(
      ofType('message.sent')
        .map((n) => [n.data.recordId, n.data.stepId])
        .sort(),
    ).toEqual([
      ['types-1', 'text'],
      ['types-2', 'mail'],
    ]);
    expect(ofType('message.replied')).toMatchObject([{ data: { recordId: 'types-1', channel: 'sms', text: 'Call me', from: LEAD_PHONE, to: OUR_NUMBER } }]);
    expect(ofType('message.bounced')).toMatchObject([{ data: { id: sent.data.id, recordId: 'types-2', status: 'bounced' } }]);
    expect(ofType('suppression.created')).toMatchObject([{ data: { channel: 'email', address: 'bo.types@example.com', source: 'bounce' } }]);
  });
});
