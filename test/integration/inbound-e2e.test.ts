/**
 * The loop closed end to end on the Temporal dev server: the API and the worker send through the
 * real @sendgrid/mail and twilio clients to the local fake providers, and what comes back (a reply,
 * STOP and START, a one-click unsubscribe, a bounce, late statuses) arrives signed at the provider
 * webhooks as SendGrid and Twilio would send it. Effects are counted at the fakes.
 */
import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { fakeSendgrid, fakeTwilio, type FakeSendgrid, type FakeTwilio } from '../helpers/fake-providers';
import { rawRequest } from '../helpers/app';
import { createAutomation, putRecord, startEngineTest, waitFor, type EngineTest } from './engine-support';

vi.setConfig({ testTimeout: 180_000 });

const PUBLIC = 'https://followup.example.com';
const TWILIO_TOKEN = 'e2e-twilio-auth-token';
// Numbers of this run only: other files' rows share the test database.
const run = String(Date.now() % 10_000).padStart(4, '0');
const SMS_NUMBER = `+1500555${run}`;
const lead = (n: number) => `+1500666${run.slice(0, 2)}${String(n).padStart(2, '0')}`;
const signing = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
let e: EngineTest;
let sg: FakeSendgrid;
let tw: FakeTwilio;

beforeAll(async () => {
  sg = await fakeSendgrid();
  tw = await fakeTwilio();
  e = await startEngineTest({
    env: {
      SENDGRID_API_KEY: 'SG.e2e',
      SENDGRID_API_URL: sg.url,
      SENDGRID_WEBHOOK_PUBLIC_KEY: signing.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
      TWILIO_ACCOUNT_SID: `AC${'c'.repeat(32)}`,
      TWILIO_AUTH_TOKEN: TWILIO_TOKEN,
      TWILIO_API_URL: tw.url,
      PUBLIC_URL: PUBLIC,
    },
  });
  for (const sender of [
    { id: 'snd_e2e_mail', channel: 'email', from: 'hello@homes.example', name: 'Homes' },
    { id: 'snd_e2e_sms', channel: 'sms', from: SMS_NUMBER, kind: 'long_code' },
  ]) {
    const res = await e.api('POST', '/v1/senders', sender);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  }
  // Sends go out now, whatever the hour the test runs at.
  const settings = await e.api('PUT', '/v1/settings', {
    quietHours: { sms: null, voicemail: null },
    defaultSenders: { email: 'snd_e2e_mail', sms: 'snd_e2e_sms' },
  });
  expect(settings.status, JSON.stringify(settings.body)).toBe(200);
});
afterAll(async () => {
  await e?.close();
});
afterEach(() => {
  sg.reset();
  tw.reset();
});

/** An inbound SMS to our number, signed as Twilio signs it (HMAC-SHA1 over the URL and the sorted parameters). */
async function textIn(from: string, body: string, sid: string) {
  const path = '/webhooks/twilio/sms';
  const params: Record<string, string> = { MessageSid: sid, AccountSid: `AC${'c'.repeat(32)}`, From: from, To: SMS_NUMBER, Body: body };
  const data = Object.keys(params)
    .sort()
    .reduce((acc, k) => acc + k + params[k], PUBLIC + path);
  const res = await rawRequest(e.t, 'POST', path, {
    key: null,
    contentType: 'application/x-www-form-urlencoded',
    body: new URLSearchParams(params).toString(),
    headers: { 'x-twilio-signature': createHmac('sha1', TWILIO_TOKEN).update(data).digest('base64') },
  });
  expect(res.status).toBe(200);
  return res;
}

/** SendGrid's Signed Event Webhook: ECDSA P-256 over timestamp + body. */
async function sendgridEvents(events: Array<Record<string, unknown>>) {
  const body = JSON.stringify(events);
  const ts = String(Math.floor(Date.now() / 1000));
  const signature = sign('sha256', Buffer.from(ts + body), signing.privateKey).toString('base64');
  const res = await rawRequest(e.t, 'POST', '/webhooks/sendgrid/events', {
    key: null,
    body,
    headers: { 'x-twilio-email-event-webhook-signature': signature, 'x-twilio-email-event-webhook-timestamp': ts },
  });
  expect(res.status).toBe(204);
}

async function enroll(automationId: string, recordId: string): Promise<string> {
  const res = await e.api('POST', `/v1/automations/${automationId}/enrollments`, { recordId });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as string;
}

async function enrollment(id: string): Promise<any> {
  return (await e.api('GET', `/v1/enrollments/${id}`)).body;
}

/** The record's messages of one step once they reach a final status (oldest first). */
async function finalMessage(recordId: string, stepId: string): Promise<any> {
  return waitFor(`message ${stepId} of ${recordId}`, async () => {
    const res = await e.api('GET', `/v1/messages?recordId=${encodeURIComponent(recordId)}`);
    const m = (res.body.items as any[]).find((x) => x.stepId === stepId);
    return m && !['queued', 'sending'].includes(m.status) ? m : undefined;
  });
}

