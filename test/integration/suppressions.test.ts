/**
 * Opt-outs against a real PostgreSQL: /v1/suppressions, the SMS carrier keywords through the
 * signed Twilio webhook, the email unsubscribe link (page and RFC 8058 one-click), and the send
 * activity refusing a suppressed address (counted at the provider: a spy channel).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest, startTestApp, unchangedAfter, type TestApp } from '../helpers/app';
import { createActivities } from '#activities/index';
import type { OutboundMessage } from '#providers/channel';
import { newId } from '#db/ids';
import { getRecord, recordSnapshot } from '#db/records';
import { unsubscribeUrl } from '#platform/unsubscribe-token';

const PUBLIC_URL = 'https://fu.example.test';
const TWILIO_TOKEN = randomBytes(16).toString('hex');
const SECRETS_KEY = randomBytes(24).toString('base64');
/** The workspace's own number (a sender): inbound texts to it are its own. Unique in the shared test database. */
const OUR_NUMBER = `+1555${String(Date.now()).slice(-7)}`;

let t: TestApp;
const sent: OutboundMessage[] = [];
const spy = { name: 'spy', send: async (m: OutboundMessage) => (sent.push(m), { providerId: `p_${sent.length}`, status: 'sent' as const }) };

function smsFrom(from: string, body: string, messageSid = `SM${randomBytes(8).toString('hex')}`) {
  const params = { MessageSid: messageSid, From: from, To: OUR_NUMBER, Body: body };
  const path = '/webhooks/twilio/sms';
  const data = Object.keys(params)
    .sort()
    .reduce((acc, k) => acc + k + params[k as keyof typeof params], PUBLIC_URL + path);
  const signature = createHmac('sha1', TWILIO_TOKEN).update(data).digest('base64');
  return rawRequest(t, 'POST', path, {
    key: null,
    contentType: 'application/x-www-form-urlencoded',
    body: new URLSearchParams(params).toString(),
    headers: { 'x-twilio-signature': signature },
  });
}

/** One send through the real activity, as a workflow step would call it. */
async function send(recordId: string, channel: 'email' | 'sms') {
  const acts = createActivities({ db: t.db, providers: { email: spy, sms: spy } });
  const enrollmentId = newId('enr');
  await t.db
    .insertInto('automations')
    .values({ workspace_id: t.workspaceId, id: `aut_${enrollmentId}`, name: 'x', current_version: 1, trigger_type: 'manual' })
    .execute();
  await acts.recordProgress({
    workspaceId: t.workspaceId,
    enrollmentId,
    automationId: `aut_${enrollmentId}`,
    recordId,
    version: 1,
    workflowId: `wf/${enrollmentId}`,
    seq: 1,
    variant: null,
    triggerEventId: null,
    startedAt: new Date().toISOString(),
    status: 'active',
    currentStep: 's',
  });
  const record = recordSnapshot((await getRecord(t.db, t.workspaceId, recordId))!);
  const content: Record<string, string> = channel === 'email' ? { subject: 'Hi', text: 'Hello {{ record.name }}' } : { body: 'Hello {{ record.name }}' };
  return acts.sendMessage({
    workspaceId: t.workspaceId,
    enrollmentId,
    automationId: `aut_${enrollmentId}`,
    recordId,
    idempotencyKey: `${enrollmentId}:s:1`,
    stepId: 's',
    channel,
    to: 'record',
    template: { id: 'tpl', version: 1, channel, content },
    templateId: 'tpl',
    variant: null,
    context: { record, event: null, enrollment: { id: enrollmentId, automationId: `aut_${enrollmentId}`, version: 1, variant: null } },
    dueAt: new Date().toISOString(),
  });
}

const flags = async (id: string) => (await getRecord(t.db, t.workspaceId, id))!.unsubscribed;
const changesOf = async (id: string) =>
  (
    await t.db
      .selectFrom('outbox')
      .select('payload')
      .where('workspace_id', '=', t.workspaceId)
      .where('record_id', '=', id)
      .where('kind', '=', 'record_changed')
      .orderBy('id')
      .execute()
  ).map((r) => (r.payload as { changes: Record<string, unknown> }).changes);

