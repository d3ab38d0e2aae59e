/**
 * Real delivery end to end: API -> workflow -> send activity -> the real @sendgrid/mail and
 * twilio clients -> local fake providers, and back through GET /v1/messages. Effects are counted
 * at the fakes.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { verifyUnsubscribeToken } from '#platform/unsubscribe-token';
import { fakeSendgrid, fakeTwilio, twilioError, type FakeSendgrid, type FakeTwilio } from '../helpers/fake-providers';
import { createAutomation, putRecord, startEngineTest, waitFor, type EngineTest } from './engine-support';

vi.setConfig({ testTimeout: 180_000 });

const SID = `AC${'b'.repeat(32)}`;
const PUBLIC = 'https://followup.example.com';
/** SendGrid's Signed Event Webhook key pair: the test posts the events SendGrid would. */
const EVENTS_KEY = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
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
      SENDGRID_WEBHOOK_PUBLIC_KEY: EVENTS_KEY.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
      TWILIO_ACCOUNT_SID: SID,
      TWILIO_AUTH_TOKEN: 'tw-token',
      TWILIO_API_URL: tw.url,
      PUBLIC_URL: PUBLIC,
      SEND_TIMEOUT_MS: '3000',
      SEND_CONFIRM_GRACE_MS: '3000',
    },
  });
  const ws = e.t.workspaceId;
  await e.t.db
    .insertInto('senders')
    .values([
      {
        workspace_id: ws,
        id: 'snd_mail',
        channel: 'email',
        from: 'hello@cleaning.example',
        name: 'Sparkle Cleaning',
        reply_to: 'office@cleaning.example',
        messaging_service_sid: null,
        kind: null,
        segments_per_second: null,
      },
      {
        workspace_id: ws,
        id: 'snd_sms',
        channel: 'sms',
        from: '+15005550006',
        name: null,
        reply_to: null,
        messaging_service_sid: null,
        kind: 'long_code',
        segments_per_second: null,
      },
      {
        workspace_id: ws,
        id: 'snd_voice',
        channel: 'voicemail',
        from: '+15005550007',
        name: null,
        reply_to: null,
        messaging_service_sid: null,
        kind: null,
        segments_per_second: null,
      },
    ])
    .execute();
  // Sends go out now, whatever the hour the test runs at.
  const settings = await e.api('PUT', '/v1/settings', {
    quietHours: { sms: null, voicemail: null },
    defaultSenders: { email: 'snd_mail', sms: 'snd_sms', voicemail: 'snd_voice' },
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

async function enroll(automationId: string, recordId: string): Promise<string> {
  const res = await e.api('POST', `/v1/automations/${automationId}/enrollments`, { recordId });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as string;
}

async function messagesOf(recordId: string): Promise<any[]> {
  const res = await e.api('GET', `/v1/messages?recordId=${encodeURIComponent(recordId)}`);
  expect(res.status).toBe(200);
  return res.body.items;
}

async function ended(enrollmentId: string): Promise<any> {
  return waitFor('the enrollment to end', async () => {
    const res = await e.api('GET', `/v1/enrollments/${enrollmentId}`);
    return ['completed', 'exited', 'failed'].includes(res.body.status) ? res.body : undefined;
  });
}

describe('delivery through the providers', () => {
  it('email, SMS and voicemail reach the providers once each, as the steps and senders say', async () => {
    const a = await createAutomation(
      e,
      {
        name: 'All channels',
        trigger: { type: 'manual' },
        steps: [
          { id: 'mail', type: 'email', to: 'record', template: 'tpl_d_mail' },
          { id: 'text', type: 'sms', to: 'record', template: 'tpl_d_sms' },
          { id: 'drop', type: 'voicemail', to: 'record', template: 'tpl_d_vm' },
        ],
      },
      {
        templates: [
          { id: 'tpl_d_mail', content: { subject: 'Hi {{ record.name }}', text: 'Bye: {{ unsubscribeUrl }}', html: '<p>Hi</p>' } },
          { id: 'tpl_d_sms', channel: 'sms', content: { body: 'Hi {{ record.name }}, how was it?' } },
          { id: 'tpl_d_vm', channel: 'voicemail', content: { text: 'Hi {{ record.name }}, call us back.' } },
        ],
      },
    );
    await putRecord(e, 'dlv-1', { name: 'Ana', email: 'ana@example.com', phone: '+40712345678' });
    await ended(await enroll(a.id, 'dlv-1'));

    const byChannel = Object.fromEntries((await messagesOf('dlv-1')).map((m) => [m.channel, m]));
    expect(byChannel.email).toMatchObject({
      status: 'sent',
      to: 'ana@example.com',
      subject: 'Hi Ana',
      senderId: 'snd_mail',
      providerId: expect.stringMatching(/^sg_/),
      error: null,
    });
    expect(byChannel.sms).toMatchObject({
      status: 'sent',
      body: 'Hi Ana, how was it?',
      segments: 1,
      encoding: 'GSM-7',
      senderId: 'snd_sms',
      providerId: expect.stringMatching(/^SM/),
    });
    expect(byChannel.voicemail).toMatchObject({
      status: 'sent',
      body: 'Hi Ana, call us back.',
      senderId: 'snd_voice',
      providerId: expect.stringMatching(/^CA/),
    });

    expect(sg.accepted).toHaveLength(1);
    const mail = sg.accepted[0]!.body;
    expect(mail).toMatchObject({
      personalizations: [{ to: [{ email: 'ana@example.com' }] }],
      from: { email: 'hello@cleaning.example', name: 'Sparkle Cleaning' },
      reply_to: { email: 'office@cleaning.example' },
      subject: 'Hi Ana',
      categories: [`automation:${a.id}`, 'step:mail'],
      custom_args: { message_id: byChannel.email.id },
    });
    const link = /^<(.+)>$/.exec(mail.headers['List-Unsubscribe'])![1]!;
    expect(mail.headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
    expect(link.startsWith(`${PUBLIC}/u/`)).toBe(true);
    expect(verifyUnsubscribeToken(e.config.SECRETS_KEY, link.slice(`${PUBLIC}/u/`.length))).toEqual({
      workspaceId: e.t.workspaceId,
      recordId: 'dlv-1',
      channel: 'email',
    });
    expect(mail.content[0]).toEqual({ type: 'text/plain', value: `Bye: ${link}` });

    expect(tw.accepted.map((r) => [r.path.split('/').pop(), r.body.To, r.body.From])).toEqual([
      ['Messages.json', '+40712345678', '+15005550006'],
      ['Calls.json', '+40712345678', '+15005550007'],
    ]);
    expect(tw.accepted[0]!.body.StatusCallback).toBe(`${PUBLIC}/webhooks/twilio/status?messageId=${byChannel.sms.id}`);
    expect(tw.accepted[1]!.body).toMatchObject({
      Url: `${PUBLIC}/webhooks/twilio/voice?messageId=${byChannel.voicemail.id}`,
      StatusCallback: `${PUBLIC}/webhooks/twilio/voice-status?messageId=${byChannel.voicemail.id}`,
      MachineDetection: 'DetectMessageEnd',
    });
  });

  it('an email template naming a SendGrid dynamic template sends template_id and the send context as dynamic_template_data', async () => {
    const templateId = 'd-0123456789abcdef0123456789abcdef';
    const a = await createAutomation(
      e,
      { name: 'Dynamic', trigger: { type: 'manual' }, steps: [{ id: 'mail', type: 'email', to: 'record', template: 'tpl_d_dyn' }] },
      { templates: [{ id: 'tpl_d_dyn', content: { subject: 'Hi {{ record.name }}', sendgridTemplateId: templateId } }] },
    );
    await putRecord(e, 'dlv-dyn', { name: 'Ana <b>', email: 'dyn@example.com', stage: 'won', attributes: { plan: 'gold' } });
    const enrollmentId = await enroll(a.id, 'dlv-dyn');
    await ended(enrollmentId);

    const [m] = await messagesOf('dlv-dyn');
    expect(m).toMatchObject({ status: 'sent', subject: 'Hi Ana <b>', body: null, error: null });
    expect(sg.accepted).toHaveLength(1);
    const mail = sg.accepted[0]!.body;
    const link = /^<(.+)>$/.exec(mail.headers['List-Unsubscribe'])![1]!;
    const workspace = (await e.t.db.selectFrom('workspaces').select(['id', 'name']).where('id', '=', e.t.workspaceId).executeTakeFirstOrThrow()) as {
      id: string;
      name: string;
    };
    expect(mail).toEqual({
      from: { email: 'hello@cleaning.example', name: 'Sparkle Cleaning' },
      reply_to: { email: 'office@cleaning.example' },
      template_id: templateId,
      personalizations: [
        {
          to: [{ email: 'dyn@example.com' }],
          dynamic_template_data: {
            subject: 'Hi Ana <b>',
            record: {
              externalId: 'dlv-dyn',
              name: 'Ana <b>',
              email: 'dyn@example.com',
              phone: null,
              stage: 'won',
              timezone: null,
              ownerId: null,
              attributes: { plan: 'gold' },
            },
            event: {},
            owner: {},
            workspace: { id: workspace.id, name: workspace.name, timezone: expect.any(String) },
            enrollment: { id: enrollmentId, automationId: a.id, version: 1, variant: 'A' },
            sender: { id: 'snd_mail', from: 'hello@cleaning.example', name: 'Sparkle Cleaning', replyTo: 'office@cleaning.example' },
            unsubscribeUrl: link,
          },
        },
      ],
      categories: [`automation:${a.id}`, 'step:mail'],
      custom_args: { message_id: m.id },
      headers: { 'List-Unsubscribe': `<${link}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
    });
    expect(link.startsWith(`${PUBLIC}/u/`)).toBe(true);
  });

  it('a retry storm (500 five times, then 202) is accepted once and the message is sent', async () => {
    const a = await createAutomation(
      e,
      { name: 'Storm', trigger: { type: 'manual' }, steps: [{ id: 'mail', type: 'email', to: 'record', template: 'tpl_d_storm' }] },
      { templates: [{ id: 'tpl_d_storm' }] },
    );
    await putRecord(e, 'dlv-storm', { email: 'storm@example.com' });
    const fail = { status: 500, headers: { 'retry-after': '1' }, body: { errors: [{ message: 'internal error' }] } };
    sg.script(fail, fail, fail, fail, fail);
    await ended(await enroll(a.id, 'dlv-storm'));
    const [m] = await messagesOf('dlv-storm');
    expect(sg.requests).toHaveLength(6);
    expect(sg.acceptedFor(m.id)).toBe(1);
    expect(m).toMatchObject({ status: 'sent', error: null });
  });

  it('a permanent refusal fails the step with the provider code and reason; the sequence goes on', async () => {
    const a = await createAutomation(
      e,
      {
        name: 'Refused',
        trigger: { type: 'manual' },
        steps: [
          { id: 'text', type: 'sms', to: 'record', template: 'tpl_d_refused' },
          { id: 'mail', type: 'email', to: 'record', template: 'tpl_d_after' },
        ],
      },
      { templates: [{ id: 'tpl_d_refused', channel: 'sms' }, { id: 'tpl_d_after' }] },
    );
    await putRecord(e, 'dlv-bad', { email: 'bad@example.com', phone: '+15005550001' });
    tw.script(twilioError(400, 21211, "The 'To' number +15005550001 is not a valid phone number."));
    const enr = await ended(await enroll(a.id, 'dlv-bad'));
    expect(enr.status).toBe('completed');
    const byChannel = Object.fromEntries((await messagesOf('dlv-bad')).map((m) => [m.channel, m]));
    expect(byChannel.sms).toMatchObject({
      status: 'failed',
      errorCode: '21211',
      error: "Twilio 400 (21211): The 'To' number +15005550001 is not a valid phone number.",
    });
    expect(tw.requests).toHaveLength(1);
    expect(byChannel.email).toMatchObject({ status: 'sent' });
    expect(sg.acceptedFor(byChannel.email.id)).toBe(1);
  });

  it('Twilio 21610 (the recipient replied STOP) suppresses SMS to that number: the next SMS is not sent', async () => {
    const a = await createAutomation(
      e,
      { name: 'Stopped', trigger: { type: 'manual' }, steps: [{ id: 'text', type: 'sms', to: 'record', template: 'tpl_d_stop' }] },
      {
        templates: [{ id: 'tpl_d_stop', channel: 'sms' }],
        onlyNew: true,
      },
    );
    await putRecord(e, 'dlv-stop', { phone: '+15005550009' });
    tw.script(twilioError(400, 21610, 'Attempt to send to unsubscribed recipient'));
    await ended(await enroll(a.id, 'dlv-stop'));
    const sup = await e.t.db.selectFrom('suppressions').selectAll().where('workspace_id', '=', e.t.workspaceId).where('channel', '=', 'sms').execute();
    expect(sup.map((s) => [s.address, s.source])).toEqual([['+15005550009', 'twilio']]);

    await putRecord(e, 'dlv-stop-2', { phone: '+15005550009' });
    await ended(await enroll(a.id, 'dlv-stop-2'));
    const [second] = await messagesOf('dlv-stop-2');
    expect(second).toMatchObject({ status: 'suppressed' });
    expect(tw.requests).toHaveLength(1);
    const [first] = await messagesOf('dlv-stop');
    expect(first).toMatchObject({ status: 'failed', errorCode: '21610' });
  });

  it("a workspace's default SMS sender changed while an enrollment waits: its next SMS goes out from the new number", async () => {
    await e.t.db
      .insertInto('senders')
      .values({
        workspace_id: e.t.workspaceId,
        id: 'snd_sms_new',
        channel: 'sms',
        from: '+15005550008',
        name: null,
        reply_to: null,
        messaging_service_sid: null,
        kind: 'long_code',
        segments_per_second: null,
      })
      .execute();
    const a = await createAutomation(
      e,
      {
        name: 'Sender changes',
        trigger: { type: 'manual' },
        steps: [
          { id: 'first', type: 'sms', to: 'record', template: 'tpl_d_change' },
          { id: 'hold', type: 'wait_for', event: 'dlv.go', timeout: 'P1D', onEvent: 'second', onTimeout: 'end' },
          { id: 'second', type: 'sms', to: 'record', template: 'tpl_d_change' },
        ],
      },
      { templates: [{ id: 'tpl_d_change', channel: 'sms' }] },
    );
    await putRecord(e, 'dlv-change', { phone: '+15005550010' });
    const enrollmentId = await enroll(a.id, 'dlv-change');
    await waitFor('the enrollment to wait for its event', async () => (await e.api('GET', `/v1/enrollments/${enrollmentId}`)).body.currentStep === 'hold');
    try {
      const changed = await e.api('PUT', '/v1/settings', { defaultSenders: { sms: 'snd_sms_new' } });
      expect(changed.status, JSON.stringify(changed.body)).toBe(200);
      await e.api('POST', '/v1/events', { id: 'evt-dlv-go', type: 'dlv.go', recordId: 'dlv-change' });
      await ended(enrollmentId);
    } finally {
      await e.api('PUT', '/v1/settings', { defaultSenders: { sms: 'snd_sms' } });
    }
    expect(tw.accepted.map((r) => [r.body.To, r.body.From])).toEqual([
      ['+15005550010', '+15005550006'],
      ['+15005550010', '+15005550008'],
    ]);
    const steps = (await messagesOf('dlv-change')).map((m) => [m.stepId, m.status, m.senderId]).sort();
    expect(steps).toEqual([
      ['first', 'sent', 'snd_sms'],
      ['second', 'sent', 'snd_sms_new'],
    ]);
  });

  it("SendGrid's delivered event overtaking the answer to the send: the message stays delivered, not set back to sent", async () => {
    const a = await createAutomation(
      e,
      { name: 'Early event', trigger: { type: 'manual' }, steps: [{ id: 'mail', type: 'email', to: 'record', template: 'tpl_d_early' }] },
      { templates: [{ id: 'tpl_d_early' }] },
    );
    await putRecord(e, 'dlv-early', { email: 'early@example.com' });
    sg.script({ hold: true });
    const enrollmentId = await enroll(a.id, 'dlv-early');
    const held = await sg.nextHeld();
    const messageId = held.request.body.custom_args.message_id as string;
    const body = JSON.stringify([
      {
        email: 'early@example.com',
        timestamp: Math.floor(Date.now() / 1000),
        event: 'delivered',
        sg_event_id: `sge_early_${messageId}`,
        message_id: messageId,
      },
    ]);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const posted = await fetch(`${e.t.baseUrl}/webhooks/sendgrid/events`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-twilio-email-event-webhook-timestamp': timestamp,
        'x-twilio-email-event-webhook-signature': sign('sha256', Buffer.from(timestamp + body), EVENTS_KEY.privateKey).toString('base64'),
      },
      body,
    });
    expect(posted.status).toBe(204);
    expect((await messagesOf('dlv-early'))[0]).toMatchObject({ status: 'delivered' });
    held.release();
    await ended(enrollmentId);
    const [m] = await messagesOf('dlv-early');
    expect(m).toMatchObject({ status: 'delivered', providerId: expect.stringMatching(/^sg_/), sentAt: expect.any(String) });
    expect(sg.accepted).toHaveLength(1);
  });

  // Last: the workspace keeps its own key from here on.
  it("a workspace's own SendGrid key (PUT /v1/providers/sendgrid) is stored sealed, never shown, and used for its sends", async () => {
    const bad = await e.api('PUT', '/v1/providers/sendgrid', { apiKey: 'not-a-key' });
    expect(bad.status).toBe(400);
    expect(bad.body.field).toBe('/body/apiKey');
    const put = await e.api('PUT', '/v1/providers/sendgrid', { apiKey: 'SG.workspace-own-key' });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ sendgrid: { set: true, updatedAt: expect.any(String) }, twilio: { set: false, updatedAt: null } });
    const read = await e.api('GET', '/v1/providers');
    expect(JSON.stringify(read.body)).not.toContain('SG.workspace-own-key');
    const [row] = await e.t.db.selectFrom('provider_credentials').selectAll().where('workspace_id', '=', e.t.workspaceId).execute();
    expect(row!.sealed).not.toContain('workspace-own-key');

    const a = await createAutomation(
      e,
      { name: 'Own key', trigger: { type: 'manual' }, steps: [{ id: 'mail', type: 'email', to: 'record', template: 'tpl_d_own' }] },
      { templates: [{ id: 'tpl_d_own' }] },
    );
    await putRecord(e, 'dlv-own', { email: 'own@example.com' });
    await ended(await enroll(a.id, 'dlv-own'));
    const [m] = await messagesOf('dlv-own');
    expect(m).toMatchObject({ status: 'sent' });
    expect(sg.accepted.map((r) => r.headers.authorization)).toEqual(['Bearer SG.workspace-own-key']);
  });
});