async function event(recordId: string, type: string): Promise<void> {
  const res = await e.api('POST', '/v1/events', { type, recordId });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
}

describe('seed 004: a seller lead replies by SMS', () => {
  it('the reply through /webhooks/twilio/sms ends the sequence and the person in charge gets a task and an email', async () => {
    const owner = await e.api('POST', '/v1/users', { id: 'usr_e2e_owner', name: 'Dana Agent', email: 'dana@homes.example' });
    expect(owner.status, JSON.stringify(owner.body)).toBe(201);
    const window = { from: '14:00', to: '15:00', timezone: 'America/New_York' };
    const a = await createAutomation(
      e,
      {
        name: 'Missed Call Followup',
        trigger: { type: 'manual' },
        exitWhen: [{ event: 'message.replied', notify: 'owner' }],
        settings: { timing: 'after_start' },
        steps: [
          { id: 'a1', type: 'sms', template: 'tpl_e2e_text' },
          { id: 'a2', type: 'email', template: 'tpl_e2e_mail', delay: 'P2D', window },
          { id: 'a3', type: 'task', template: 'tpl_e2e_call', delay: 'P3D', window },
        ],
      },
      {
        templates: [
          { id: 'tpl_e2e_text', channel: 'sms', content: { body: 'Hi {{ record.name }}, sorry we missed your call. When suits you?' } },
          { id: 'tpl_e2e_mail' },
          { id: 'tpl_e2e_call', channel: 'task', content: { title: 'Call {{ record.name }}' } },
        ],
      },
    );
    await putRecord(e, 'seller-1', { name: 'Sam Seller', phone: lead(1), ownerId: 'usr_e2e_owner' });
    const enr = await enroll(a.id, 'seller-1');
    const first = await finalMessage('seller-1', 'a1');
    expect(first).toMatchObject({ status: 'sent', to: lead(1), body: 'Hi Sam Seller, sorry we missed your call. When suits you?' });
    expect(tw.acceptedFor(first.id)).toBe(1);

    await textIn(lead(1), 'Tomorrow after 5 works', 'SMe2ereply0001');

    const done = await waitFor('the enrollment to exit', async () => {
      const body = await enrollment(enr);
      return body.status === 'exited' ? body : undefined;
    });
    expect(done).toMatchObject({ status: 'exited', exitReason: 'event:message.replied' });
    const tasks = await waitFor('the owner task', async () => {
      const res = await e.api('GET', '/v1/tasks?assignee=usr_e2e_owner');
      return res.body.items.length > 0 ? res.body.items : undefined;
    });
    expect(tasks).toMatchObject([{ recordId: 'seller-1', title: 'Sam Seller replied', priority: 'high', status: 'open' }]);
    const told = await finalMessage('seller-1', 'notify');
    expect(told).toMatchObject({ status: 'sent', channel: 'email', to: 'dana@homes.example', subject: 'Sam Seller replied' });
    expect(sg.acceptedFor(told.id)).toBe(1);
    expect(sg.accepted.map((r) => r.body.personalizations[0].to[0].email)).toEqual(['dana@homes.example']);
    // Nothing more went to the lead: a2 and a3 never ran.
    const all = (await e.api('GET', '/v1/messages?recordId=seller-1')).body.items as any[];
    expect(all.map((m) => m.stepId).sort()).toEqual(['a1', 'notify']);
    expect(tw.accepted).toHaveLength(1);
  });
});