beforeAll(async () => {
  t = await startTestApp({ config: { PUBLIC_URL, TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`, TWILIO_AUTH_TOKEN: TWILIO_TOKEN, SECRETS_KEY } });
  const sender = await t.client.POST('/v1/senders', { body: { channel: 'sms', from: OUR_NUMBER, kind: 'long_code' } });
  expect(sender.response.status).toBe(201);
  for (const [id, email, phone] of [
    ['lead-1', 'ana@example.com', '+40712345678'],
    ['lead-2', 'bob@example.com', '+40700000002'],
    ['lead-3', 'cora@example.com', '+40700000003'],
  ]) {
    await t.client.PUT('/v1/records/{externalId}', { params: { path: { externalId: id! } }, body: { name: id, email, phone } });
  }
});
afterAll(async () => {
  await t?.close();
});

describe('/v1/suppressions', () => {
  it('adds (201, then 200 as it was), lists, lifts; the records follow', async () => {
    const created = await t.client.POST('/v1/suppressions', { body: { channel: 'email', address: 'Bob@Example.com', reason: 'asked by phone' } });
    expect(created.response.status).toBe(201);
    expect(created.data).toMatchObject({ channel: 'email', address: 'bob@example.com', reason: 'asked by phone', source: 'api' });
    const again = await t.client.POST('/v1/suppressions', { body: { channel: 'email', address: 'bob@example.com', reason: 'other' } });
    expect(again.response.status).toBe(200);
    expect(again.data).toMatchObject({ reason: 'asked by phone' });
    expect(await flags('lead-2')).toMatchObject({ email: true });
    expect(await changesOf('lead-2')).toContainEqual({ 'unsubscribed.email': true });

    const list = await t.client.GET('/v1/suppressions', { params: { query: { channel: 'email' } } });
    expect(list.data!.items.map((s) => s.address)).toContain('bob@example.com');
    expect((await t.client.GET('/v1/suppressions', { params: { query: { channel: 'sms' } } })).data!.items.map((s) => s.address)).not.toContain(
      'bob@example.com',
    );

    const del = await t.client.DELETE('/v1/suppressions/{channel}/{address}', { params: { path: { channel: 'email', address: 'bob@example.com' } } });
    expect(del.response.status).toBe(204);
    expect(await flags('lead-2')).toMatchObject({ email: false });
    expect(
      (await t.client.DELETE('/v1/suppressions/{channel}/{address}', { params: { path: { channel: 'email', address: 'bob@example.com' } } })).response.status,
    ).toBe(404);
  });

  it('pages newest first without repeating', async () => {
    for (let i = 0; i < 5; i++) await t.client.POST('/v1/suppressions', { body: { channel: 'sms', address: `+4070000010${i}` } });
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await t.client.GET('/v1/suppressions', { params: { query: { channel: 'sms', limit: 2, ...(cursor ? { cursor } : {}) } } });
      seen.push(...page.data!.items.map((s) => s.address));
      cursor = page.data!.nextCursor ?? undefined;
    } while (cursor);
    expect(seen.slice(0, 5)).toEqual(['+40700000104', '+40700000103', '+40700000102', '+40700000101', '+40700000100']);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('rejects bad input naming the field and changes nothing', async () => {
    const cases: Array<[unknown, string]> = [
      [{ channel: 'email', address: 'not-an-email' }, '/body/address'],
      [{ channel: 'sms', address: '0712345678' }, '/body/address'],
      [{ channel: 'fax', address: '+40712345678' }, '/body/channel'],
      [{ address: 'a@b.co' }, '/body/channel'],
      [{ channel: 'email', address: 'a@b.co', extra: 1 }, '/body/extra'],
    ];
    for (const [body, field] of cases) {
      const res = await unchangedAfter(t, () => t.client.POST('/v1/suppressions', { body: body as never }));
      expect(res.response.status, JSON.stringify(body)).toBe(400);
      expect(res.error).toMatchObject({ field });
    }
  });
});

describe('one transaction', () => {
  it('the suppression, the record flag and its record_changed row commit together, or nothing does', async () => {
    await t.client.PUT('/v1/records/{externalId}', { params: { path: { externalId: 'lead-atomic' } }, body: { name: 'Dan', email: 'dan@example.com' } });
    // A real failure inside the unit of work: this workspace's outbox refuses rows for a while.
    const name = sql.raw(`refuse_outbox_${t.workspaceId.replace(/\W/g, '_')}`);
    await sql`create function ${name}() returns trigger language plpgsql as $$ begin raise exception 'outbox unavailable'; end $$`.execute(t.db);
    await sql`create trigger ${name} before insert on outbox for each row when (new.workspace_id = ${sql.lit(t.workspaceId)}) execute function ${name}()`.execute(
      t.db,
    );
    try {
      const refused = await unchangedAfter(t, () => t.client.POST('/v1/suppressions', { body: { channel: 'email', address: 'dan@example.com' } }));
      expect(refused.response.status).toBe(500);
    } finally {
      await sql`drop trigger ${name} on outbox`.execute(t.db);
      await sql`drop function ${name}()`.execute(t.db);
    }
    expect((await t.client.GET('/v1/suppressions', { params: { query: { channel: 'email' } } })).data!.items.map((i) => i.address)).not.toContain(
      'dan@example.com',
    );

    expect((await t.client.POST('/v1/suppressions', { body: { channel: 'email', address: 'dan@example.com' } })).response.status).toBe(201);
    expect(await flags('lead-atomic')).toMatchObject({ email: true });
    expect((await changesOf('lead-atomic')).at(-1)).toEqual({ 'unsubscribed.email': true });
  });
});

describe('SMS keywords', () => {
  it('STOP suppresses the number and the next SMS is suppressed, not sent; START lifts it and the next one goes', async () => {
    const stop = await smsFrom('+40712345678', 'Stop');
    expect(stop.status).toBe(200);
    expect(await flags('lead-1')).toMatchObject({ sms: true });
    const before = sent.length;
    const blocked = await send('lead-1', 'sms');
    expect(blocked).toMatchObject({ status: 'suppressed', error: 'suppressed: replied Stop' });
    expect(sent.length).toBe(before);
    // A keyword is not a reply: no message.replied event.
    expect(await t.db.selectFrom('events').select('id').where('workspace_id', '=', t.workspaceId).where('type', '=', 'message.replied').execute()).toEqual([]);

    expect((await smsFrom('+40712345678', 'START')).status).toBe(200);
    expect(await flags('lead-1')).toMatchObject({ sms: false });
    const goes = await send('lead-1', 'sms');
    expect(goes).toMatchObject({ status: 'sent' });
    expect(sent.slice(before).map((m) => [m.channel, m.to, m.text])).toEqual([['sms', '+40712345678', 'Hello lead-1']]);
  });

  it("a STOP whose opt-out cannot be written is not half stored: Twilio's retry of the same message suppresses the number", async () => {
    const number = '+40712300099';
    const messageSid = `SM${randomBytes(8).toString('hex')}`;
    // A real failure inside the unit of work: this workspace's suppressions refuse rows for a while.
    const name = sql.raw(`refuse_suppressions_${t.workspaceId.replace(/\W/g, '_')}`);
    await sql`create function ${name}() returns trigger language plpgsql as $$ begin raise exception 'suppressions unavailable'; end $$`.execute(t.db);
    await sql`create trigger ${name} before insert on suppressions for each row when (new.workspace_id = ${sql.lit(t.workspaceId)}) execute function ${name}()`.execute(
      t.db,
    );
    try {
      expect((await smsFrom(number, 'STOP', messageSid)).status).toBe(500);
    } finally {
      await sql`drop trigger ${name} on suppressions`.execute(t.db);
      await sql`drop function ${name}()`.execute(t.db);
    }
    const inbound = () =>
      t.db.selectFrom('inbound_messages').select('keyword').where('workspace_id', '=', t.workspaceId).where('provider_id', '=', messageSid).execute();
    expect(await inbound()).toEqual([]);

    expect((await smsFrom(number, 'STOP', messageSid)).status).toBe(200);
    expect(await inbound()).toEqual([{ keyword: 'stop' }]);
    const suppressed = await t.client.GET('/v1/suppressions', { params: { query: { channel: 'sms' } } });
    expect(suppressed.data!.items.find((i) => i.address === number)).toMatchObject({ channel: 'sms', reason: 'replied STOP' });
  });

  it('HELP answers with the workspace help text', async () => {
    const builtIn = await smsFrom('+40700000003', 'help');
    expect(builtIn.body).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Reply STOP to unsubscribe, START to subscribe again.</Message></Response>',
    );
    await t.client.PUT('/v1/settings', { body: { smsHelpText: 'Acme: reply STOP to opt out. Help: +40 21 000 0000' } });
    const mine = await smsFrom('+40700000003', 'INFO');
    expect(mine.body).toBe('<?xml version="1.0" encoding="UTF-8"?><Response><Message>Acme: reply STOP to opt out. Help: +40 21 000 0000</Message></Response>');
  });
});

describe('email unsubscribe link', () => {
  const link = (recordId: string) =>
    unsubscribeUrl({ PUBLIC_URL, SECRETS_KEY }, { workspaceId: t.workspaceId, recordId, channel: 'email' }).slice(PUBLIC_URL.length);

  it('GET shows a confirmation page and changes nothing; a one-click POST suppresses the next email', async () => {
    const path = link('lead-3');
    const page = await unchangedAfter(t, () => rawRequest(t, 'GET', path, { key: null }));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.body).toContain('<form method="post"><button type="submit">Unsubscribe</button></form>');

    const oneClick = await rawRequest(t, 'POST', path, { key: null, contentType: 'application/x-www-form-urlencoded', body: 'List-Unsubscribe=One-Click' });
    expect(oneClick.status).toBe(200);
    expect(
      await t.db
        .selectFrom('suppressions')
        .select(['address', 'source'])
        .where('workspace_id', '=', t.workspaceId)
        .where('channel', '=', 'email')
        .where('address', '=', 'cora@example.com')
        .execute(),
    ).toEqual([{ address: 'cora@example.com', source: 'unsubscribe_link' }]);
    expect(await flags('lead-3')).toMatchObject({ email: true });
    const before = sent.length;
    expect(await send('lead-3', 'email')).toMatchObject({ status: 'suppressed', error: 'suppressed: unsubscribe link' });
    expect(sent.length).toBe(before);
  });

  it('a forged or altered token is refused and changes nothing', async () => {
    const path = link('lead-1');
    const forged = `/u/${Buffer.from(JSON.stringify([t.workspaceId, 'lead-2', 'email'])).toString('base64url')}.${path.split('.')[1]}`;
    expect(
      (
        await unchangedAfter(t, () =>
          rawRequest(t, 'POST', forged, { key: null, contentType: 'application/x-www-form-urlencoded', body: 'List-Unsubscribe=One-Click' }),
        )
      ).status,
    ).toBe(404);
    expect((await unchangedAfter(t, () => rawRequest(t, 'GET', `${path}x`, { key: null }))).status).toBe(404);
  });
});
