/**
 * /v1/records against a real PostgreSQL: upsert (201/200), attribute merge, record_changed outbox
 * rows with the changed fields in the same transaction, stage_changed_at, no-op upserts, lists
 * with filters and cursors, strict input and tenancy. Rejected requests change nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest, startTestApp, unchangedAfter, type TestApp } from '../helpers/app';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await t.client.POST('/v1/users', { body: { id: 'maria', name: 'Maria' } });
  await t.client.POST('/v1/users', { body: { id: 'ion', name: 'Ion' } });
});
afterAll(async () => {
  await t?.close();
});

const outboxOf = (recordId: string) =>
  t.db
    .selectFrom('outbox')
    .select(['kind', 'record_id', 'payload'])
    .where('workspace_id', '=', t.workspaceId)
    .where('record_id', '=', recordId)
    .orderBy('id')
    .execute();

describe('PUT /v1/records/{externalId}', () => {
  it('creates (201), then updates (200), with camelCase ISO answers', async () => {
    const created = await t.client.PUT('/v1/records/{externalId}', {
      params: { path: { externalId: 'lead-1' } },
      body: {
        email: 'ana@example.com',
        phone: '+40712345678',
        name: 'Ana',
        timezone: 'Europe/Bucharest',
        stage: 'lead',
        ownerId: 'maria',
        attributes: { plan: 'pro', service: 'cleaning' },
      },
    });
    expect(created.response.status).toBe(201);
    expect(created.data).toMatchObject({
      recordId: 'lead-1',
      externalId: 'lead-1',
      email: 'ana@example.com',
      stage: 'lead',
      ownerId: 'maria',
      timezone: 'Europe/Bucharest',
      attributes: { plan: 'pro', service: 'cleaning' },
      unsubscribed: { email: false, sms: false, voicemail: false },
    });
    expect(created.data!.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(created.data!.stageChangedAt).toEqual(expect.any(String));

    const outbox = await outboxOf('lead-1');
    expect(outbox).toHaveLength(1);
    expect(outbox[0]!.kind).toBe('record_changed');
    expect(outbox[0]!.payload).toMatchObject({
      kind: 'record_changed',
      recordId: 'lead-1',
      created: true,
      changes: { stage: 'lead', ownerId: 'maria', 'attributes.plan': 'pro' },
    });

    const updated = await t.client.PUT('/v1/records/{externalId}', { params: { path: { externalId: 'lead-1' } }, body: { name: 'Ana Pop' } });
    expect(updated.response.status).toBe(200);
    expect(updated.data).toMatchObject({ name: 'Ana Pop', email: 'ana@example.com', stage: 'lead' });
    expect(updated.data!.stageChangedAt).toBe(created.data!.stageChangedAt);
  });

  it('writes record_changed with only the changed fields, sets stageChangedAt on a stage change', async () => {
    const put = (body: object) => t.client.PUT('/v1/records/{externalId}', { params: { path: { externalId: 'lead-2' } }, body });
    await put({ stage: 'lead', attributes: { plan: 'free', city: 'Cluj' } });
    const before = (await t.client.GET('/v1/records/{externalId}', { params: { path: { externalId: 'lead-2' } } })).data!;
    await new Promise((r) => setTimeout(r, 5));
    const res = await put({ stage: 'customer', attributes: { plan: 'pro', city: 'Cluj' } });
    expect(res.data!.stageChangedAt! > before.stageChangedAt!).toBe(true);
    const rows = await outboxOf('lead-2');
    expect(rows).toHaveLength(2);
    expect(rows[1]!.payload).toMatchObject({ created: false, changes: { stage: 'customer', 'attributes.plan': 'pro' } });
    expect(Object.keys((rows[1]!.payload as { changes: object }).changes).sort()).toEqual(['attributes.plan', 'stage']);

    // A change that leaves the stage alone keeps stageChangedAt.
    const other = await put({ attributes: { plan: 'enterprise' } });
    expect(other.data!.stageChangedAt).toBe(res.data!.stageChangedAt);
  });

  it('an upsert that changes nothing writes nothing (same updatedAt, no outbox row)', async () => {
    const body = { stage: 'lead', attributes: { plan: 'pro', nested: { a: [1, 2] } }, unsubscribed: { sms: false } };
    await t.client.PUT('/v1/records/{externalId}', { params: { path: { externalId: 'lead-3' } }, body });
    const first = await t.client.GET('/v1/records/{externalId}', { params: { path: { externalId: 'lead-3' } } });
    const res = await unchangedAfter(t, () => t.client.PUT('/v1/records/{externalId}', { params: { path: { externalId: 'lead-3' } }, body }));
    expect(res.response.status).toBe(200);
    expect(res.data!.updatedAt).toBe(first.data!.updatedAt);
    expect(await outboxOf('lead-3')).toHaveLength(1);
  });

  it('merges attributes key by key; null removes a key; unsubscribed merges per channel; null clears a field', async () => {
    const put = (body: object) => t.client.PUT('/v1/records/{externalId}', { params: { path: { externalId: 'lead-4' } }, body });
    await put({ email: 'x@example.com', attributes: { a: 1, b: 2 }, unsubscribed: { email: true } });
    const res = await put({ email: null, attributes: { b: null, c: 3 }, unsubscribed: { sms: true } });
    expect(res.data).toMatchObject({ email: null, attributes: { a: 1, c: 3 }, unsubscribed: { email: true, sms: true, voicemail: false } });
    expect(res.data!.attributes).not.toHaveProperty('b');
    const rows = await outboxOf('lead-4');
    expect(rows[1]!.payload).toMatchObject({ changes: { email: null, 'attributes.b': null, 'attributes.c': 3, 'unsubscribed.sms': true } });
  });

  it('rejects bad input naming the field and changes nothing', async () => {
    await t.client.PUT('/v1/records/{externalId}', { params: { path: { externalId: 'lead-5' } }, body: { stage: 'lead' } });
    const cases: Array<[unknown, number, string]> = [
      [{ stage: 5 }, 400, '/body/stage'],
      [{ email: 'not-an-email' }, 400, '/body/email'],
      [{ timezone: 'Europe/Atlantis' }, 400, '/body/timezone'],
      [{ timezone: 'EST5EDT-nope' }, 400, '/body/timezone'],
      [{ attributes: 'plan=pro' }, 400, '/body/attributes'],
      [{ attributes: [1, 2] }, 400, '/body/attributes'],
      [{ unsubscribed: { fax: true } }, 400, '/body/unsubscribed/fax'],
      [{ unsubscribed: { sms: 'yes' } }, 400, '/body/unsubscribed/sms'],
      [{ stage: 'won', colour: 'red' }, 400, '/body/colour'],
      [{ phone: 'call me' }, 400, '/body/phone'],
      [{ ownerId: 'nobody' }, 422, '/body/ownerId'],
      [[], 400, '/body'],
    ];
    for (const ext of ['lead-5', 'brand-new']) {
      for (const [body, status, field] of cases) {
        const res = await unchangedAfter(t, () => t.client.PUT('/v1/records/{externalId}', { params: { path: { externalId: ext } }, body: body as never }));
        expect(res.response.status, JSON.stringify(body)).toBe(status);
        expect(res.response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(res.error).toMatchObject({ status, field });
      }
    }
  });

  it('refuses an attribute flood (keys, size, nesting, reserved keys) with the pointer and the limit, writing nothing', async () => {
    await t.client.PUT('/v1/records/{externalId}', { params: { path: { externalId: 'lead-flood' } }, body: { attributes: { kept: 1 } } });
    const many = (n: number, prefix = 'k') => Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, i]));
    let deep: unknown = 1;
    for (let i = 0; i < 7; i++) deep = { d: deep };
    const cases: Array<[unknown, number, string, RegExp]> = [
      [{ attributes: many(201) }, 400, '/body/attributes', /200/],
      [{ attributes: { big: 'x'.repeat(70_000) } }, 413, '/body/attributes', /^\/body\/attributes: may take at most 65536 bytes as JSON \(takes 70010\)$/],
      [{ attributes: { deep } }, 400, '/body/attributes/deep/d/d/d/d/d', /nests deeper than 5 levels/],
      [{ attributes: { constructor: 'x' } }, 400, '/body/attributes/constructor', /"constructor" is a reserved key/],
      [{ attributes: { a: [{ prototype: 1 }] } }, 400, '/body/attributes/a/0/prototype', /"prototype" is a reserved key/],
    ];
    for (const ext of ['lead-flood', 'brand-new-flood']) {
      for (const [body, status, field, detail] of cases) {
        const res = await unchangedAfter(t, () => t.client.PUT('/v1/records/{externalId}', { params: { path: { externalId: ext } }, body: body as never }));
        expect(res.response.status, JSON.stringify(body).slice(0, 80)).toBe(status);
        expect(res.response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(res.error).toMatchObject({ status, field });
        expect(res.error?.detail).toMatch(detail);
      }
    }
    // The merged attributes are held to the limit too: 150 + 60 new keys is refused, the 150 kept.
    expect(
      (await t.client.PUT('/v1/records/{externalId}', { params: { path: { externalId: 'lead-flood' } }, body: { attributes: many(149) } })).response.status,
    ).toBe(200);
    const merged = await unchangedAfter(t, () =>
      t.client.PUT('/v1/records/{externalId}', { params: { path: { externalId: 'lead-flood' } }, body: { attributes: many(60, 'x') } }),
    );
    expect(merged.response.status).toBe(400);
    expect(merged.error).toMatchObject({ status: 400, field: '/body/attributes', detail: '/body/attributes: may hold at most 200 keys (has 210)' });
  });

  it('rejects a bad path id', async () => {
    const res = await unchangedAfter(t, () => rawRequest(t, 'PUT', '/v1/records/has%20space', { body: '{}' }));
    expect(res.status).toBe(400);
    expect(res.body.field).toBe('/params/externalId');
    // Ids are at most 100 characters: a longer one is refused by the schema, naming it (it was a bare 414 from Fastify's router).
    const long = await unchangedAfter(t, () => rawRequest(t, 'PUT', `/v1/records/${'x'.repeat(101)}`, { body: '{}' }));
    expect(long.status).toBe(400);
    expect(long.body.field).toBe('/params/externalId');
  });
});

describe('GET /v1/records', () => {
  it('reads one; an unknown id is 404', async () => {
    const got = await t.client.GET('/v1/records/{externalId}', { params: { path: { externalId: 'lead-1' } } });
    expect(got.data!.recordId).toBe('lead-1');
    const missing = await t.client.GET('/v1/records/{externalId}', { params: { path: { externalId: 'nope' } } });
    expect(missing.response.status).toBe(404);
    expect(missing.error).toMatchObject({ status: 404, title: 'Not Found' });
  });

  it('lists by stage and owner, paging with limit and cursor', async () => {
    for (let i = 0; i < 7; i++) {
      await t.client.PUT('/v1/records/{externalId}', {
        params: { path: { externalId: `page-${i}` } },
        body: { stage: 'paged', ownerId: i % 2 ? 'ion' : 'maria' },
      });
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { data?: { items: Array<{ recordId: string }>; nextCursor: string | null }; response: Response } = await t.client.GET('/v1/records', {
        params: { query: { stage: 'paged', limit: 3, ...(cursor ? { cursor } : {}) } },
      });
      expect(page.response.status).toBe(200);
      expect(page.data!.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.data!.items.map((r) => r.recordId));
      cursor = page.data!.nextCursor;
    } while (cursor);
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `page-${i}`));

    const ions = await t.client.GET('/v1/records', { params: { query: { stage: 'paged', ownerId: 'ion' } } });
    expect(ions.data!.items.map((r) => r.recordId)).toEqual(['page-1', 'page-3', 'page-5']);
    expect(ions.data!.nextCursor).toBeNull();
  });

  it('rejects bad list queries naming the parameter', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ limit: 0 }, '/querystring/limit'],
      [{ limit: 1000 }, '/querystring/limit'],
      [{ limit: 'ten' }, '/querystring/limit'],
      [{ cursor: 'garbage!' }, '/querystring/cursor'],
      [{ colour: 'red' }, '/querystring/colour'],
    ];
    for (const [query, field] of cases) {
      const res = await t.client.GET('/v1/records', { params: { query: query as never } });
      expect(res.response.status, JSON.stringify(query)).toBe(400);
      expect(res.error).toMatchObject({ field });
    }
  });
});

describe('tenancy', () => {
  it("another workspace neither reads nor writes this workspace's records", async () => {
    const other = await t.otherWorkspace();
    const read = await other.client.GET('/v1/records/{externalId}', { params: { path: { externalId: 'lead-1' } } });
    expect(read.response.status).toBe(404);
    expect(JSON.stringify(read.error)).not.toContain('ana@example.com');
    const list = await other.client.GET('/v1/records');
    expect(list.data!.items).toEqual([]);
    // The same external id in the other workspace is a different record.
    const put = await unchangedAfter(t, () =>
      other.client.PUT('/v1/records/{externalId}', { params: { path: { externalId: 'lead-1' } }, body: { name: 'Someone else' } }),
    );
    expect(put.response.status).toBe(201);
    const mine = await t.client.GET('/v1/records/{externalId}', { params: { path: { externalId: 'lead-1' } } });
    expect(mine.data!.name).toBe('Ana Pop');
    // An owner from another workspace is unknown here.
    await other.client.POST('/v1/users', { body: { id: 'theirs', name: 'Theirs' } });
    const owner = await unchangedAfter(t, () =>
      t.client.PUT('/v1/records/{externalId}', { params: { path: { externalId: 'lead-1' } }, body: { ownerId: 'theirs' } }),
    );
    expect(owner.response.status).toBe(422);
  });
});
