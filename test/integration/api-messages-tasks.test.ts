/**
 * /v1/messages (read-only) and /v1/tasks against a real PostgreSQL. Rows are written the way the
 * send and task activities write them (direct inserts): the API only reads them, and changes a
 * task's status.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, unchangedAfter, type TestApp } from '../helpers/app';
import type { Db } from '#db/connection';

let t: TestApp;
let other: Awaited<ReturnType<TestApp['otherWorkspace']>>;

async function seed(db: Db, workspaceId: string, prefix: string): Promise<void> {
  const base = Date.parse('2026-11-23T10:00:00Z');
  const at = (min: number) => new Date(base + min * 60_000);
  await db
    .insertInto('messages')
    .values([
      {
        id: `${prefix}m1`,
        workspace_id: workspaceId,
        idempotency_key: `${prefix}k1`,
        automation_id: 'aut_a',
        step_id: 'ask',
        record_id: 'r1',
        channel: 'email',
        to: 'ana@example.com',
        variant: 'A',
        subject: 'How was it?',
        body: '<p>Hi Ana</p>',
        status: 'sandboxed',
        created_at: at(1),
      },
      {
        id: `${prefix}m2`,
        workspace_id: workspaceId,
        idempotency_key: `${prefix}k2`,
        automation_id: 'aut_a',
        step_id: 'sms1',
        record_id: 'r1',
        channel: 'sms',
        to: '+40712345678',
        body: 'Hi Ana',
        segments: 1,
        status: 'sent',
        provider_id: 'SM1',
        created_at: at(2),
        sent_at: at(2),
      },
      {
        id: `${prefix}m3`,
        workspace_id: workspaceId,
        idempotency_key: `${prefix}k3`,
        automation_id: 'aut_b',
        step_id: 'ask',
        record_id: 'r2',
        channel: 'email',
        to: 'bob@example.com',
        status: 'failed',
        error: 'invalid address',
        created_at: at(3),
      },
      // Same time as m3: the (created_at, id) cursor must not skip or repeat it.
      {
        id: `${prefix}m4`,
        workspace_id: workspaceId,
        idempotency_key: `${prefix}k4`,
        automation_id: 'aut_b',
        step_id: 'ask',
        record_id: 'r2',
        channel: 'email',
        to: 'bob@example.com',
        status: 'queued',
        created_at: at(3),
      },
    ])
    .execute();
  await db
    .insertInto('tasks')
    .values([
      {
        id: `${prefix}t1`,
        workspace_id: workspaceId,
        automation_id: 'aut_a',
        step_id: 'urgent',
        record_id: 'r1',
        assignee_id: 'maria',
        title: 'Call Ana back',
        priority: 'urgent',
        created_at: at(1),
        due_at: at(60),
      },
      { id: `${prefix}t2`, workspace_id: workspaceId, record_id: 'r2', assignee_id: 'ion', title: 'Send a quote', created_at: at(2) },
      {
        id: `${prefix}t3`,
        workspace_id: workspaceId,
        record_id: 'r2',
        assignee_id: 'maria',
        title: 'Done already',
        status: 'done',
        created_at: at(3),
        completed_at: at(4),
      },
    ])
    .execute();
}

beforeAll(async () => {
  t = await startTestApp();
  other = await t.otherWorkspace();
  await seed(t.db, t.workspaceId, 'mine_');
  await seed(t.db, other.workspaceId, 'theirs_');
});
afterAll(async () => {
  await t?.close();
});

describe('GET /v1/messages', () => {
  it('lists newest first with the docs/design.md §7.2 fields, only this workspace', async () => {
    const res = await t.client.GET('/v1/messages');
    expect(res.response.status).toBe(200);
    expect(res.data!.items.map((m) => m.id)).toEqual(['mine_m4', 'mine_m3', 'mine_m2', 'mine_m1']);
    const sms = res.data!.items.find((m) => m.id === 'mine_m2')!;
    expect(sms).toMatchObject({
      enrollmentId: null,
      automationId: 'aut_a',
      stepId: 'sms1',
      recordId: 'r1',
      channel: 'sms',
      to: '+40712345678',
      status: 'sent',
      variant: null,
      subject: null,
      body: 'Hi Ana',
      segments: 1,
      error: null,
      createdAt: '2026-11-23T10:02:00.000Z',
      sentAt: '2026-11-23T10:02:00.000Z',
    });
  });

  it('filters by recordId, automationId, channel and status', async () => {
    const ids = async (query: Record<string, string>) =>
      (await t.client.GET('/v1/messages', { params: { query: query as never } })).data!.items.map((m) => m.id);
    expect(await ids({ recordId: 'r1' })).toEqual(['mine_m2', 'mine_m1']);
    expect(await ids({ automationId: 'aut_b' })).toEqual(['mine_m4', 'mine_m3']);
    expect(await ids({ channel: 'sms' })).toEqual(['mine_m2']);
    expect(await ids({ status: 'failed' })).toEqual(['mine_m3']);
    expect(await ids({ recordId: 'r1', channel: 'email' })).toEqual(['mine_m1']);
  });

  it('pages by cursor without skipping rows created at the same instant', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await t.client.GET('/v1/messages', { params: { query: { limit: 1, ...(cursor ? { cursor } : {}) } } });
      seen.push(...page.data!.items.map((m) => m.id));
      if (!page.data!.nextCursor) break;
      cursor = page.data!.nextCursor;
    }
    expect(seen).toEqual(['mine_m4', 'mine_m3', 'mine_m2', 'mine_m1']);
  });

  it("reads one; another workspace's message is 404", async () => {
    expect((await t.client.GET('/v1/messages/{id}', { params: { path: { id: 'mine_m3' } } })).data).toMatchObject({ error: 'invalid address' });
    expect((await t.client.GET('/v1/messages/{id}', { params: { path: { id: 'theirs_m3' } } })).response.status).toBe(404);
  });

  it('rejects bad queries naming the parameter', async () => {
    for (const [query, field] of [
      [{ channel: 'fax' }, '/querystring/channel'],
      [{ status: 'lost' }, '/querystring/status'],
      [{ to: 'x' }, '/querystring/to'],
      [{ limit: -1 }, '/querystring/limit'],
    ] as const) {
      const res = await t.client.GET('/v1/messages', { params: { query: query as never } });
      expect(res.response.status).toBe(400);
      expect(res.error).toMatchObject({ field });
    }
  });
});

describe('/v1/tasks', () => {
  it('lists newest first, filters by assignee and status', async () => {
    const ids = async (query: Record<string, string> = {}) =>
      (await t.client.GET('/v1/tasks', { params: { query: query as never } })).data!.items.map((x) => x.id);
    expect(await ids()).toEqual(['mine_t3', 'mine_t2', 'mine_t1']);
    expect(await ids({ assignee: 'maria' })).toEqual(['mine_t3', 'mine_t1']);
    expect(await ids({ assignee: 'maria', status: 'open' })).toEqual(['mine_t1']);
    const one = (await t.client.GET('/v1/tasks/{id}', { params: { path: { id: 'mine_t1' } } })).data!;
    expect(one).toMatchObject({
      recordId: 'r1',
      assignee: 'maria',
      title: 'Call Ana back',
      priority: 'urgent',
      status: 'open',
      dueAt: '2026-11-23T11:00:00.000Z',
      completedAt: null,
    });
  });

  it('PATCH sets the status: done sets completedAt, open clears it', async () => {
    const done = await t.client.PATCH('/v1/tasks/{id}', { params: { path: { id: 'mine_t2' } }, body: { status: 'done' } });
    expect(done.response.status).toBe(200);
    expect(done.data).toMatchObject({ status: 'done', completedAt: expect.any(String) });
    const reopened = await t.client.PATCH('/v1/tasks/{id}', { params: { path: { id: 'mine_t2' } }, body: { status: 'open' } });
    expect(reopened.data).toMatchObject({ status: 'open', completedAt: null });
  });

  it("rejects bad input and other workspaces' tasks, changing nothing", async () => {
    for (const [body, field] of [
      [{ status: 'finished' }, '/body/status'],
      [{}, '/body/status'],
      [{ status: 'done', title: 'x' }, '/body/title'],
      [{ status: 1 }, '/body/status'],
    ] as const) {
      const res = await unchangedAfter(t, () => t.client.PATCH('/v1/tasks/{id}', { params: { path: { id: 'mine_t1' } }, body: body as never }));
      expect(res.response.status, JSON.stringify(body)).toBe(400);
      expect(res.error).toMatchObject({ field });
    }
    const theirs = await unchangedAfter(t, () => t.client.PATCH('/v1/tasks/{id}', { params: { path: { id: 'theirs_t1' } }, body: { status: 'done' } }));
    expect(theirs.response.status).toBe(404);
    const row = await t.db.selectFrom('tasks').select('status').where('id', '=', 'theirs_t1').executeTakeFirstOrThrow();
    expect(row.status).toBe('open');
    expect((await t.client.GET('/v1/tasks/{id}', { params: { path: { id: 'theirs_t1' } } })).response.status).toBe(404);
    for (const [query, field] of [
      [{ status: 'closed' }, '/querystring/status'],
      [{ owner: 'x' }, '/querystring/owner'],
    ] as const) {
      const res = await t.client.GET('/v1/tasks', { params: { query: query as never } });
      expect(res.response.status).toBe(400);
      expect(res.error).toMatchObject({ field });
    }
  });
});
