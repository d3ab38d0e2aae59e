/**
 * Templates in real sends: what a template reads (record, event, owner, workspace, enrollment,
 * sender, unsubscribeUrl) and how it is written out, asserted where it arrives: at the fake
 * SendGrid and Twilio servers the real SDKs talk to.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { fakeSendgrid, fakeTwilio, type FakeSendgrid, type FakeTwilio } from '../helpers/fake-providers';
import { createAutomation, putRecord, startEngineTest, waitFor, type EngineTest } from './engine-support';

vi.setConfig({ testTimeout: 180_000 });

const PUBLIC = 'https://followup.example.com';
let e: EngineTest;
let sg: FakeSendgrid;
let tw: FakeTwilio;
let workspaceName: string;

beforeAll(async () => {
  sg = await fakeSendgrid();
  tw = await fakeTwilio();
  e = await startEngineTest({
    env: {
      SENDGRID_API_KEY: 'SG.templates',
      SENDGRID_API_URL: sg.url,
      TWILIO_ACCOUNT_SID: `AC${'c'.repeat(32)}`,
      TWILIO_AUTH_TOKEN: 'tw-token',
      TWILIO_API_URL: tw.url,
      PUBLIC_URL: PUBLIC,
    },
  });
  const senders = [
    { id: 'snd_t_mail', channel: 'email', from: 'hello@sparkle.example', name: 'Sparkle Cleaning' },
    { id: 'snd_t_sms', channel: 'sms', from: '+15005550006', kind: 'long_code' },
  ];
  for (const s of senders) {
    const res = await e.api('POST', '/v1/senders', s);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  }
  const settings = await e.api('PUT', '/v1/settings', {
    quietHours: { sms: null, voicemail: null },
    defaultSenders: { email: 'snd_t_mail', sms: 'snd_t_sms' },
  });
  expect(settings.status, JSON.stringify(settings.body)).toBe(200);
  const owner = await e.api('POST', '/v1/users', { id: 'usr_t_mara', name: 'Mara Ionescu', email: 'mara@sparkle.example', phone: '+40700000001' });
  expect(owner.status, JSON.stringify(owner.body)).toBe(201);
  workspaceName = (await e.t.db.selectFrom('workspaces').select('name').where('id', '=', e.t.workspaceId).executeTakeFirstOrThrow()).name;
});
afterAll(async () => {
  await e?.close();
});
afterEach(() => {
  sg.reset();
  tw.reset();
});

async function messagesOf(recordId: string): Promise<any[]> {
  const res = await e.api('GET', `/v1/messages?recordId=${encodeURIComponent(recordId)}`);
  expect(res.status).toBe(200);
  return res.body.items;
}

/** The record's messages once `count` of them have left `queued`/`sending`. */
async function settledMessages(recordId: string, count: number): Promise<any[]> {
  return waitFor(`${count} settled messages of ${recordId}`, async () => {
    const items = await messagesOf(recordId);
    return items.length === count && items.every((m) => !['queued', 'sending'].includes(m.status)) ? items : undefined;
  });
}

async function track(type: string, recordId: string, properties: Record<string, unknown>): Promise<void> {
  const res = await e.api('POST', '/v1/events', { type, recordId, properties });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
}

