/**
 * /v1/templates against a real PostgreSQL: creation per channel, Liquid checks (syntax error with
 * field and line, unknown variables), SMS segments, versioning, soft delete, strict input,
 * tenancy. After every rejected request the workspace's rows are unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshotWorkspace, startTestApp, type TestApp } from '../helpers/app';
import { renderContent } from '#domain/templates';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

/** Runs a request that must be rejected and asserts that nothing in the workspace changed. */
async function unchanged<T>(fn: () => Promise<T>): Promise<T> {
  const before = await snapshotWorkspace(t.db, t.workspaceId);
  const result = await fn();
  expect(await snapshotWorkspace(t.db, t.workspaceId)).toEqual(before);
  return result;
}

const emailBody = (id: string) => ({
  id,
  name: 'How was your service?',
  channel: 'email' as const,
  content: {
    subject: 'How was your cleaning, {{ record.name | default: "there" }}?',
    html: '<p>Hi {{ record.name }}, rate us: {{ event.bookingId }}</p><a href="{{ unsubscribeUrl }}">unsubscribe</a>',
    text: 'Hi {{ record.name }}, rate us.',
  },
});

describe('create and read', () => {
  it('creates an email template as version 1 and reads it back', async () => {
    const { data, response } = await t.client.POST('/v1/templates', { body: emailBody('tpl_howwas_a') });
    expect(response.status).toBe(201);
    expect(response.headers.get('location')).toBe('/v1/templates/tpl_howwas_a');
    expect(data).toMatchObject({ id: 'tpl_howwas_a', channel: 'email', version: 1, warnings: [] });
    expect(data!.sms).toBeUndefined();

    const got = await t.client.GET('/v1/templates/{id}', { params: { path: { id: 'tpl_howwas_a' } } });
    expect(got.response.status).toBe(200);
    expect(got.data).toMatchObject({ id: 'tpl_howwas_a', version: 1, content: emailBody('x').content });
  });

  it('an email template may name a SendGrid dynamic template instead of html and text', async () => {
    const content = { subject: 'Hi {{ record.name }}', sendgridTemplateId: 'd-0123456789abcdef0123456789abcdef' };
    const { data, response } = await t.client.POST('/v1/templates', { body: { id: 'tpl_dynamic', name: 'Dynamic', channel: 'email', content } });
    expect(response.status).toBe(201);
    expect(data).toMatchObject({ id: 'tpl_dynamic', channel: 'email', version: 1, content, warnings: [] });
  });

  it('generates an id when none is given, for every channel', async () => {
    const bodies = [
      { name: 'Call back', channel: 'task' as const, content: { title: 'Call {{ record.name }}', body: 'Rating {{ event.rating }}' } },
      { name: 'Drop', channel: 'voicemail' as const, content: { audioUrl: 'https://cdn.example.com/vm/hello.mp3' } },
      { name: 'Drop TTS', channel: 'voicemail' as const, content: { text: 'Hi {{ record.name }}, this is {{ owner.name }}.' } },
    ];
    for (const body of bodies) {
      const { data, response } = await t.client.POST('/v1/templates', { body });
      expect(response.status).toBe(201);
      expect(data!.id).toMatch(/^tpl_[A-Za-z0-9]{20}$/);
      expect(data!.channel).toBe(body.channel);
    }
  });

  it('lists templates newest first, filtered by channel, with cursor pagination', async () => {
    const ws = await t.otherWorkspace();
    for (const i of [1, 2, 3]) {
      await ws.client.POST('/v1/templates', { body: { id: `sms_${i}`, name: `SMS ${i}`, channel: 'sms', content: { body: `Hello ${i}` } } });
    }
    await ws.client.POST('/v1/templates', { body: emailBody('mail_1') });
    const page1 = await ws.client.GET('/v1/templates', { params: { query: { channel: 'sms', limit: 2 } } });
    expect(page1.data!.items.map((i) => i.id)).toEqual(['sms_3', 'sms_2']);
    expect(page1.data!.nextCursor).toBeTypeOf('string');
    const page2 = await ws.client.GET('/v1/templates', { params: { query: { channel: 'sms', limit: 2, cursor: page1.data!.nextCursor! } } });
    expect(page2.data!.items.map((i) => i.id)).toEqual(['sms_1']);
    expect(page2.data!.nextCursor).toBeNull();
    const all = await ws.client.GET('/v1/templates', {});
    expect(all.data!.items.map((i) => i.id)).toEqual(['mail_1', 'sms_3', 'sms_2', 'sms_1']);
  });

  it('answers 409 for an id that is taken', async () => {
    await t.client.POST('/v1/templates', { body: emailBody('tpl_dup') });
    const { error, response } = await unchanged(() => t.client.POST('/v1/templates', { body: emailBody('tpl_dup') }));
    expect(response.status).toBe(409);
    expect(error).toMatchObject({ status: 409, field: '/body/id' });
  });
});

