/**
 * Auth and tenancy against a real PostgreSQL: the admin route, API keys (create, list, revoke ->
 * 401 at once), no key, another workspace's ids, and the transport-level rejections shared by
 * every route (malformed JSON, wrong content type, oversized body, rate limit). After every
 * rejected request the workspace's rows are unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest, startTestApp, TEST_ADMIN_TOKEN, unchangedAfter, type TestApp } from '../helpers/app';
import { createApiClient } from '../client';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

const adminClient = (token: string) => createApiClient(t.baseUrl, token);

function expectProblem(res: { status: number; headers: Headers; body: any }, status: number, field?: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ type: 'about:blank', status, title: expect.any(String) });
  if (field) expect(res.body.field).toBe(field);
}

describe('POST /admin/workspaces', () => {
  it('creates a workspace whose key works at once', async () => {
    const { data, response } = await adminClient(TEST_ADMIN_TOKEN).POST('/admin/workspaces', {
      body: { name: 'Sparkle Cleaning', timezone: 'Europe/Bucharest' },
    });
    expect(response.status).toBe(201);
    expect(data).toMatchObject({
      id: expect.stringMatching(/^ws_/),
      name: 'Sparkle Cleaning',
      timezone: 'Europe/Bucharest',
      apiKey: expect.stringMatching(/^fu_/),
    });
    const own = createApiClient(t.baseUrl, data!.apiKey);
    const keys = await own.GET('/v1/api-keys');
    expect(keys.response.status).toBe(200);
    expect(keys.data!.items).toHaveLength(1);
    // The key itself is never stored or listed.
    const row = await t.db.selectFrom('api_keys').selectAll().where('workspace_id', '=', data!.id).executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(data!.apiKey);
  });

  it('rejects a wrong or missing admin token with 401 and creates nothing', async () => {
    const count = async () =>
      Number(
        (
          await t.db
            .selectFrom('workspaces')
            .select((eb) => eb.fn.countAll().as('n'))
            .where('name', '=', 'intruder')
            .executeTakeFirstOrThrow()
        ).n,
      );
    for (const key of ['wrong-token-wrong-token-wrong', t.apiKey, null]) {
      const res = await rawRequest(t, 'POST', '/admin/workspaces', { body: JSON.stringify({ name: 'intruder' }), key });
      expectProblem(res, 401, '/headers/authorization');
    }
    expect(await count()).toBe(0);
  });

  it('rejects bad input naming the field', async () => {
    const admin = adminClient(TEST_ADMIN_TOKEN);
    const cases: Array<[unknown, string]> = [
      [{}, '/body/name'],
      [{ name: '' }, '/body/name'],
      [{ name: 'x', extra: 1 }, '/body/extra'],
      [{ name: 'x', timezone: 'Mars/Olympus' }, '/body/timezone'],
      [{ name: 42 }, '/body/name'],
    ];
    for (const [body, field] of cases) {
      const { error, response } = await admin.POST('/admin/workspaces', { body: body as never });
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(error).toMatchObject({ status: 400, field });
    }
  });

  it('is off (404) when ADMIN_TOKEN is unset', async () => {
    const off = await startTestApp({ config: { ADMIN_TOKEN: undefined } });
    try {
      const res = await rawRequest(off, 'POST', '/admin/workspaces', { body: JSON.stringify({ name: 'x' }), key: TEST_ADMIN_TOKEN });
      expectProblem(res, 404);
    } finally {
      await off.close();
    }
  });
});

describe('/v1/api-keys', () => {
  it('creates a key shown once, lists prefixes only, revokes it: 401 at once', async () => {
    const created = await t.client.POST('/v1/api-keys', { body: { name: 'crm' } });
    expect(created.response.status).toBe(201);
    const key = created.data!;
    expect(key.key).toMatch(/^fu_/);
    expect(key.key.startsWith(key.prefix)).toBe(true);

    const second = t.clientWith(key.key);
    expect((await second.GET('/v1/users')).response.status).toBe(200);

    const list = await t.client.GET('/v1/api-keys');
    expect(list.data!.items.map((k) => k.id)).toContain(key.id);
    expect(JSON.stringify(list.data)).not.toContain(key.key);
    for (const item of list.data!.items) expect(Object.keys(item).sort()).toEqual(['createdAt', 'id', 'name', 'prefix', 'revokedAt']);

    const revoked = await t.client.DELETE('/v1/api-keys/{id}', { params: { path: { id: key.id } } });
    expect(revoked.response.status).toBe(204);
    // Cached a moment ago, yet refused at once.
    const after = await second.GET('/v1/users');
    expect(after.response.status).toBe(401);
    expect(after.error).toMatchObject({ status: 401, field: '/headers/authorization' });
    const listed = await t.client.GET('/v1/api-keys');
    expect(listed.data!.items.find((k) => k.id === key.id)!.revokedAt).toEqual(expect.any(String));
    // Revoking again is harmless.
    expect((await t.client.DELETE('/v1/api-keys/{id}', { params: { path: { id: key.id } } })).response.status).toBe(204);
  });

  it('pages with limit and cursor', async () => {
    for (const name of ['p1', 'p2', 'p3']) await t.client.POST('/v1/api-keys', { body: { name } });
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 20; i++) {
      const page = await t.client.GET('/v1/api-keys', { params: { query: { limit: 2, ...(cursor ? { cursor } : {}) } } });
      expect(page.response.status).toBe(200);
      expect(page.data!.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.data!.items.map((k) => k.id));
      if (!page.data!.nextCursor) break;
      cursor = page.data!.nextCursor;
    }
    const all = await t.db.selectFrom('api_keys').select('id').where('workspace_id', '=', t.workspaceId).execute();
    expect(seen.sort()).toEqual(all.map((r) => r.id).sort());
  });

  it("answers 404 for another workspace's key and leaves it working", async () => {
    const other = await t.otherWorkspace();
    const theirs = await other.client.GET('/v1/api-keys');
    const theirId = theirs.data!.items[0]!.id;
    const res = await unchangedAfter(t, () => t.client.DELETE('/v1/api-keys/{id}', { params: { path: { id: theirId } } }));
    expect(res.response.status).toBe(404);
    expect((await other.client.GET('/v1/api-keys')).response.status).toBe(200);
  });

  it('rejects bad input naming the field and changes nothing', async () => {
    const cases: Array<[unknown, string]> = [
      [{}, '/body/name'],
      [{ name: '' }, '/body/name'],
      [{ name: 'a', scope: 'all' }, '/body/scope'],
      [{ name: 5 }, '/body/name'],
    ];
    for (const [body, field] of cases) {
      const { error, response } = await unchangedAfter(t, () => t.client.POST('/v1/api-keys', { body: body as never }));
      expect(response.status).toBe(400);
      expect(error).toMatchObject({ field });
    }
  });
});

describe('authentication on every /v1 route', () => {
  const routes: Array<[string, string, unknown?]> = [
    ['GET', '/v1/records'],
    ['PUT', '/v1/records/r1', { stage: 'x' }],
    ['GET', '/v1/records/r1'],
    ['POST', '/v1/events', { type: 'a', recordId: 'r1' }],
    ['POST', '/v1/events/batch', { events: [{ type: 'a', recordId: 'r1' }] }],
    ['GET', '/v1/users'],
    ['POST', '/v1/users', { name: 'x' }],
    ['GET', '/v1/users/u'],
    ['PUT', '/v1/users/u', { name: 'x' }],
    ['DELETE', '/v1/users/u'],
    ['GET', '/v1/api-keys'],
    ['POST', '/v1/api-keys', { name: 'x' }],
    ['DELETE', '/v1/api-keys/k'],
    ['GET', '/v1/webhook-endpoints'],
    ['POST', '/v1/webhook-endpoints', { url: 'https://x.example' }],
    ['GET', '/v1/webhook-endpoints/w'],
    ['DELETE', '/v1/webhook-endpoints/w'],
    ['GET', '/v1/messages'],
    ['GET', '/v1/messages/m'],
    ['GET', '/v1/tasks'],
    ['GET', '/v1/tasks/t'],
    ['PATCH', '/v1/tasks/t', { status: 'done' }],
  ];
  it('answers 401 problem+json without a key, with an unknown key and with a malformed header, and changes nothing', async () => {
    for (const [method, path, body] of routes) {
      for (const opts of [{ key: null }, { key: 'fu_unknownkeyunknownkeyunknownkey12' }, { key: null, headers: { authorization: 'Basic abc' } }]) {
        const res = await unchangedAfter(t, () => rawRequest(t, method, path, { ...opts, ...(body ? { body: JSON.stringify(body) } : {}) }));
        expect(res.status, `${method} ${path}`).toBe(401);
        expect(res.headers.get('www-authenticate')).toBe('Bearer');
        expectProblem(res, 401, '/headers/authorization');
      }
    }
  });
});

describe('transport-level rejections', () => {
  const writes: Array<[string, string]> = [
    ['PUT', '/v1/records/r1'],
    ['POST', '/v1/events'],
    ['POST', '/v1/events/batch'],
    ['POST', '/v1/users'],
    ['PUT', '/v1/users/u1'],
    ['POST', '/v1/api-keys'],
    ['POST', '/v1/webhook-endpoints'],
    ['PATCH', '/v1/tasks/t1'],
  ];

  it('malformed JSON: 400 naming /body', async () => {
    for (const [method, path] of writes) {
      const res = await unchangedAfter(t, () => rawRequest(t, method, path, { body: '{"name": "x",' }));
      expectProblem(res, 400, '/body');
    }
  });

  it('empty JSON body: 400', async () => {
    for (const [method, path] of writes) {
      const res = await unchangedAfter(t, () => rawRequest(t, method, path, { body: '' }));
      expectProblem(res, 400);
    }
  });

  it('wrong content type: 415 naming the header', async () => {
    for (const [method, path] of writes) {
      for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
        const res = await unchangedAfter(t, () => rawRequest(t, method, path, { body: 'name=x', contentType }));
        expectProblem(res, 415, '/headers/content-type');
      }
    }
  });

  it('oversized body: 413', async () => {
    const huge = JSON.stringify({ type: 'a', recordId: 'r1', properties: { blob: 'x'.repeat(t.app.config.BODY_LIMIT_BYTES + 10) } });
    for (const [method, path] of writes) {
      const res = await unchangedAfter(t, () => rawRequest(t, method, path, { body: huge }));
      expectProblem(res, 413);
    }
  });

  it('unknown route: 404 problem+json', async () => {
    const res = await rawRequest(t, 'GET', '/v1/nothing-here');
    expectProblem(res, 404);
  });
});

describe('rate limit', () => {
  it('answers 429 with Retry-After once a key exceeds its budget, per key', async () => {
    const limited = await startTestApp({ config: { RATE_LIMIT_PER_MINUTE: 3 } });
    try {
      for (let i = 0; i < 3; i++) expect((await limited.client.GET('/v1/users')).response.status).toBe(200);
      const res = await unchangedAfter(limited, () => rawRequest(limited, 'POST', '/v1/events', { body: JSON.stringify({ type: 'a', recordId: 'r1' }) }));
      expectProblem(res, 429);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      // Another key has its own budget.
      const other = await limited.otherWorkspace();
      expect((await other.client.GET('/v1/users')).response.status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});
