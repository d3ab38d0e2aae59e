/** /v1/webhook-endpoints against a real PostgreSQL: secret shown once, http(s) only, soft delete, tenancy. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, unchangedAfter, type TestApp } from '../helpers/app';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

const path = (id: string) => ({ params: { path: { id } } });

describe('/v1/webhook-endpoints', () => {
  it('creates with a generated secret shown once; reads and lists without it; deletes', async () => {
    const created = await t.client.POST('/v1/webhook-endpoints', {
      body: { url: 'https://crm.example.com/hooks', description: 'CRM', events: ['enrollment.completed'] },
    });
    expect(created.response.status).toBe(201);
    const ep = created.data!;
    expect(ep).toMatchObject({ url: 'https://crm.example.com/hooks', description: 'CRM', events: ['enrollment.completed'] });
    expect(ep.secret).toMatch(/^whsec_[A-Za-z0-9]{32}$/);

    const got = await t.client.GET('/v1/webhook-endpoints/{id}', path(ep.id));
    expect(got.data).toMatchObject({ id: ep.id, url: ep.url });
    expect(JSON.stringify(got.data)).not.toContain(ep.secret);
    const list = await t.client.GET('/v1/webhook-endpoints');
    expect(list.data!.items.map((e) => e.id)).toEqual([ep.id]);
    expect(JSON.stringify(list.data)).not.toContain(ep.secret);

    const second = await t.client.POST('/v1/webhook-endpoints', { body: { url: 'http://127.0.0.1:9999/x' } });
    expect(second.data!.secret).not.toBe(ep.secret);

    expect((await t.client.DELETE('/v1/webhook-endpoints/{id}', path(ep.id))).response.status).toBe(204);
    expect((await t.client.GET('/v1/webhook-endpoints/{id}', path(ep.id))).response.status).toBe(404);
    expect((await t.client.DELETE('/v1/webhook-endpoints/{id}', path(ep.id))).response.status).toBe(404);
    expect((await t.client.GET('/v1/webhook-endpoints')).data!.items.map((e) => e.id)).toEqual([second.data!.id]);
    // The row is kept for history.
    expect(await t.db.selectFrom('webhook_endpoints').select('deleted_at').where('id', '=', ep.id).executeTakeFirstOrThrow()).toMatchObject({
      deleted_at: expect.any(Date),
    });
  });

  it('rejects bad input naming the field and changes nothing', async () => {
    const cases: Array<[unknown, string]> = [
      [{}, '/body/url'],
      [{ url: 'ftp://files.example.com/x' }, '/body/url'],
      [{ url: 'not a url at all' }, '/body/url'],
      [{ url: 'javascript:alert(1)' }, '/body/url'],
      [{ url: 'https://user:pw@x.example/h' }, '/body/url'],
      [{ url: 5 }, '/body/url'],
      [{ url: 'https://x.example', secret: 'mine' }, '/body/secret'],
      [{ url: 'https://x.example', events: 'all' }, '/body/events'],
      [{ url: 'https://x.example', events: ['a', 'a'] }, '/body/events'],
    ];
    for (const [body, field] of cases) {
      const res = await unchangedAfter(t, () => t.client.POST('/v1/webhook-endpoints', { body: body as never }));
      expect(res.response.status, JSON.stringify(body)).toBe(400);
      expect(res.error).toMatchObject({ field });
    }
  });

  it("answers 404 for another workspace's endpoint, for reads and deletes", async () => {
    const other = await t.otherWorkspace();
    const theirs = (await other.client.POST('/v1/webhook-endpoints', { body: { url: 'https://other.example/h' } })).data!;
    expect((await unchangedAfter(t, () => t.client.GET('/v1/webhook-endpoints/{id}', path(theirs.id)))).response.status).toBe(404);
    expect((await unchangedAfter(t, () => t.client.DELETE('/v1/webhook-endpoints/{id}', path(theirs.id)))).response.status).toBe(404);
    expect((await other.client.GET('/v1/webhook-endpoints/{id}', path(theirs.id))).response.status).toBe(200);
  });
});