describe('Liquid checks', () => {
  it('answers 400 naming the field and the line of a syntax error, and stores nothing', async () => {
    const { error, response } = await unchanged(() =>
      t.client.POST('/v1/templates', {
        body: {
          id: 'tpl_broken',
          name: 'Broken',
          channel: 'email',
          content: { subject: 'Hello {{ record.name }', text: 'Line one\nLine two {% if record.stage %} never closed' },
        },
      }),
    );
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect(error!.errors).toEqual([
      { field: '/body/content/subject', message: expect.stringMatching(/line 1\b.*not closed/) },
      { field: '/body/content/text', message: expect.stringMatching(/line 2\b.*not closed/) },
    ]);
    expect(error!.field).toBe('/body/content/subject');
    expect((await t.client.GET('/v1/templates/{id}', { params: { path: { id: 'tpl_broken' } } })).response.status).toBe(404);
  });

  it('rejects unknown filters and file includes (sandbox)', async () => {
    for (const body of ['{{ record.name | shell }}', '{% include "secrets" %}', '{% render "x" %}']) {
      const { error, response } = await unchanged(() => t.client.POST('/v1/templates', { body: { name: 'x', channel: 'sms', content: { body } } }));
      expect(response.status).toBe(400);
      expect(error!.field).toBe('/body/content/body');
      expect(error!.errors![0]!.message).toMatch(/line 1/);
    }
  });

  it('answers 400 with the pointer when a field can render past its limit (SMS body 1600, email subject 998), and stores nothing', async () => {
    const loop = await unchanged(() =>
      t.client.POST('/v1/templates', {
        body: { id: 'tpl_long_sms', name: 'Loop', channel: 'sms', content: { body: '{% for i in (1..20) %}Hi {{ record.name }}! {% endfor %}' } },
      }),
    );
    expect(loop.response.status).toBe(400);
    expect(loop.error!.errors).toEqual([
      {
        field: '/body/content/body',
        message: expect.stringMatching(/^can render to 4100 characters when its variables hold their longest values .*an SMS body takes at most 1600$/),
      },
    ]);
    const subject = await unchanged(() =>
      t.client.POST('/v1/templates', {
        body: {
          ...emailBody('tpl_long_subject'),
          content: { subject: '{{ record.name }} {{ record.name }} {{ record.name }} {{ record.name }} {{ record.name }}', text: 'x' },
        },
      }),
    );
    expect(subject.response.status).toBe(400);
    expect(subject.error!.errors).toEqual([
      { field: '/body/content/subject', message: expect.stringMatching(/^can render to 1004 characters .*an email subject takes at most 998$/) },
    ]);
    // Free-form values (attributes, event properties) are only known at send, which checks again.
    const open = await t.client.POST('/v1/templates', {
      body: { name: 'Open', channel: 'sms', content: { body: 'Hi {{ record.name }}: {{ record.attributes.note }}' } },
    });
    expect(open.response.status).toBe(201);
  });

  it('reports unknown variables as warnings, known ones silently', async () => {
    const { data, response } = await t.client.POST('/v1/templates', {
      body: {
        name: 'Vars',
        channel: 'task',
        content: {
          title: '{{ record.name }} {{ record.attributes.plan }} {{ record.externalId }}',
          body: '{{ workspace.name }} {{ recrod.name }} {{ record.nickname }} {% assign n = event.rating %}{{ n }} {% for s in record.attributes.services %}{{ s }}{% endfor %}',
        },
      },
    });
    expect(response.status).toBe(201);
    expect(data!.warnings).toEqual([
      { field: '/content/body', message: expect.stringContaining('unknown variable recrod.name') },
      { field: '/content/body', message: expect.stringContaining('unknown variable record.nickname') },
    ]);
  });

  it('renders in a sandbox: own properties only', async () => {
    const out = await renderContent(
      'sms',
      { body: '{{ record.name }}|{{ record.constructor }}|{{ record.attributes.__proto__ }}|{{ record.missing }}' },
      { record: { name: 'Ana', attributes: {} } },
    );
    expect(out.body).toBe('Ana|||');
  });
});