describe('the send context', () => {
  it('event, owner, workspace, enrollment, sender and unsubscribeUrl render in the email and SMS the providers receive', async () => {
    const a = await createAutomation(
      e,
      {
        name: 'Rated',
        trigger: { type: 'event', event: 'tpl.rating.received' },
        steps: [
          { id: 'mail', type: 'email', to: 'record', template: 'tpl_ctx_mail' },
          { id: 'text', type: 'sms', to: 'record', template: 'tpl_ctx_sms' },
          { id: 'review', type: 'wait_for', event: 'tpl.review.left', timeout: 'P1D', onEvent: 'thanks', onTimeout: 'end' },
          { id: 'thanks', type: 'sms', to: 'record', template: 'tpl_ctx_thanks' },
        ],
      },
      {
        templates: [
          {
            id: 'tpl_ctx_mail',
            content: {
              subject: 'You gave us {{ event.rating }} stars, {{ record.name }}',
              text: [
                'Rating {{ event.rating }} for {{ event.properties.service }} ({{ event.type }}).',
                'Your contact: {{ owner.name }} <{{ owner.email }}>, {{ workspace.name }}.',
                'From {{ sender.name }} <{{ sender.from }}>, step of {{ enrollment.automationId }} v{{ enrollment.version }}.',
                'Unsubscribe: {{ unsubscribeUrl }}',
              ].join('\n'),
            },
          },
          { id: 'tpl_ctx_sms', channel: 'sms', content: { body: '{{ owner.name }} here: thanks for the {{ event.rating }}/5! {{ unsubscribeUrl }}' } },
          { id: 'tpl_ctx_thanks', channel: 'sms', content: { body: 'Thanks for your {{ event.stars }}-star review, {{ record.name }}.' } },
        ],
      },
    );
    // The save-time check accepted every variable these templates read.
    for (const id of ['tpl_ctx_mail', 'tpl_ctx_sms', 'tpl_ctx_thanks']) {
      const tpl = await e.api('GET', `/v1/templates/${id}`);
      expect(tpl.body.warnings, id).toEqual([]);
    }
    await putRecord(e, 'tpl-ctx-1', { name: 'Ana', email: 'ana@example.com', phone: '+40712345678', ownerId: 'usr_t_mara' });
    await track('tpl.rating.received', 'tpl-ctx-1', { rating: 5, service: 'deep cleaning' });
    await settledMessages('tpl-ctx-1', 2);

    expect(sg.accepted).toHaveLength(1);
    const mail = sg.accepted[0]!.body;
    const link = /^<(.+)>$/.exec(mail.headers['List-Unsubscribe'])![1]!;
    expect(link.startsWith(`${PUBLIC}/u/`)).toBe(true);
    expect(mail.subject).toBe('You gave us 5 stars, Ana');
    expect(mail.content).toEqual([
      {
        type: 'text/plain',
        value: [
          'Rating 5 for deep cleaning (tpl.rating.received).',
          `Your contact: Mara Ionescu <mara@sparkle.example>, ${workspaceName}.`,
          `From Sparkle Cleaning <hello@sparkle.example>, step of ${a.id} v1.`,
          `Unsubscribe: ${link}`,
        ].join('\n'),
      },
    ]);
    expect(tw.accepted).toHaveLength(1);
    // An SMS to the record carries the record's own SMS unsubscribe link.
    expect(tw.accepted[0]!.body.Body).toMatch(new RegExp(`^Mara Ionescu here: thanks for the 5/5! ${PUBLIC}/u/\\S+$`));

    // After a wait_for, `event` is the event that ended it.
    await track('tpl.review.left', 'tpl-ctx-1', { stars: 4 });
    await settledMessages('tpl-ctx-1', 3);
    expect(tw.accepted.map((r) => r.body.Body)).toEqual([expect.any(String), 'Thanks for your 4-star review, Ana.']);
  });
});

describe('escaping', () => {
  it('a record field with <script> arrives HTML-escaped in the html body and unchanged in the text body and subject; | raw writes a trusted field as it is', async () => {
    const a = await createAutomation(
      e,
      { name: 'Escaping', trigger: { type: 'manual' }, steps: [{ id: 'mail', type: 'email', to: 'record', template: 'tpl_esc_mail' }] },
      {
        templates: [
          {
            id: 'tpl_esc_mail',
            content: {
              subject: 'For {{ record.name }}',
              html: '<p title="{{ record.attributes.quote }}">Hi {{ record.name }}</p>{{ record.attributes.signature | raw }}<a href="{{ unsubscribeUrl }}">Unsubscribe</a>',
              text: 'Hi {{ record.name }} ({{ record.attributes.quote }})',
            },
          },
        ],
      },
    );
    const name = '<script>alert("x")</script>';
    await putRecord(e, 'tpl-esc-1', { name, email: 'esc@example.com', attributes: { quote: `Tom & "Jerry's"`, signature: '<b>Sparkle</b>' } });
    const enrolled = await e.api('POST', `/v1/automations/${a.id}/enrollments`, { recordId: 'tpl-esc-1' });
    expect(enrolled.status, JSON.stringify(enrolled.body)).toBe(201);
    await settledMessages('tpl-esc-1', 1);

    expect(sg.accepted).toHaveLength(1);
    const mail = sg.accepted[0]!.body;
    const link = /^<(.+)>$/.exec(mail.headers['List-Unsubscribe'])![1]!;
    expect(mail.subject).toBe(`For ${name}`);
    expect(mail.content).toEqual([
      { type: 'text/plain', value: `Hi ${name} (Tom & "Jerry's")` },
      {
        type: 'text/html',
        value: `<p title="Tom &amp; &#34;Jerry&#39;s&#34;">Hi &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</p><b>Sparkle</b><a href="${link}">Unsubscribe</a>`,
      },
    ]);
  });
});

