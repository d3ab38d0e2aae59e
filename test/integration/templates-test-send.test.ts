/**
 * POST /v1/templates/{id}/test-send through the API and the worker: one real send to the fake
 * SendGrid server the real SDK talks to, marked `test` and left out of the statistics.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { fakeSendgrid, type FakeSendgrid } from '../helpers/fake-providers';
import { putRecord, startEngineTest, type EngineTest } from './engine-support';

vi.setConfig({ testTimeout: 120_000 });

let e: EngineTest;
let sg: FakeSendgrid;

beforeAll(async () => {
  sg = await fakeSendgrid();
  e = await startEngineTest({ env: { SENDGRID_API_KEY: 'SG.test-send', SENDGRID_API_URL: sg.url } });
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
afterEach(() => sg.reset());

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

    const row = await e.t.db.selectFrom('messages').select(['test', 'status']).where('id', '=', res.body.id).executeTakeFirstOrThrow();
    expect(row).toEqual({ test: true, status: 'sent' });

    const again = await e.api('POST', '/v1/templates/tpl_ts_mail/test-send', { to: 'owner@sparkle.example', recordId: 'ts-rec-1', requestId: 'ts-1' });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(res.body.id);
    expect(sg.accepted).toHaveLength(1);

    const stats = await e.api('GET', '/v1/stats');
    expect(stats.status, JSON.stringify(stats.body)).toBe(200);
    expect(stats.body.messages.total.sent).toBe(0);
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
});
