/**
 * /v1/senders against a real PostgreSQL: the three shapes, bad input (400 with the field, nothing
 * changed), a definition naming an unknown sender (400 with its pointer), default senders in
 * /v1/settings must exist, and a sender in use cannot be deleted (409).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest, startTestApp, unchangedAfter, type TestApp } from '../helpers/app';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  expect((await t.client.POST('/v1/templates', { body: { id: 'tpl_snd', name: 'x', channel: 'sms', content: { body: 'Hi' } } })).response.status).toBe(201);
});
afterAll(async () => {
  await t?.close();
});

const api = (method: string, path: string, body?: unknown) =>
  rawRequest(t, method, path, body === undefined ? {} : { body: JSON.stringify(body), contentType: 'application/json' });
const post = (body: unknown) => api('POST', '/v1/senders', body);

describe('/v1/senders', () => {
  it("creates email, SMS and voicemail senders and lists them; an SMS sender holds its kind's rate unless it says otherwise", async () => {
    const mail = await post({ id: 'snd_mail', channel: 'email', from: 'hello@sparkle.example', name: 'Sparkle', replyTo: 'office@sparkle.example' });
    expect(mail.status).toBe(201);
    expect(mail.body).toMatchObject({
      id: 'snd_mail',
      channel: 'email',
      from: 'hello@sparkle.example',
      name: 'Sparkle',
      replyTo: 'office@sparkle.example',
      segmentsPerSecond: null,
    });
    expect((await post({ id: 'snd_long', channel: 'sms', from: '+15005550006', kind: 'long_code' })).body).toMatchObject({
      kind: 'long_code',
      segmentsPerSecond: 1,
    });
    expect((await post({ id: 'snd_tf', channel: 'sms', from: '+18005550006', kind: 'toll_free' })).body).toMatchObject({ segmentsPerSecond: 3 });
    expect(
      (await post({ id: 'snd_svc', channel: 'sms', messagingServiceSid: `MG${'a'.repeat(32)}`, kind: 'short_code', segmentsPerSecond: 30 })).body,
    ).toMatchObject({ from: null, segmentsPerSecond: 30 });
    const voice = await post({ channel: 'voicemail', from: '+15005550007' });
    expect(voice.status).toBe(201);
    expect(voice.body.id).toMatch(/^snd_/);

    const list = await t.client.GET('/v1/senders');
    expect(list.data!.items.map((s) => s.id)).toEqual(['snd_long', 'snd_mail', 'snd_svc', 'snd_tf', voice.body.id].sort());
    expect((await t.client.GET('/v1/senders/{id}', { params: { path: { id: 'snd_mail' } } })).data).toEqual(mail.body);
  });

  it('refuses bad senders with the field, changing nothing', async () => {
    const cases: Array<[unknown, string]> = [
      [{ channel: 'sms', kind: 'long_code' }, '/body/from'],
      [{ channel: 'sms', from: '+15005550006', messagingServiceSid: `MG${'a'.repeat(32)}`, kind: 'long_code' }, '/body/from'],
      [{ channel: 'voicemail', from: '0712345678' }, '/body/from'],
      [{ channel: 'email', from: 'not-an-address' }, '/body/from'],
      [{ id: 'snd_mail', channel: 'email', from: 'again@sparkle.example' }, '/body/id'],
    ];
    for (const [body, field] of cases) {
      const res = await unchangedAfter(t, () => post(body));
      expect([400, 409], JSON.stringify(res.body)).toContain(res.status);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(JSON.stringify(res.body), JSON.stringify(body)).toContain(field);
    }
  });

  it('a definition naming an unknown sender, or one of another channel, is a 400 with the pointer', async () => {
    const definition = (from: string) => ({ name: 'x', trigger: { type: 'manual' }, steps: [{ id: 'text', type: 'sms', template: 'tpl_snd', from }] });
    const unknown = await unchangedAfter(t, () => api('POST', '/v1/automations', definition('snd_nobody')));
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors).toEqual([{ field: '/body/steps/0/from', message: 'no sender has the id "snd_nobody" (POST /v1/senders)' }]);
    const wrong = await api('POST', '/v1/automations', definition('snd_mail'));
    expect(wrong.body.errors).toEqual([{ field: '/body/steps/0/from', message: 'sender "snd_mail" is for email; this step needs one for sms' }]);
    expect((await api('POST', '/v1/automations', definition('snd_long'))).status).toBe(201);
  });

  it('a default sender must exist and be for its channel', async () => {
    const res = await unchangedAfter(t, () => api('PUT', '/v1/settings', { defaultSenders: { sms: 'snd_mail', email: 'snd_nobody' } }));
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([
      { field: '/body/defaultSenders/email', message: 'no sender has the id "snd_nobody" (POST /v1/senders)' },
      { field: '/body/defaultSenders/sms', message: 'sender "snd_mail" is for email, not sms' },
    ]);
    expect((await api('PUT', '/v1/settings', { defaultSenders: { email: 'snd_mail' } })).status).toBe(200);
  });

  it('a sender in use (named by an automation, or a default) cannot be deleted; an unused one can, and its id is not reused', async () => {
    const del = (id: string) => api('DELETE', `/v1/senders/${id}`);
    const inStep = await unchangedAfter(t, () => del('snd_long'));
    expect(inStep.status).toBe(409);
    expect(inStep.body.detail).toMatch(/^sender snd_long is in use: automation\(s\) aut_\w+ send from it$/);
    const asDefault = await del('snd_mail');
    expect(asDefault.status).toBe(409);
    expect(asDefault.body.detail).toBe('sender snd_mail is in use: it is a default sender in /v1/settings');

    expect((await del('snd_tf')).status).toBe(204);
    expect((await api('GET', '/v1/senders/snd_tf')).status).toBe(404);
    expect((await del('snd_tf')).status).toBe(404);
    expect((await post({ id: 'snd_tf', channel: 'sms', from: '+18005550006', kind: 'toll_free' })).status).toBe(409);
  });
});