describe('rendered size', () => {
  it('an SMS that renders past 1600 characters fails with the reason and never reaches Twilio; the sequence goes on', async () => {
    const a = await createAutomation(
      e,
      {
        name: 'Too long',
        trigger: { type: 'manual' },
        steps: [
          { id: 'text', type: 'sms', to: 'record', template: 'tpl_size_sms' },
          { id: 'short', type: 'sms', to: 'record', template: 'tpl_size_ok' },
        ],
      },
      {
        templates: [
          { id: 'tpl_size_sms', channel: 'sms', content: { body: 'Your notes: {{ record.attributes.notes }}' } },
          { id: 'tpl_size_ok', channel: 'sms', content: { body: 'Call us, {{ record.name }}.' } },
        ],
      },
    );
    await putRecord(e, 'tpl-size-1', { name: 'Ana', phone: '+40712345679', attributes: { notes: 'n'.repeat(1589) } });
    const enrolled = await e.api('POST', `/v1/automations/${a.id}/enrollments`, { recordId: 'tpl-size-1' });
    expect(enrolled.status, JSON.stringify(enrolled.body)).toBe(201);
    const byStep = Object.fromEntries((await settledMessages('tpl-size-1', 2)).map((m) => [m.stepId, m]));
    expect(byStep.text).toMatchObject({
      status: 'failed',
      error: 'template tpl_size_sms does not render: the rendered body is 1601 characters; an SMS body takes at most 1600',
    });
    expect(byStep.short).toMatchObject({ status: 'sent', body: 'Call us, Ana.' });
    expect(tw.accepted.map((r) => r.body.Body)).toEqual(['Call us, Ana.']);
  });
});

describe('preview content', () => {
  it("the preview returns each send's subject and body as the send would render them, with the event of that moment; nothing reaches a provider", async () => {
    const a = await createAutomation(
      e,
      {
        name: 'Preview content',
        trigger: { type: 'manual' },
        steps: [
          { id: 'ask', type: 'email', to: 'record', template: 'tpl_pv_ask' },
          { id: 'rating', type: 'wait_for', event: 'rating.received', timeout: 'P1D', onEvent: 'thanks', onTimeout: 'end' },
          { id: 'thanks', type: 'sms', to: 'record', template: 'tpl_pv_thanks' },
        ],
      },
      {
        activate: false,
        templates: [
          {
            id: 'tpl_pv_ask',
            content: { subject: 'How was it, {{ record.name }}?', html: '<p>{{ owner.name }} asks: <b>{{ record.attributes.service }}</b></p>' },
          },
          { id: 'tpl_pv_thanks', channel: 'sms', content: { body: 'You gave us {{ event.rating }}/5, {{ record.name }}. {{ workspace.name }}' } },
        ],
      },
    );
    const res = await e.api('POST', `/v1/automations/${a.id}/preview`, {
      record: { name: 'Ana <3', ownerId: 'usr_t_mara', attributes: { service: 'deep & clean' } },
      startAt: '2026-11-23T10:00:00Z',
      events: [{ type: 'rating.received', at: '2026-11-23T12:00:00Z', properties: { rating: 4 } }],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const byStep = Object.fromEntries(res.body.steps.map((s: any) => [s.stepId, s]));
    expect(byStep.ask).toMatchObject({
      subject: 'How was it, Ana <3?',
      body: '<p>Mara Ionescu asks: <b>deep &amp; clean</b></p>',
      html: '<p>Mara Ionescu asks: <b>deep &amp; clean</b></p>',
    });
    expect(byStep.thanks).toMatchObject({ subject: null, body: `You gave us 4/5, Ana <3. ${workspaceName}` });
    expect(byStep.rating).not.toHaveProperty('body');
    expect(sg.requests).toHaveLength(0);
    expect(tw.requests).toHaveLength(0);
  });
});