describe('SMS segments', () => {
  it('counts 160 GSM-7 characters as one segment and 161 as two, with a warning', async () => {
    const one = await t.client.POST('/v1/templates', { body: { name: '160', channel: 'sms', content: { body: 'a'.repeat(160) } } });
    expect(one.data!.sms).toEqual({ encoding: 'GSM-7', segments: 1, characters: 160 });
    expect(one.data!.warnings).toEqual([]);

    const two = await t.client.POST('/v1/templates', { body: { name: '161', channel: 'sms', content: { body: 'a'.repeat(161) } } });
    expect(two.response.status).toBe(201);
    expect(two.data!.sms).toEqual({ encoding: 'GSM-7', segments: 2, characters: 161 });
    expect(two.data!.warnings).toEqual([{ field: '/content/body', message: expect.stringContaining('2 SMS segments') }]);
    // Read back: the same figures.
    const got = await t.client.GET('/v1/templates/{id}', { params: { path: { id: two.data!.id } } });
    expect(got.data!.sms).toEqual({ encoding: 'GSM-7', segments: 2, characters: 161 });
  });

  it('switches to UCS-2 for Romanian diacritics (70 per segment)', async () => {
    const short = 'Bună ziua, {{ record.name }}! Mulțumim pentru rezervare.';
    const a = await t.client.POST('/v1/templates', { body: { name: 'ro', channel: 'sms', content: { body: short } } });
    expect(a.data!.sms).toMatchObject({ encoding: 'UCS-2', segments: 1 });
    expect(a.data!.warnings).toEqual([]);
    const long = 'Ș'.repeat(71);
    const b = await t.client.POST('/v1/templates', { body: { name: 'ro long', channel: 'sms', content: { body: long } } });
    expect(b.data!.sms).toEqual({ encoding: 'UCS-2', segments: 2, characters: 71 });
    expect(b.data!.warnings[0]!.message).toContain('UCS-2');
  });
});

