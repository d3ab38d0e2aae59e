/**
 * Provider webhooks against a real PostgreSQL, with keys generated here: a Twilio auth token
 * (HMAC-SHA1 signatures computed below, independently of the twilio package), a SendGrid ECDSA
 * P-256 key pair, and an Inbound Parse account. Every rejected request leaves every table of the
 * workspace unchanged; a replayed one changes nothing.
 */
import { createHmac, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest, startTestApp, unchangedAfter, type TestApp } from '../helpers/app';
import { rotateInboundParseAccount } from '#db/inbound-parse';

const PUBLIC_URL = 'https://fu.example.test';
const TWILIO_TOKEN = randomBytes(16).toString('hex');
const sendgrid = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const SENDGRID_PUBLIC = sendgrid.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
/** Numbers of this run only (other files' senders share the test database). */
const run = String(Date.now()).slice(-6);
const number = (n: number) => `+1555${n}${run}`;
const OUR_NUMBER = number(1);

let t: TestApp;

/** Twilio's algorithm: HMAC-SHA1 over the URL, then each sorted parameter name and value, base64. */
function twilioSignature(token: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, k) => acc + k + params[k], url);
  return createHmac('sha1', token).update(data).digest('base64');
}

function postTwilio(path: string, params: Record<string, string>, opts: { token?: string | null; body?: Record<string, string> } = {}) {
  const headers: Record<string, string> = {};
  if (opts.token !== null) headers['x-twilio-signature'] = twilioSignature(opts.token ?? TWILIO_TOKEN, PUBLIC_URL + path, params);
  return rawRequest(t, 'POST', path, {
    key: null,
    contentType: 'application/x-www-form-urlencoded',
    body: new URLSearchParams(opts.body ?? params).toString(),
    headers,
  });
}

function postSendGrid(body: string, opts: { key?: KeyObject; timestamp?: number; signedBody?: string; headers?: boolean; query?: string } = {}) {
  const ts = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
  const signature = sign('sha256', Buffer.from(ts + (opts.signedBody ?? body)), opts.key ?? sendgrid.privateKey).toString('base64');
  const headers: Record<string, string> =
    opts.headers === false ? {} : { 'x-twilio-email-event-webhook-signature': signature, 'x-twilio-email-event-webhook-timestamp': ts };
  return rawRequest(t, 'POST', `/webhooks/sendgrid/events${opts.query ?? ''}`, { key: null, body, headers });
}

async function message(id: string, channel: 'email' | 'sms' | 'voicemail', to: string, status: 'sent' | 'delivered' = 'sent') {
  await t.db
    .insertInto('messages')
    .values({
      id,
      workspace_id: t.workspaceId,
      idempotency_key: `k_${id}`,
      automation_id: 'aut_a',
      step_id: 's1',
      record_id: 'lead-1',
      channel,
      to,
      status,
      body: channel === 'voicemail' ? 'Hi Ana, call us back.' : 'Hi',
      created_at: new Date(),
    })
    .execute();
}

const statusOf = async (id: string) => await t.db.selectFrom('messages').select(['status', 'error', 'outcome']).where('id', '=', id).executeTakeFirstOrThrow();
const eventsOf = async (id: string) =>
  t.db.selectFrom('message_events').select(['type', 'url', 'bounce_type', 'code']).where('message_id', '=', id).orderBy('id').execute();

