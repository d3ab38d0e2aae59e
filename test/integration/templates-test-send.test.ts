/**
 * POST /v1/templates/{id}/test-send through the API and the worker: one real send to the fake
 * SendGrid / Twilio servers the real SDKs talk to, marked `test` and left out of the statistics.
 * A provider that is down answers 202 with the message still `queued` and the provider's error
 * (the send keeps retrying); a repeat with the same requestId finds it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { fakeSendgrid, fakeTwilio, type FakeSendgrid, type FakeTwilio } from '../helpers/fake-providers';
import { putRecord, startEngineTest, type EngineTest } from './engine-support';

vi.setConfig({ testTimeout: 120_000 });

let e: EngineTest;
let sg: FakeSendgrid;
let tw: FakeTwilio;
const SID = `AC${'e'.repeat(32)}`;
const PUBLIC = 'https://followup.example.com';
/** Numbers of this run only (rate limiters are keyed by the sending number). */
const run = String(Date.now() % 10_000).padStart(4, '0');
const SMS_FROM = `+1500571${run}`;
const VOICE_FROM = `+1500572${run}`;

beforeAll(async () => {
  sg = await fakeSendgrid();
  tw = await fakeTwilio();
  e = await startEngineTest({
    env: {
      SENDGRID_API_KEY: 'SG.test-send',
      SENDGRID_API_URL: sg.url,
      TWILIO_ACCOUNT_SID: SID,
      TWILIO_AUTH_TOKEN: 'tw-test-send',
      TWILIO_API_URL: tw.url,
      PUBLIC_URL: PUBLIC,
    },
  });
  for (const body of [
    { id: 'snd_ts_sms', channel: 'sms', from: SMS_FROM, kind: 'long_code' },
    { id: 'snd_ts_voice', channel: 'voicemail', from: VOICE_FROM },
  ]) {
    const res = await e.api('POST', '/v1/senders', body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  }
  for (const body of [
    { id: 'tpl_ts_sms', name: 'Reminder', channel: 'sms', content: { body: 'Hi {{ record.name }}, see you tomorrow.' } },
    { id: 'tpl_ts_vm', name: 'Drop', channel: 'voicemail', content: { text: 'Hello {{ record.name }}, this is Sparkle.' } },
  ]) {
    const res = await e.api('POST', '/v1/templates', body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  }
  const sender = await e.api('POST', '/v1/senders', { id: 'snd_ts_mail', channel: 'email', from: 'hello@sparkle.example', name: 'Sparkle Cleaning' });
  expect(sender.status, JSON.stringify(sender.body)).toBe(201);
  const tpl = await e.api('POST', '/v1/templates', {
    id: 'tpl_ts_mail',
    name: 'Welcome',
    channel: 'email',
    content: { subject: 'Welcome, {{ record.name }}', text: 'Hi {{ record.name }}, from {{ sender.name }}.' },
  });
  expect(tpl.status, JSON.stringify(tpl.body)).toBe(201);
  await putRecord(e, 'ts-rec-1', { name: 'Ana Pop', email: 'ana@example.com' });
});
afterAll(async () => {
  await e?.close();
});
afterEach(() => {
  sg.reset();
  tw.reset();
});

describe('POST /v1/templates/{id}/test-send', () => {
  it("sends once with the record's fields, marked test, not counted in statistics; the same requestId sends nothing again", async () => {
    const res = await e.api('POST', '/v1/templates/tpl_ts_mail/test-send', { to: 'owner@sparkle.example', recordId: 'ts-rec-1', requestId: 'ts-1' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ channel: 'email', to: 'owner@sparkle.example', status: 'sent', subject: 'Welcome, Ana Pop', enrollmentId: null });

    expect(sg.acceptedFor(res.body.id)).toBe(1);
    expect(sg.accepted).toHaveLength(1);
    const mail = sg.accepted[0]!.body;
    expect(mail.personalizations[0].to).toEqual([{ email: 'owner@sparkle.example' }]);
    expect(mail.subject).toBe('Welcome, Ana Pop');
    expect(mail.content).toEqual([{ type: 'text/plain', value: 'Hi Ana Pop, from Sparkle Cleaning.' }]);
    // No enrollment, automation or step: no categories, only our message id for the status webhooks.
    expect(mail.categories).toBeUndefined();
    expect(mail.custom_args).toEqual({ message_id: res.body.id });

    const row = await e.t.db
      .selectFrom('messages')
      .select(['test', 'status', 'enrollment_id', 'automation_id', 'step_id', 'record_id'])
      .where('id', '=', res.body.id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ test: true, status: 'sent', enrollment_id: null, automation_id: null, step_id: null, record_id: 'ts-rec-1' });

    const again = await e.api('POST', '/v1/templates/tpl_ts_mail/test-send', { to: 'owner@sparkle.example', recordId: 'ts-rec-1', requestId: 'ts-1' });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(res.body.id);
    expect(sg.accepted).toHaveLength(1);

    const stats = await e.api('GET', '/v1/stats');
    expect(stats.status, JSON.stringify(stats.body)).toBe(200);
    expect(stats.body.messages.total.sent).toBe(0);
  });

  it('an SMS and a voicemail test send reach the fake Twilio once, from the sender, with the callback URLs', async () => {
    const sms = await e.api('POST', '/v1/templates/tpl_ts_sms/test-send', { to: '+40712340001', recordId: 'ts-rec-1' });
    expect(sms.status, JSON.stringify(sms.body)).toBe(200);
    expect(sms.body).toMatchObject({ channel: 'sms', to: '+40712340001', status: 'sent', body: 'Hi Ana Pop, see you tomorrow.', segments: 1 });
    const vm = await e.api('POST', '/v1/templates/tpl_ts_vm/test-send', { to: '+40712340002', recordId: 'ts-rec-1' });
    expect(vm.status, JSON.stringify(vm.body)).toBe(200);
    expect(vm.body).toMatchObject({ channel: 'voicemail', to: '+40712340002', status: 'sent', body: 'Hello Ana Pop, this is Sparkle.' });

    expect(tw.acceptedFor(sms.body.id)).toBe(1);
    expect(tw.acceptedFor(vm.body.id)).toBe(1);
    expect(tw.accepted.map((r) => [r.path, r.body.To, r.body.From])).toEqual([
      [`/2010-04-01/Accounts/${SID}/Messages.json`, '+40712340001', SMS_FROM],
      [`/2010-04-01/Accounts/${SID}/Calls.json`, '+40712340002', VOICE_FROM],
    ]);
    expect(tw.accepted[0]!.body).toMatchObject({
      Body: 'Hi Ana Pop, see you tomorrow.',
      StatusCallback: `${PUBLIC}/webhooks/twilio/status?messageId=${sms.body.id}`,
    });
    expect(tw.accepted[1]!.body).toMatchObject({
      Url: `${PUBLIC}/webhooks/twilio/voice?messageId=${vm.body.id}`,
      StatusCallback: `${PUBLIC}/webhooks/twilio/voice-status?messageId=${vm.body.id}`,
      MachineDetection: 'DetectMessageEnd',
    });
    const rows = await e.t.db.selectFrom('messages').select(['test']).where('id', 'in', [sms.body.id, vm.body.id]).execute();
    expect(rows).toEqual([{ test: true }, { test: true }]);
  });

  it('an SMS to a number Twilio refuses (21211) answers 200 with the message failed and the code', async () => {
    tw.script({ status: 400, body: { code: 21211, message: "The 'To' number +40712340003 is not a valid phone number.", status: 400 } });
    const res = await e.api('POST', '/v1/templates/tpl_ts_sms/test-send', { to: '+40712340003' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({
      status: 'failed',
      errorCode: '21211',
      error: "Twilio 400 (21211): The 'To' number +40712340003 is not a valid phone number.",
    });
    expect(tw.requests).toHaveLength(1);
    expect(tw.acceptedFor(res.body.id)).toBe(0);
  });

  it('refuses a bad address with its pointer, an unknown record and an unknown template, and sends nothing', async () => {
    const bad = await e.api('POST', '/v1/templates/tpl_ts_mail/test-send', { to: '+40712345678' });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([{ field: '/body/to', message: 'must be an email address' }]);

    const noRecord = await e.api('POST', '/v1/templates/tpl_ts_mail/test-send', { to: 'owner@sparkle.example', recordId: 'ts-nobody' });
    expect(noRecord.status).toBe(404);
    expect(noRecord.body).toMatchObject({ field: '/body/recordId', detail: 'record ts-nobody does not exist' });

    const noTemplate = await e.api('POST', '/v1/templates/tpl_ts_none/test-send', { to: 'owner@sparkle.example' });
    expect(noTemplate.status).toBe(404);

    expect(sg.requests).toHaveLength(0);
    const rows = await e.t.db.selectFrom('messages').select('id').where('workspace_id', '=', e.t.workspaceId).where('to', '=', '+40712345678').execute();
    expect(rows).toEqual([]);
  });

  // Last: the send keeps retrying after the test and is accepted once the fake is reset.
  it('SendGrid down (500 with Retry-After): 202 after the wait with the message queued and the provider error; the same requestId finds it', async () => {
    const down = { status: 500, headers: { 'retry-after': '30' }, body: { errors: [{ message: 'internal error' }] } };
    sg.script(down, down, down);
    const res = await e.api('POST', '/v1/templates/tpl_ts_mail/test-send', { to: 'owner@sparkle.example', requestId: 'ts-down' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toMatchObject({ status: 'queued', error: 'SendGrid 500: internal error', errorCode: '500' });
    expect(sg.acceptedFor(res.body.id)).toBe(0);
    const again = await e.api('POST', '/v1/templates/tpl_ts_mail/test-send', { to: 'owner@sparkle.example', requestId: 'ts-down' });
    expect(again.body.id).toBe(res.body.id);
  });
});