describe('versioning', () => {
  it('writes version 2 on edit, keeps version 1 as it was, lists both', async () => {
    await t.client.POST('/v1/templates', { body: { id: 'tpl_ver', name: 'Reminder', channel: 'sms', content: { body: 'Reminder v1 {{ record.name }}' } } });
    const put = await t.client.PUT('/v1/templates/{id}', { params: { path: { id: 'tpl_ver' } }, body: { content: { body: 'Reminder v2 {{ record.name }}' } } });
    expect(put.response.status).toBe(200);
    expect(put.data).toMatchObject({ id: 'tpl_ver', version: 2, name: 'Reminder', content: { body: 'Reminder v2 {{ record.name }}' } });

    const got = await t.client.GET('/v1/templates/{id}', { params: { path: { id: 'tpl_ver' } } });
    expect(got.data).toMatchObject({ version: 2, content: { body: 'Reminder v2 {{ record.name }}' } });

    const versions = await t.client.GET('/v1/templates/{id}/versions', { params: { path: { id: 'tpl_ver' } } });
    expect(versions.data!.items.map((v) => [v.version, v.current, v.content])).toEqual([
      [2, true, { body: 'Reminder v2 {{ record.name }}' }],
      [1, false, { body: 'Reminder v1 {{ record.name }}' }],
    ]);
    const rows = await t.db
      .selectFrom('template_versions')
      .select(['version', 'content'])
      .where('workspace_id', '=', t.workspaceId)
      .where('template_id', '=', 'tpl_ver')
      .orderBy('version')
      .execute();
    expect(rows).toEqual([
      { version: 1, content: { body: 'Reminder v1 {{ record.name }}' } },
      { version: 2, content: { body: 'Reminder v2 {{ record.name }}' } },
    ]);
  });

  it("rejects an edit in another channel's shape or with a syntax error, changing nothing", async () => {
    await t.client.POST('/v1/templates', { body: { id: 'tpl_ver2', name: 'V', channel: 'sms', content: { body: 'v1' } } });
    const wrongShape = await unchanged(() =>
      t.client.PUT('/v1/templates/{id}', { params: { path: { id: 'tpl_ver2' } }, body: { content: { subject: 'x', text: 'y' } } }),
    );
    expect(wrongShape.response.status).toBe(400);
    expect(wrongShape.error!.errors).toEqual(
      expect.arrayContaining([
        { field: '/body/content/body', message: 'is required' },
        { field: '/body/content/subject', message: 'unknown field' },
      ]),
    );
    const syntax = await unchanged(() =>
      t.client.PUT('/v1/templates/{id}', { params: { path: { id: 'tpl_ver2' } }, body: { content: { body: 'a\nb\n{{ x' } } }),
    );
    expect(syntax.response.status).toBe(400);
    expect(syntax.error).toMatchObject({ field: '/body/content/body' });
    expect(syntax.error!.errors![0]!.message).toMatch(/line 3/);
  });
});

describe('strict input', () => {
  it.each([
    ['unknown top-level field', { name: 'x', channel: 'sms', content: { body: 'x' }, colour: 'red' }, '/body/colour', 'unknown field'],
    ['unknown content field', { name: 'x', channel: 'sms', content: { body: 'x', subject: 'y' } }, '/body/content/subject', 'unknown field'],
    ['wrong type', { name: 'x', channel: 'sms', content: { body: 42 } }, '/body/content/body', undefined],
    ['missing field', { name: 'x', channel: 'email', content: { text: 'x' } }, '/body/content/subject', 'is required'],
    ['unknown channel', { name: 'x', channel: 'fax', content: { body: 'x' } }, '/body/channel', undefined],
    ['bad id', { id: 'has space', name: 'x', channel: 'sms', content: { body: 'x' } }, '/body/id', undefined],
    ['email without a body', { name: 'x', channel: 'email', content: { subject: 'x' } }, '/body/content', undefined],
    [
      'a SendGrid dynamic template with an html body',
      { name: 'x', channel: 'email', content: { subject: 'x', html: '<p>x</p>', sendgridTemplateId: 'd-0123456789abcdef0123456789abcdef' } },
      '/body/content/html',
      'SendGrid renders the body of a sendgridTemplateId email: leave html out',
    ],
    [
      'a SendGrid template id not d-…',
      { name: 'x', channel: 'email', content: { subject: 'x', sendgridTemplateId: 'tpl_1' } },
      '/body/content/sendgridTemplateId',
      undefined,
    ],
    ['voicemail with both', { name: 'x', channel: 'voicemail', content: { audioUrl: 'https://a.example/x.mp3', text: 'x' } }, '/body/content', undefined],
  ])('%s answers 400 naming the field', async (_name, body, field, message) => {
    const { error, response } = await unchanged(() => t.client.POST('/v1/templates', { body: body as never }));
    expect(response.status).toBe(400);
    expect(error!.errors).toEqual(expect.arrayContaining([message ? { field, message } : expect.objectContaining({ field })]));
  });

  it('content fields at the top level are answered with the errors of the shape the body names (email), not a channel error', async () => {
    const { error, response } = await unchanged(() =>
      t.client.POST('/v1/templates', { body: { name: 'x', channel: 'email', subject: 'Hi', text: 'Hello' } as never }),
    );
    expect(response.status).toBe(400);
    expect(error!.errors).toEqual([
      { field: '/body/content', message: 'is required' },
      { field: '/body/subject', message: 'unknown field' },
      { field: '/body/text', message: 'unknown field' },
    ]);
  });

  it('rejects a bad channel filter and a bad cursor', async () => {
    const a = await t.client.GET('/v1/templates', { params: { query: { channel: 'fax' as never } } });
    expect(a.response.status).toBe(400);
    expect(a.error!.field).toBe('/querystring/channel');
    const b = await t.client.GET('/v1/templates', { params: { query: { cursor: 'nonsense' } } });
    expect(b.response.status).toBe(400);
    expect(b.error!.field).toBe('/querystring/cursor');
  });
});