beforeAll(async () => {
  t = await startTestApp({
    config: { PUBLIC_URL, TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`, TWILIO_AUTH_TOKEN: TWILIO_TOKEN, SENDGRID_WEBHOOK_PUBLIC_KEY: SENDGRID_PUBLIC },
  });
  await t.client.PUT('/v1/records/{externalId}', {
    params: { path: { externalId: 'lead-1' } },
    body: { name: 'Ana', email: 'ana@example.com', phone: '+40712345678' },
  });
  const sender = await t.client.POST('/v1/senders', { body: { id: 'snd_ours', channel: 'sms', from: OUR_NUMBER, kind: 'long_code' } });
  expect(sender.response.status).toBe(201);
});
afterAll(async () => {
  await t?.close();
});

describe('POST /webhooks/twilio/status', () => {
  it('stores a signed status once; a replay changes nothing', async () => {
    await message('msg_tw1', 'sms', '+40712345678');
    const path = '/webhooks/twilio/status?messageId=msg_tw1';
    const params = { MessageSid: 'SM1', MessageStatus: 'delivered', AccountSid: `AC${'a'.repeat(32)}` };
    expect((await postTwilio(path, params)).status).toBe(204);
    expect(await statusOf('msg_tw1')).toMatchObject({ status: 'delivered' });
    expect(await eventsOf('msg_tw1')).toEqual([{ type: 'delivered', url: null, bounce_type: null, code: null }]);
    expect((await unchangedAfter(t, () => postTwilio(path, params))).status).toBe(204);
  });

  it('records the carrier code of an undelivered message', async () => {
    await message('msg_tw2', 'sms', '+40700000002');
    const res = await postTwilio('/webhooks/twilio/status?messageId=msg_tw2', {
      MessageSid: 'SM2',
      MessageStatus: 'undelivered',
      ErrorCode: '30006',
      ErrorMessage: 'Landline or unreachable carrier',
    });
    expect(res.status).toBe(204);
    expect(await statusOf('msg_tw2')).toMatchObject({ status: 'failed', error: 'undelivered (30006): Landline or unreachable carrier' });
    expect(await eventsOf('msg_tw2')).toEqual([{ type: 'undelivered', url: null, bounce_type: null, code: '30006' }]);
  });

  it('refuses a missing signature (401), a wrong key or a tampered body (403), storing nothing', async () => {
    await message('msg_tw3', 'sms', '+40700000003');
    const path = '/webhooks/twilio/status?messageId=msg_tw3';
    const params = { MessageSid: 'SM3', MessageStatus: 'delivered' };
    const missing = await unchangedAfter(t, () => postTwilio(path, params, { token: null }));
    expect(missing.status).toBe(401);
    expect(missing.body).toMatchObject({ status: 401, detail: 'missing x-twilio-signature', field: '/headers/x-twilio-signature' });
    const wrongToken = await unchangedAfter(t, () => postTwilio(path, params, { token: randomBytes(16).toString('hex') }));
    expect(wrongToken.body).toMatchObject({ status: 403, detail: 'X-Twilio-Signature does not match', field: '/headers/x-twilio-signature' });
    expect((await unchangedAfter(t, () => postTwilio(path, params, { body: { ...params, MessageStatus: 'failed' } }))).status).toBe(403);
    // Signed for another message: the URL is part of what Twilio signs.
    const other = await unchangedAfter(t, () =>
      rawRequest(t, 'POST', path, {
        key: null,
        contentType: 'application/x-www-form-urlencoded',
        body: new URLSearchParams(params).toString(),
        headers: { 'x-twilio-signature': twilioSignature(TWILIO_TOKEN, `${PUBLIC_URL}/webhooks/twilio/status?messageId=msg_tw1`, params) },
      }),
    );
    expect(other.status).toBe(403);
    expect(await statusOf('msg_tw3')).toMatchObject({ status: 'sent' });
  });
});

describe('POST /webhooks/twilio/voice and voice-status', () => {
  it('leaves the message on a machine, hangs up on a person, stores the outcome', async () => {
    await message('msg_vm1', 'voicemail', '+40712345678');
    const machine = await postTwilio('/webhooks/twilio/voice?messageId=msg_vm1', { CallSid: 'CA1', AnsweredBy: 'machine_end_beep' });
    expect(machine.status).toBe(200);
    expect(machine.headers.get('content-type')).toMatch(/^text\/xml/);
    expect(machine.body).toBe('<?xml version="1.0" encoding="UTF-8"?><Response><Say>Hi Ana, call us back.</Say><Hangup/></Response>');
    const human = await postTwilio('/webhooks/twilio/voice?messageId=msg_vm1', { CallSid: 'CA1', AnsweredBy: 'human' });
    expect(human.body).toBe('<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>');
    expect((await postTwilio('/webhooks/twilio/voice?messageId=msg_vm1', { CallSid: 'CA1', AnsweredBy: 'machine_end_beep' }, { token: 'wrong' })).status).toBe(
      403,
    );

    const done = { CallSid: 'CA1', CallStatus: 'completed', AnsweredBy: 'machine_end_beep' };
    expect((await postTwilio('/webhooks/twilio/voice-status?messageId=msg_vm1', done)).status).toBe(204);
    expect(await statusOf('msg_vm1')).toMatchObject({ status: 'delivered', outcome: 'voicemail_left' });
  });
});

describe('POST /webhooks/sendgrid/events', () => {
  const batch = (id: string, events: Array<Record<string, unknown>>) =>
    JSON.stringify(
      events.map((e, i) => ({ email: 'ana@example.com', timestamp: Math.floor(Date.now() / 1000), sg_event_id: `${id}_${i}`, message_id: id, ...e })),
    );

  it('applies delivered, open and click (with the URL); a late delivered leaves opened; a replay changes nothing', async () => {
    await message('msg_sg1', 'email', 'ana@example.com');
    const body = batch('msg_sg1', [{ event: 'processed' }, { event: 'open' }, { event: 'click', url: 'https://example.com/book' }]);
    expect((await postSendGrid(body)).status).toBe(204);
    expect(await statusOf('msg_sg1')).toMatchObject({ status: 'clicked' });
    expect((await unchangedAfter(t, () => postSendGrid(body))).status).toBe(204);

    await message('msg_sg2', 'email', 'ana@example.com');
    expect((await postSendGrid(batch('msg_sg2', [{ event: 'open' }]))).status).toBe(204);
    expect((await postSendGrid(batch('msg_sg2x', [{ event: 'delivered', message_id: 'msg_sg2' }]))).status).toBe(204);
    expect(await statusOf('msg_sg2')).toMatchObject({ status: 'opened' });
    expect((await eventsOf('msg_sg2')).map((e) => e.type)).toEqual(['opened', 'delivered']);
    expect(await eventsOf('msg_sg1')).toEqual([
      { type: 'processed', url: null, bounce_type: null, code: null },
      { type: 'opened', url: null, bounce_type: null, code: null },
      { type: 'clicked', url: 'https://example.com/book', bounce_type: null, code: null },
    ]);
  });

  it('refuses a missing signature, a tampered body, another key and a stale timestamp, storing nothing', async () => {
    await message('msg_sg3', 'email', 'ana@example.com');
    const body = batch('msg_sg3', [{ event: 'delivered' }]);
    const missing = await unchangedAfter(t, () => postSendGrid(body, { headers: false }));
    expect(missing.body).toMatchObject({
      status: 401,
      detail: 'missing x-twilio-email-event-webhook-signature',
      field: '/headers/x-twilio-email-event-webhook-signature',
    });
    const tampered = await unchangedAfter(t, () => postSendGrid(body.replace('delivered', 'bounce'), { signedBody: body }));
    expect(tampered.body).toMatchObject({ status: 403, detail: 'signature does not match', field: '/headers/x-twilio-email-event-webhook-signature' });
    const stranger = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    expect((await unchangedAfter(t, () => postSendGrid(body, { key: stranger.privateKey }))).status).toBe(403);
    const stale = await unchangedAfter(t, () => postSendGrid(body, { timestamp: Math.floor(Date.now() / 1000) - 301 }));
    expect(stale.status).toBe(403);
    expect(stale.body).toMatchObject({
      detail: 'timestamp is more than 300 s away from now',
      field: '/headers/x-twilio-email-event-webhook-timestamp',
    });
    expect(await statusOf('msg_sg3')).toMatchObject({ status: 'sent' });
  });

  it("a workspace's own SendGrid account: its events verify with its key and change only its messages", async () => {
    const own = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const b = await t.otherWorkspace();
    const clientB = t.clientWith(b.apiKey);
    const bad = await clientB.PUT('/v1/providers/sendgrid', { body: { apiKey: 'SG.workspace-b-key', webhookPublicKey: 'A'.repeat(60) } });
    expect(bad.response.status).toBe(400);
    expect(bad.error).toMatchObject({ field: '/body/webhookPublicKey' });
    const put = await clientB.PUT('/v1/providers/sendgrid', {
      body: { apiKey: 'SG.workspace-b-key', webhookPublicKey: own.publicKey.export({ type: 'spki', format: 'der' }).toString('base64') },
    });
    expect(put.response.status).toBe(200);
    await t.db
      .insertInto('messages')
      .values({
        id: 'msg_sg_b',
        workspace_id: b.workspaceId,
        idempotency_key: 'k_msg_sg_b',
        channel: 'email',
        to: 'bea@example.com',
        status: 'sent',
        created_at: new Date(),
      })
      .execute();
    await message('msg_sg_a', 'email', 'ana@example.com');
    const query = `?workspace=${b.workspaceId}`;

    const bodyB = batch('msg_sg_b', [{ event: 'delivered' }]);
    // signed by B's key: refused where the service-wide key is expected, taken at B's URL
    expect((await unchangedAfter(t, () => postSendGrid(bodyB, { key: own.privateKey }))).status).toBe(403);
    expect((await unchangedAfter(t, () => postSendGrid(bodyB, { query }))).status).toBe(403);
    expect((await postSendGrid(bodyB, { key: own.privateKey, query })).status).toBe(204);
    expect(await statusOf('msg_sg_b')).toMatchObject({ status: 'delivered' });

    // B's key cannot speak for A's messages
    expect((await postSendGrid(batch('msg_sg_a', [{ event: 'bounce', type: 'bounce', status: '5.1.1' }]), { key: own.privateKey, query })).status).toBe(204);
    expect(await statusOf('msg_sg_a')).toMatchObject({ status: 'sent' });
    expect(await eventsOf('msg_sg_a')).toEqual([]);
  });

  it('a hard bounce marks the message and suppresses the address', async () => {
    await message('msg_sg4', 'email', 'Bounce@Example.com');
    const res = await postSendGrid(batch('msg_sg4', [{ event: 'bounce', type: 'bounce', status: '5.1.1', reason: 'mailbox does not exist' }]));
    expect(res.status).toBe(204);
    expect(await statusOf('msg_sg4')).toMatchObject({ status: 'bounced', error: 'hard bounce (5.1.1): mailbox does not exist' });
    expect(await eventsOf('msg_sg4')).toEqual([{ type: 'bounced', url: null, bounce_type: 'hard', code: '5.1.1' }]);
    const row = await t.db
      .selectFrom('suppressions')
      .selectAll()
      .where('workspace_id', '=', t.workspaceId)
      .where('address', '=', 'bounce@example.com')
      .executeTakeFirst();
    expect(row).toMatchObject({ channel: 'email', source: 'bounce', reason: 'hard bounce: mailbox does not exist' });
  });
});

describe('POST /webhooks/twilio/sms', () => {
  it('a reply from a known number becomes a message.replied event for its record, once', async () => {
    await message('msg_sms_r', 'sms', '+40712345678');
    const params = { MessageSid: 'SMreply1', From: '+40712345678', To: OUR_NUMBER, Body: 'Yes, call me tomorrow' };
    const path = '/webhooks/twilio/sms';
    const res = await postTwilio(path, params);
    expect(res.status).toBe(200);
    expect(res.body).toBe('<?xml version="1.0" encoding="UTF-8"?><Response/>');
    const events = await t.db
      .selectFrom('events')
      .select(['id', 'type', 'record_id', 'properties'])
      .where('workspace_id', '=', t.workspaceId)
      .where('type', '=', 'message.replied')
      .execute();
    expect(events).toEqual([
      {
        id: 'reply_sms_SMreply1',
        type: 'message.replied',
        record_id: 'lead-1',
        properties: { channel: 'sms', text: 'Yes, call me tomorrow', from: '+40712345678', to: OUR_NUMBER, messageId: 'msg_sms_r' },
      },
    ]);
    expect((await unchangedAfter(t, () => postTwilio(path, params))).status).toBe(200);
  });

  it('an unknown sender is stored without an event; an unsigned one is refused', async () => {
    const params = { MessageSid: 'SMunknown', From: '+19998887777', To: OUR_NUMBER, Body: 'who is this?' };
    const path = '/webhooks/twilio/sms';
    expect((await unchangedAfter(t, () => postTwilio(path, params, { token: null }))).status).toBe(401);
    expect((await unchangedAfter(t, () => postTwilio(path, params, { token: 'nope' }))).status).toBe(403);
    expect((await postTwilio(path, params)).status).toBe(200);
    const stored = await t.db.selectFrom('inbound_messages').select(['from', 'text', 'record_id', 'event_id']).where('provider_id', '=', 'SMunknown').execute();
    expect(stored).toEqual([{ from: '+19998887777', text: 'who is this?', record_id: null, event_id: null }]);
  });
});

describe('which record a reply belongs to', () => {
  it('two records share a phone: a reply goes to the one last messaged from the number that received it', async () => {
    const shared = '+40712300777';
    for (const externalId of ['lead-shared-a', 'lead-shared-b']) {
      await t.client.PUT('/v1/records/{externalId}', { params: { path: { externalId } }, body: { name: externalId, phone: shared } });
    }
    const other = await t.client.POST('/v1/senders', { body: { id: 'snd_other', channel: 'sms', from: number(2), kind: 'long_code' } });
    expect(other.response.status).toBe(201);
    // a was texted from our number yesterday, b from the other number an hour ago (b is the newest overall)
    const sent = (id: string, recordId: string, senderId: string, ago: number) => ({
      id,
      workspace_id: t.workspaceId,
      idempotency_key: `k_${id}`,
      record_id: recordId,
      sender_id: senderId,
      channel: 'sms',
      to: shared,
      status: 'delivered' as const,
      body: 'Hi',
      created_at: new Date(Date.now() - ago),
    });
    await t.db
      .insertInto('messages')
      .values([sent('msg_shared_a', 'lead-shared-a', 'snd_ours', 86_400_000), sent('msg_shared_b', 'lead-shared-b', 'snd_other', 3_600_000)])
      .execute();

    expect((await postTwilio('/webhooks/twilio/sms', { MessageSid: 'SMsharedA', From: shared, To: OUR_NUMBER, Body: 'for a' })).status).toBe(200);
    expect((await postTwilio('/webhooks/twilio/sms', { MessageSid: 'SMsharedB', From: shared, To: number(2), Body: 'for b' })).status).toBe(200);
    const replies = await t.db
      .selectFrom('events')
      .select(['record_id', 'properties'])
      .where('workspace_id', '=', t.workspaceId)
      .where('id', 'in', ['reply_sms_SMsharedA', 'reply_sms_SMsharedB'])
      .orderBy('id')
      .execute();
    expect(replies.map((r) => [r.record_id, (r.properties as { messageId: string }).messageId])).toEqual([
      ['lead-shared-a', 'msg_shared_a'],
      ['lead-shared-b', 'msg_shared_b'],
    ]);
  });
});

describe('the account that owns the number', () => {
  const SID_B = `AC${'b'.repeat(32)}`;
  const TOKEN_B = randomBytes(16).toString('hex');
  const sms = (to: string, sid: string, extra: Record<string, string> = {}) => ({ MessageSid: sid, From: '+40712345678', To: to, Body: 'hello', ...extra });
  const inboundOf = (workspaceId: string, sid: string) =>
    t.db.selectFrom('inbound_messages').select(['workspace_id', 'to', 'text']).where('workspace_id', '=', workspaceId).where('provider_id', '=', sid).execute();

  it("a workspace with its own Twilio account: its number's texts and its messages' callbacks verify with its token, not the service-wide one", async () => {
    const b = await t.otherWorkspace();
    const clientB = t.clientWith(b.apiKey);
    expect((await clientB.PUT('/v1/providers/twilio', { body: { accountSid: SID_B, authToken: TOKEN_B } })).response.status).toBe(200);
    const numberB = number(2);
    expect((await clientB.POST('/v1/senders', { body: { channel: 'sms', from: numberB, kind: 'long_code' } })).response.status).toBe(201);
    const asB = { t: { db: t.db, workspaceId: b.workspaceId } };

    // The service-wide token naming B's account, or B's token for A's number: refused, nothing stored anywhere.
    const forged = await unchangedAfter(asB.t, () => postTwilio('/webhooks/twilio/sms', sms(numberB, 'SMb1', { AccountSid: SID_B })));
    expect(forged.status).toBe(403);
    const wrongNumber = await unchangedAfter(t, () => postTwilio('/webhooks/twilio/sms', sms(OUR_NUMBER, 'SMb2', { AccountSid: SID_B }), { token: TOKEN_B }));
    expect(wrongNumber.status).toBe(403);

    const ok = await postTwilio('/webhooks/twilio/sms', sms(numberB, 'SMb3', { AccountSid: SID_B }), { token: TOKEN_B });
    expect(ok.status).toBe(200);
    expect(await inboundOf(b.workspaceId, 'SMb3')).toEqual([{ workspace_id: b.workspaceId, to: numberB, text: 'hello' }]);
    expect(await inboundOf(t.workspaceId, 'SMb3')).toEqual([]);

    // A callback about B's message: B's account signs it.
    await t.db
      .insertInto('messages')
      .values({
        id: 'msg_b1',
        workspace_id: b.workspaceId,
        idempotency_key: 'k_msg_b1',
        automation_id: 'aut_b',
        step_id: 's1',
        record_id: 'lead-b',
        channel: 'sms',
        to: '+40712345678',
        status: 'sent',
        body: 'Hi',
        created_at: new Date(),
      })
      .execute();
    const path = '/webhooks/twilio/status?messageId=msg_b1';
    const status = { MessageSid: 'SMb4', MessageStatus: 'delivered', AccountSid: SID_B };
    expect((await unchangedAfter(asB.t, () => postTwilio(path, status))).status).toBe(403);
    expect((await postTwilio(path, status, { token: TOKEN_B })).status).toBe(204);
    const row = await t.db.selectFrom('messages').select('status').where('id', '=', 'msg_b1').executeTakeFirstOrThrow();
    expect(row.status).toBe('delivered');
  });

  it('a text to a number no workspace has is verified with the service-wide token and stored nowhere', async () => {
    const nobody = number(3);
    expect((await postTwilio('/webhooks/twilio/sms', sms(nobody, 'SMnobody'), { token: null })).status).toBe(401);
    expect((await postTwilio('/webhooks/twilio/sms', sms(nobody, 'SMnobody'), { token: 'not-the-token' })).status).toBe(403);
    const res = await postTwilio('/webhooks/twilio/sms', sms(nobody, 'SMnobody'));
    expect(res.status).toBe(200);
    expect(res.body).toBe('<?xml version="1.0" encoding="UTF-8"?><Response/>');
    expect(await t.db.selectFrom('inbound_messages').select('id').where('to', '=', nobody).execute()).toEqual([]);
  });

  it('a number two workspaces have goes to the one that last texted the sender from it', async () => {
    const shared = number(4);
    const c = await t.otherWorkspace();
    const d = await t.otherWorkspace();
    for (const ws of [c, d]) {
      expect(
        (await t.clientWith(ws.apiKey).POST('/v1/senders', { body: { id: 'snd_shared', channel: 'sms', from: shared, kind: 'long_code' } })).response.status,
      ).toBe(201);
    }
    await t.db
      .insertInto('messages')
      .values({
        id: 'msg_c1',
        workspace_id: c.workspaceId,
        idempotency_key: 'k_msg_c1',
        automation_id: 'aut_c',
        step_id: 's1',
        record_id: 'lead-c',
        channel: 'sms',
        to: '+40799999999',
        sender_id: 'snd_shared',
        status: 'sent',
        body: 'Hi',
        created_at: new Date(),
      })
      .execute();
    expect((await postTwilio('/webhooks/twilio/sms', sms(shared, 'SMshared', { From: '+40799999999' }))).status).toBe(200);
    expect(await inboundOf(c.workspaceId, 'SMshared')).toHaveLength(1);
    expect(await inboundOf(d.workspaceId, 'SMshared')).toEqual([]);
  });
});

describe('POST /webhooks/sendgrid/inbound/{secret}', () => {
  function parseBody(fields: Record<string, string>) {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    return new Response(form);
  }
  async function postInbound(secret: string, auth: string | null, fields: Record<string, string>) {
    const res = parseBody(fields);
    const body = Buffer.from(await res.arrayBuffer());
    const headers: Record<string, string> = auth === null ? {} : { authorization: `Basic ${Buffer.from(auth).toString('base64')}` };
    return rawRequest(t, 'POST', `/webhooks/sendgrid/inbound/${secret}`, { key: null, body, contentType: res.headers.get('content-type')!, headers });
  }

  it('stores a reply with the right secret and credentials and refuses anything else', async () => {
    await message('msg_em_r', 'email', 'ana@example.com');
    const account = await rotateInboundParseAccount(t.db, t.workspaceId);
    const fields = {
      from: 'Ana Pop <Ana@Example.com>',
      to: 'replies@fu.example.test',
      subject: 'Re: your visit',
      text: 'Tuesday works.\n\nOn Mon, Nov 30, 2026 Followup wrote:\n> How was it?',
      headers: 'Message-ID: <abc@mail.example.com>\nSubject: Re: your visit',
    };
    const good = `${account.username}:${account.password}`;
    expect((await unchangedAfter(t, () => postInbound(account.pathSecret, null, fields))).status).toBe(401);
    expect((await unchangedAfter(t, () => postInbound(account.pathSecret, `${account.username}:wrong`, fields))).status).toBe(403);
    expect((await unchangedAfter(t, () => postInbound('not-the-secret', good, fields))).status).toBe(403);

    expect((await postInbound(account.pathSecret, good, fields)).status).toBe(204);
    const events = await t.db
      .selectFrom('events')
      .select(['record_id', 'properties'])
      .where('workspace_id', '=', t.workspaceId)
      .where('id', '=', 'reply_email_<abc@mail.example.com>')
      .execute();
    expect(events).toEqual([
      {
        record_id: 'lead-1',
        properties: { channel: 'email', text: 'Tuesday works.', from: 'ana@example.com', to: 'replies@fu.example.test', messageId: 'msg_em_r' },
      },
    ]);
    expect((await unchangedAfter(t, () => postInbound(account.pathSecret, good, fields))).status).toBe(204);
  });
});