describe('opt-out and back in', () => {
  /** sms, then each further step waits for the test's `e2e.next` event. */
  const stepper = async (name: string, channel: 'sms' | 'email', template: string) =>
    createAutomation(
      e,
      {
        name,
        trigger: { type: 'manual' },
        steps: [
          { id: 'm1', type: channel, template },
          { id: 'w1', type: 'wait_for', event: 'e2e.next', timeout: 'P1D' },
          { id: 'm2', type: channel, template },
          { id: 'w2', type: 'wait_for', event: 'e2e.next', timeout: 'P1D' },
          { id: 'm3', type: channel, template },
        ],
      },
      {
        templates: [
          channel === 'sms' ? { id: template, channel: 'sms', content: { body: 'Still thinking of selling, {{ record.name }}?' } } : { id: template },
        ],
      },
    );

  it('STOP: the next SMS is suppressed and never reaches Twilio; START: the one after goes', async () => {
    const a = await stepper('Text follow-up', 'sms', 'tpl_e2e_nudge');
    await putRecord(e, 'seller-stop', { name: 'Pat', phone: lead(2) });
    const enr = await enroll(a.id, 'seller-stop');
    const m1 = await finalMessage('seller-stop', 'm1');
    expect(m1.status).toBe('sent');

    const stop = await textIn(lead(2), ' Stop ', 'SMe2estop0001');
    expect(stop.body).toBe('<?xml version="1.0" encoding="UTF-8"?><Response/>');
    const sup = await e.api('GET', '/v1/suppressions?channel=sms');
    expect(sup.body.items).toEqual([expect.objectContaining({ channel: 'sms', address: lead(2), reason: 'replied Stop' })]);
    await event('seller-stop', 'e2e.next');
    const m2 = await finalMessage('seller-stop', 'm2');
    expect(m2).toMatchObject({ status: 'suppressed', error: 'suppressed: replied Stop', providerId: null });
    expect(tw.acceptedFor(m2.id)).toBe(0);

    await textIn(lead(2), 'START', 'SMe2estart0001');
    expect((await e.api('GET', '/v1/suppressions?channel=sms')).body.items).toEqual([]);
    await event('seller-stop', 'e2e.next');
    const m3 = await finalMessage('seller-stop', 'm3');
    expect(m3).toMatchObject({ status: 'sent', providerId: expect.stringMatching(/^SM/) });
    expect(tw.accepted.map((r) => [r.body.To, r.body.Body])).toEqual([
      [lead(2), 'Still thinking of selling, Pat?'],
      [lead(2), 'Still thinking of selling, Pat?'],
    ]);
    expect(tw.acceptedFor(m3.id)).toBe(1);
    // STOP and START are carrier keywords, not replies: the sequence went on to the end.
    await waitFor('completion', async () => (await enrollment(enr)).status === 'completed');
  });

  it('one-click unsubscribe (RFC 8058) suppresses the next email', async () => {
    const a = await stepper('Mail follow-up', 'email', 'tpl_e2e_news');
    await putRecord(e, 'seller-unsub', { name: 'Lee', email: 'lee.unsub@example.com' });
    await enroll(a.id, 'seller-unsub');
    const m1 = await finalMessage('seller-unsub', 'm1');
    expect(m1.status).toBe('sent');
    const [mail] = sg.accepted;
    const link = /^<(.+)>$/.exec(mail!.body.headers['List-Unsubscribe'])![1]!;
    expect(mail!.body.headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');

    const res = await fetch(link.replace(PUBLIC, e.t.baseUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(res.status).toBe(200);
    const record = (await e.api('GET', '/v1/records/seller-unsub')).body;
    expect(record.unsubscribed).toMatchObject({ email: true });
    await event('seller-unsub', 'e2e.next');
    const m2 = await finalMessage('seller-unsub', 'm2');
    expect(m2).toMatchObject({ status: 'suppressed', error: 'suppressed: unsubscribe link' });
    expect(sg.accepted).toHaveLength(1);
  });

  it('a hard bounce suppresses the address: the next email to it is not sent', async () => {
    const a = await stepper('Bounce follow-up', 'email', 'tpl_e2e_bounce');
    await putRecord(e, 'seller-bounce', { name: 'Kim', email: 'kim.gone@example.com' });
    await enroll(a.id, 'seller-bounce');
    const m1 = await finalMessage('seller-bounce', 'm1');
    expect(m1.status).toBe('sent');
    await sendgridEvents([
      {
        email: 'kim.gone@example.com',
        event: 'bounce',
        type: 'bounce',
        status: '5.1.1',
        reason: '550 5.1.1 The email account that you tried to reach does not exist',
        timestamp: Math.floor(Date.now() / 1000),
        sg_event_id: 'e2e_bounce_1',
        message_id: m1.id,
      },
    ]);
    expect(await finalMessage('seller-bounce', 'm1')).toMatchObject({ status: 'bounced' });
    const sup = (await e.api('GET', '/v1/suppressions?channel=email')).body.items as any[];
    expect(sup.find((s) => s.address === 'kim.gone@example.com')).toMatchObject({ channel: 'email' });
    await event('seller-bounce', 'e2e.next');
    const m2 = await finalMessage('seller-bounce', 'm2');
    expect(m2.status).toBe('suppressed');
    expect(m2.error).toMatch(/^suppressed: hard bounce/);
    expect(sg.accepted).toHaveLength(1);
  });

  it('a late delivered after opened leaves the message opened', async () => {
    const a = await createAutomation(
      e,
      { name: 'Opened', trigger: { type: 'manual' }, steps: [{ id: 'm1', type: 'email', template: 'tpl_e2e_open' }] },
      { templates: [{ id: 'tpl_e2e_open' }] },
    );
    await putRecord(e, 'seller-open', { name: 'Jo', email: 'jo.open@example.com' });
    await enroll(a.id, 'seller-open');
    const m1 = await finalMessage('seller-open', 'm1');
    expect(m1.status).toBe('sent');
    const base = { email: 'jo.open@example.com', timestamp: Math.floor(Date.now() / 1000), message_id: m1.id };
    await sendgridEvents([{ ...base, event: 'open', sg_event_id: 'e2e_open_1' }]);
    await sendgridEvents([{ ...base, event: 'delivered', sg_event_id: 'e2e_delivered_1' }]);
    expect(await finalMessage('seller-open', 'm1')).toMatchObject({ status: 'opened' });
  });
});
