/** /v1/users against a real PostgreSQL: CRUD, conflicts, strict input, tenancy; rejections change nothing. */
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

describe('/v1/users', () => {
  it('creates with a given or generated id, reads, replaces, lists and deletes', async () => {
    const a = await t.client.POST('/v1/users', { body: { id: 'maria', name: 'Maria', email: 'maria@agency.example', timezone: 'Europe/Bucharest' } });
    expect(a.response.status).toBe(201);
    expect(a.data).toMatchObject({ id: 'maria', name: 'Maria', email: 'maria@agency.example', phone: null, timezone: 'Europe/Bucharest' });
    const b = await t.client.POST('/v1/users', { body: { name: 'Generated' } });
    expect(b.data!.id).toMatch(/^usr_/);

    expect((await t.client.GET('/v1/users/{id}', path('maria'))).data!.name).toBe('Maria');

    const replaced = await t.client.PUT('/v1/users/{id}', { ...path('maria'), body: { name: 'Maria I.', phone: '+40722000111' } });
    expect(replaced.response.status).toBe(200);
    // A replace: the email not sent is now null.
    expect(replaced.data).toMatchObject({ name: 'Maria I.', phone: '+40722000111', email: null, timezone: null });

    const list = await t.client.GET('/v1/users', { params: { query: { limit: 1 } } });
    expect(list.data!.items).toHaveLength(1);
    const next = await t.client.GET('/v1/users', { params: { query: { limit: 1, cursor: list.data!.nextCursor! } } });
    expect(next.data!.items).toHaveLength(1);
    expect(next.data!.nextCursor).toBeNull();
    expect([...list.data!.items, ...next.data!.items].map((u) => u.id).sort()).toEqual([b.data!.id, 'maria'].sort());

    expect((await t.client.DELETE('/v1/users/{id}', path(b.data!.id))).response.status).toBe(204);
    expect((await t.client.GET('/v1/users/{id}', path(b.data!.id))).response.status).toBe(404);
  });

  it('answers 409 for a taken id and for deleting an owner, changing nothing', async () => {
    const dup = await unchangedAfter(t, () => t.client.POST('/v1/users', { body: { id: 'maria', name: 'Again' } }));
    expect(dup.response.status).toBe(409);
    expect(dup.error).toMatchObject({ field: '/body/id' });

    await t.client.PUT('/v1/records/{externalId}', { params: { path: { externalId: 'owned' } }, body: { ownerId: 'maria' } });
    const del = await unchangedAfter(t, () => t.client.DELETE('/v1/users/{id}', path('maria')));
    expect(del.response.status).toBe(409);
    await t.client.PUT('/v1/records/{externalId}', { params: { path: { externalId: 'owned' } }, body: { ownerId: null } });
    await t.db.insertInto('tasks').values({ id: 'tsk_open_for_maria', workspace_id: t.workspaceId, title: 'Call', assignee_id: 'maria' }).execute();
    const del2 = await unchangedAfter(t, () => t.client.DELETE('/v1/users/{id}', path('maria')));
    expect(del2.response.status).toBe(409);
  });

  it('rejects bad input naming the field and changes nothing', async () => {
    const creates: Array<[unknown, string]> = [
      [{}, '/body/name'],
      [{ name: '' }, '/body/name'],
      [{ name: 3 }, '/body/name'],
      [{ name: 'x', role: 'admin' }, '/body/role'],
      [{ name: 'x', email: 'nope' }, '/body/email'],
      [{ name: 'x', timezone: 'Nowhere/Land' }, '/body/timezone'],
      [{ id: 'has space', name: 'x' }, '/body/id'],
    ];
    for (const [body, field] of creates) {
      const res = await unchangedAfter(t, () => t.client.POST('/v1/users', { body: body as never }));
      expect(res.response.status, JSON.stringify(body)).toBe(400);
      expect(res.error).toMatchObject({ field });
    }
    const replaces: Array<[unknown, string]> = [
      [{}, '/body/name'],
      [{ name: 'x', id: 'other' }, '/body/id'],
      [{ name: 'x', phone: false }, '/body/phone'],
    ];
    for (const [body, field] of replaces) {
      const res = await unchangedAfter(t, () => t.client.PUT('/v1/users/{id}', { ...path('maria'), body: body as never }));
      expect(res.response.status, JSON.stringify(body)).toBe(400);
      expect(res.error).toMatchObject({ field });
    }
    const missing = await unchangedAfter(t, () => t.client.PUT('/v1/users/{id}', { ...path('ghost'), body: { name: 'x' } }));
    expect(missing.response.status).toBe(404);
  });

  it("never shows or touches another workspace's users", async () => {
    const other = await t.otherWorkspace();
    await other.client.POST('/v1/users', { body: { id: 'theirs', name: 'Secret Name' } });
    for (const res of [
      await unchangedAfter(t, () => t.client.GET('/v1/users/{id}', path('theirs'))),
      await unchangedAfter(t, () => t.client.PUT('/v1/users/{id}', { ...path('theirs'), body: { name: 'Hijack' } })),
      await unchangedAfter(t, () => t.client.DELETE('/v1/users/{id}', path('theirs'))),
    ]) {
      expect(res.response.status).toBe(404);
      expect(JSON.stringify(res.error)).not.toContain('Secret Name');
    }
    expect((await other.client.GET('/v1/users/{id}', path('theirs'))).data!.name).toBe('Secret Name');
    const mine = await t.client.GET('/v1/users');
    expect(mine.data!.items.map((u) => u.id)).not.toContain('theirs');
    // The same id may exist in both workspaces.
    expect((await t.client.POST('/v1/users', { body: { id: 'theirs', name: 'Mine' } })).response.status).toBe(201);
  });
});