describe('delete and tenancy', () => {
  it('soft-deletes: gone from the API, versions kept', async () => {
    await t.client.POST('/v1/templates', { body: { id: 'tpl_del', name: 'D', channel: 'sms', content: { body: 'bye' } } });
    const del = await t.client.DELETE('/v1/templates/{id}', { params: { path: { id: 'tpl_del' } } });
    expect(del.response.status).toBe(204);
    expect((await t.client.GET('/v1/templates/{id}', { params: { path: { id: 'tpl_del' } } })).response.status).toBe(404);
    const list = await t.client.GET('/v1/templates', {});
    expect(list.data!.items.map((i) => i.id)).not.toContain('tpl_del');
    const row = await t.db
      .selectFrom('templates')
      .select(['deleted_at'])
      .where('workspace_id', '=', t.workspaceId)
      .where('id', '=', 'tpl_del')
      .executeTakeFirstOrThrow();
    expect(row.deleted_at).toBeInstanceOf(Date);
    const versions = await t.client.GET('/v1/templates/{id}/versions', { params: { path: { id: 'tpl_del' } } });
    expect(versions.data!.items).toHaveLength(1);
    // Deleting again, or editing, finds nothing.
    expect((await unchanged(() => t.client.DELETE('/v1/templates/{id}', { params: { path: { id: 'tpl_del' } } }))).response.status).toBe(404);
    expect(
      (await unchanged(() => t.client.PUT('/v1/templates/{id}', { params: { path: { id: 'tpl_del' } }, body: { content: { body: 'x' } } }))).response.status,
    ).toBe(404);
  });

  it("answers 404 for another workspace's template and changes nothing", async () => {
    await t.client.POST('/v1/templates', { body: { id: 'tpl_mine', name: 'Mine', channel: 'sms', content: { body: 'mine' } } });
    const other = await t.otherWorkspace();
    const path = { params: { path: { id: 'tpl_mine' } } };
    const before = await snapshotWorkspace(t.db, t.workspaceId);
    expect((await other.client.GET('/v1/templates/{id}', path)).response.status).toBe(404);
    expect((await other.client.GET('/v1/templates/{id}/versions', path)).response.status).toBe(404);
    expect((await other.client.PUT('/v1/templates/{id}', { ...path, body: { content: { body: 'theirs' } } })).response.status).toBe(404);
    expect((await other.client.DELETE('/v1/templates/{id}', path)).response.status).toBe(404);
    expect((await other.client.GET('/v1/templates', {})).data!.items).toEqual([]);
    expect(await snapshotWorkspace(t.db, t.workspaceId)).toEqual(before);
    // The same id is free in the other workspace.
    expect(
      (await other.client.POST('/v1/templates', { body: { id: 'tpl_mine', name: 'Theirs', channel: 'sms', content: { body: 'x' } } })).response.status,
    ).toBe(201);
  });
});
