/**
 * /v1/settings against a real PostgreSQL: a new workspace's defaults (SMS and voicemail quiet
 * 21:00-08:00), partial updates that keep what they do not name, bad input (400 with the field,
 * nothing changed), tenancy, and activation refused for a step on a channel that is off.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, unchangedAfter, type TestApp } from '../helpers/app';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

const NEW_WORKSPACE = {
  timezone: 'UTC',
  channels: { email: true, sms: true, voicemail: true },
  quietHours: { email: null, sms: { start: '21:00', end: '08:00' }, voicemail: { start: '21:00', end: '08:00' } },
  defaultSenders: { email: null, sms: null, voicemail: null },
  smsHelpText: null,
  deliveryGuarantee: 'at_most_once',
  sendsPerSecond: { sendgrid: null, twilio: null },
};

describe('/v1/settings', () => {
  it('starts a new workspace with SMS and voicemail quiet 21:00-08:00 and every channel on', async () => {
    const res = await t.client.GET('/v1/settings');
    expect(res.response.status).toBe(200);
    expect(res.data).toEqual(NEW_WORKSPACE);
  });

  it('changes only the fields, and the channels, it is sent', async () => {
    // Default senders must exist (and be for their channel).
    expect((await t.client.POST('/v1/senders', { body: { id: 'snd_office', channel: 'email', from: 'office@agency.example' } })).response.status).toBe(201);
    expect((await t.client.POST('/v1/senders', { body: { id: 'snd_sms', channel: 'sms', from: '+15005550006', kind: 'long_code' } })).response.status).toBe(
      201,
    );
    const a = await t.client.PUT('/v1/settings', {
      body: {
        timezone: 'Europe/Bucharest',
        quietHours: { sms: { start: '23:00', end: '07:30' } },
        defaultSenders: { email: 'snd_office' },
        channels: { voicemail: false },
      },
    });
    expect(a.response.status).toBe(200);
    const expected = {
      timezone: 'Europe/Bucharest',
      channels: { email: true, sms: true, voicemail: false },
      quietHours: { email: null, sms: { start: '23:00', end: '07:30' }, voicemail: { start: '21:00', end: '08:00' } },
      defaultSenders: { email: 'snd_office', sms: null, voicemail: null },
      smsHelpText: null,
      deliveryGuarantee: 'at_most_once',
      sendsPerSecond: { sendgrid: null, twilio: null },
    };
    expect(a.data).toEqual(expected);
    const b = await t.client.PUT('/v1/settings', {
      body: { smsHelpText: 'Acme: reply STOP to opt out', quietHours: { voicemail: null }, defaultSenders: { sms: 'snd_sms' } },
    });
    const after = {
      ...expected,
      quietHours: { ...expected.quietHours, voicemail: null },
      defaultSenders: { email: 'snd_office', sms: 'snd_sms', voicemail: null },
      smsHelpText: 'Acme: reply STOP to opt out',
    };
    expect(b.data).toEqual(after);
    expect((await t.client.PUT('/v1/settings', { body: {} })).data).toEqual(after);
    expect((await t.client.GET('/v1/settings')).data).toEqual(after);
  });

  it('rejects bad input naming the field and changes nothing', async () => {
    const cases: Array<[unknown, string]> = [
      [{ timezone: 'Nowhere/Land' }, '/body/timezone'],
      [{ quietHours: { sms: { start: '22:00', end: '22:00' } } }, '/body/quietHours/sms/end'],
      [{ quietHours: { sms: { start: '25:00', end: '08:00' } } }, '/body/quietHours/sms/start'],
      [{ quietHours: { fax: null } }, '/body/quietHours/fax'],
      [{ channels: { sms: 'yes' } }, '/body/channels/sms'],
      [{ defaultSenders: { email: '' } }, '/body/defaultSenders/email'],
      [{ smsHelpText: 7 }, '/body/smsHelpText'],
      [{ deliveryGuarantee: 'twice' }, '/body/deliveryGuarantee'],
      [{ sendsPerSecond: { twilio: 0 } }, '/body/sendsPerSecond/twilio'],
      [{ sendsPerSecond: { sendgrid: -5 } }, '/body/sendsPerSecond/sendgrid'],
      [{ sendsPerSecond: { sendgrid: 1001 } }, '/body/sendsPerSecond/sendgrid'],
      [{ sendsPerSecond: { twilio: '10' } }, '/body/sendsPerSecond/twilio'],
      [{ sendsPerSecond: { mailgun: 10 } }, '/body/sendsPerSecond/mailgun'],
      [{ colour: 'blue' }, '/body/colour'],
    ];
    for (const [body, field] of cases) {
      const before = (await t.client.GET('/v1/settings')).data;
      const res = await unchangedAfter(t, () => t.client.PUT('/v1/settings', { body: body as never }));
      expect(res.response.status, JSON.stringify(body)).toBe(400);
      expect(res.response.headers.get('content-type')).toContain('application/problem+json');
      expect(res.error, JSON.stringify(body)).toMatchObject({ field });
      expect((await t.client.GET('/v1/settings')).data).toEqual(before);
    }
  });

  it('sets a send rate per provider, keeps the other, and null returns it to the service default', async () => {
    const set = await t.client.PUT('/v1/settings', { body: { sendsPerSecond: { twilio: 2.5 } } });
    expect(set.response.status, JSON.stringify(set.error)).toBe(200);
    expect(set.data!.sendsPerSecond).toEqual({ sendgrid: null, twilio: 2.5 });
    await t.client.PUT('/v1/settings', { body: { sendsPerSecond: { sendgrid: 1000 } } });
    expect((await t.client.GET('/v1/settings')).data!.sendsPerSecond).toEqual({ sendgrid: 1000, twilio: 2.5 });
    const cleared = await t.client.PUT('/v1/settings', { body: { sendsPerSecond: { sendgrid: null, twilio: null } } });
    expect(cleared.data!.sendsPerSecond).toEqual({ sendgrid: null, twilio: null });
  });

  it("never shows or changes another workspace's settings", async () => {
    const other = await t.otherWorkspace();
    await other.client.PUT('/v1/settings', { body: { smsHelpText: 'theirs', timezone: 'America/New_York' } });
    const mine = (await t.client.GET('/v1/settings')).data!;
    expect(mine.smsHelpText).not.toBe('theirs');
    expect(mine.timezone).toBe('Europe/Bucharest');
    expect((await other.client.GET('/v1/settings')).data).toEqual({ ...NEW_WORKSPACE, timezone: 'America/New_York', smsHelpText: 'theirs' });
  });

  it('refuses to activate an automation with a step on a channel that is off, naming the step', async () => {
    const ws = await t.otherWorkspace();
    await ws.client.POST('/v1/templates', { body: { id: 'tpl_sms', name: 'SMS', channel: 'sms', content: { body: 'Hi {{ record.name }}' } } });
    await ws.client.POST('/v1/templates', { body: { id: 'tpl_mail', name: 'Mail', channel: 'email', content: { subject: 'Hi', text: 'Hi' } } });
    await ws.client.PUT('/v1/settings', { body: { channels: { sms: false } } });
    const created = await ws.client.POST('/v1/automations', {
      body: {
        name: 'Delivery notice',
        trigger: { type: 'stage_entered', stage: 'delivered' },
        steps: [
          { id: 'mail', type: 'email', template: 'tpl_mail' },
          { id: 'text', type: 'sms', template: 'tpl_sms' },
        ],
      },
    });
    expect(created.response.status).toBe(201);
    const id = created.data!.id;
    const refused = await unchangedAfter({ db: t.db, workspaceId: ws.workspaceId }, () =>
      ws.client.POST('/v1/automations/{id}/activate', { params: { path: { id } }, body: { onlyNew: true } }),
    );
    expect(refused.response.status).toBe(409);
    expect(refused.error).toMatchObject({ field: '/definition/steps/1/type' });
    expect(refused.error!.detail).toContain('sms channel is switched off');
    expect((await ws.client.GET('/v1/automations/{id}', { params: { path: { id } } })).data!.status).toBe('draft');

    await ws.client.PUT('/v1/settings', { body: { channels: { sms: true } } });
    const ok = await ws.client.POST('/v1/automations/{id}/activate', { params: { path: { id } }, body: { onlyNew: true } });
    expect(ok.response.status).toBe(200);
    expect(ok.data!.status).toBe('active');
  });

  it('the preview shows the default quiet hours and a change to them (seed 003: 23:30 SMS)', async () => {
    const ws = await t.otherWorkspace();
    await ws.client.POST('/v1/templates', { body: { id: 'tpl_sms', name: 'SMS', channel: 'sms', content: { body: 'Livrat' } } });
    const created = await ws.client.POST('/v1/automations', {
      body: { name: 'Livrare', trigger: { type: 'stage_entered', stage: 'livrat' }, steps: [{ id: 'text', type: 'sms', template: 'tpl_sms' }] },
    });
    const id = created.data!.id;
    const preview = async () => {
      const res = await ws.client.POST('/v1/automations/{id}/preview', {
        params: { path: { id } },
        body: { record: { timezone: 'Europe/Bucharest' }, startAt: '2026-12-01T21:30:00Z' },
      });
      expect(res.response.status).toBe(200);
      return res.data!.steps.map((s) => s.dueAt);
    };
    // 23:30 in Bucharest (UTC+2): held until 08:00 local by the new workspace's default.
    expect(await preview()).toEqual(['2026-12-02T06:00:00.000Z']);
    await ws.client.PUT('/v1/settings', { body: { quietHours: { sms: { start: '23:00', end: '07:30' } } } });
    expect(await preview()).toEqual(['2026-12-02T05:30:00.000Z']);
    await ws.client.PUT('/v1/settings', { body: { quietHours: { sms: null } } });
    expect(await preview()).toEqual(['2026-12-01T21:30:00.000Z']);
  });
});
