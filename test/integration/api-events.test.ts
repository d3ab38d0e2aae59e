/**
 * /v1/events against a real PostgreSQL: the event and its outbox row in one statement, NOTIFY to
 * the router, idempotency by event id per workspace, bare records for unknown record ids, the
 * batch form with per-item results, strict input. Rejected requests change nothing.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OUTBOX_CHANNEL } from '#db/outbox';
import { rawRequest, startTestApp, unchangedAfter, type TestApp } from '../helpers/app';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

const eventRows = (id: string) => t.db.selectFrom('events').selectAll().where('workspace_id', '=', t.workspaceId).where('id', '=', id).execute();
const outboxFor = (eventId: string) =>
  t.db
    .selectFrom('outbox')
    .selectAll()
    .where('workspace_id', '=', t.workspaceId)
    .where('kind', '=', 'event')
    .where(({ ref }) => ref('payload', '->').key('event' as never) as never, '@>', JSON.stringify({ id: eventId }) as never)
    .execute();

describe('POST /v1/events', () => {
  it('stores the event and its outbox row, answers 202 accepted', async () => {
    await t.client.PUT('/v1/records/{externalId}', { params: { path: { externalId: 'r1' } }, body: { name: 'Ana' } });
    const res = await t.client.POST('/v1/events', {
      body: { id: 'evt-1', type: 'booking.status_changed', recordId: 'r1', occurredAt: '2026-11-23T12:00:00+02:00', properties: { status: 'completed' } },
    });
    expect(res.response.status).toBe(202);
    expect(res.data).toEqual({ id: 'evt-1', status: 'accepted' });
    const [row] = await eventRows('evt-1');
    expect(row).toMatchObject({ type: 'booking.status_changed', record_id: 'r1', properties: { status: 'completed' } });
    expect(row!.occurred_at.toISOString()).toBe('2026-11-23T10:00:00.000Z');
    const outbox = await outboxFor('evt-1');
    expect(outbox).toHaveLength(1);
    expect(outbox[0]!.payload).toEqual({
      kind: 'event',
      event: { id: 'evt-1', type: 'booking.status_changed', recordId: 'r1', occurredAt: '2026-11-23T10:00:00.000Z', properties: { status: 'completed' } },
    });
  });

  it('is idempotent by id: the same id twice is stored once and answered duplicate', async () => {
    const body = { id: 'evt-dup', type: 'rating.received', recordId: 'r1', properties: { rating: 5 } };
    const first = await t.client.POST('/v1/events', { body });
    const second = await unchangedAfter(t, () => t.client.POST('/v1/events', { body: { ...body, properties: { rating: 1 } } }));
    expect(first.data).toEqual({ id: 'evt-dup', status: 'accepted' });
    expect(second.response.status).toBe(202);
    expect(second.data).toEqual({ id: 'evt-dup', status: 'duplicate' });
    const rows = await eventRows('evt-dup');
    expect(rows).toHaveLength(1);
    expect(rows[0]!.properties).toEqual({ rating: 5 });
    expect(await outboxFor('evt-dup')).toHaveLength(1);
  });

  it('generates an id when none is given and defaults occurredAt and properties', async () => {
    const before = Date.now();
    const res = await t.client.POST('/v1/events', { body: { type: 'page.viewed', recordId: 'r1' } });
    expect(res.data!.id).toMatch(/^evt_/);
    const [row] = await eventRows(res.data!.id);
    expect(row!.properties).toEqual({});
    expect(row!.occurred_at.getTime()).toBeGreaterThanOrEqual(before - 1000);
  });

  it('creates a bare record for an unknown record id', async () => {
    const res = await t.client.POST('/v1/events', { body: { id: 'evt-new-rec', type: 'signup', recordId: 'brand-new' } });
    expect(res.data!.status).toBe('accepted');
    const rec = await t.client.GET('/v1/records/{externalId}', { params: { path: { externalId: 'brand-new' } } });
    expect(rec.response.status).toBe(200);
    expect(rec.data).toMatchObject({ recordId: 'brand-new', name: null, stage: null, attributes: {} });
    // A later upsert fills it in (200: it exists).
    const put = await t.client.PUT('/v1/records/{externalId}', { params: { path: { externalId: 'brand-new' } }, body: { name: 'Late' } });
    expect(put.response.status).toBe(200);
  });

  it('wakes the router with NOTIFY on the outbox channel', async () => {
    const listener = new pg.Client({ connectionString: (t.app.config as { DATABASE_URL: string }).DATABASE_URL });
    await listener.connect();
    try {
      await listener.query(`LISTEN ${OUTBOX_CHANNEL}`);
      const got = new Promise<string>((resolve) => listener.once('notification', (n) => resolve(n.channel)));
      await t.client.POST('/v1/events', { body: { type: 'ping', recordId: 'r1' } });
      expect(await Promise.race([got, new Promise((r) => setTimeout(() => r('timeout'), 3000))])).toBe(OUTBOX_CHANNEL);
    } finally {
      await listener.end();
    }
  });

  it('keeps event ids per workspace: the same id in another workspace is a different event', async () => {
    const other = await t.otherWorkspace();
    const res = await unchangedAfter(t, () => other.client.POST('/v1/events', { body: { id: 'evt-1', type: 'x', recordId: 'r1' } }));
    expect(res.data).toEqual({ id: 'evt-1', status: 'accepted' });
  });

  it('rejects bad input naming the field and changes nothing', async () => {
    const cases: Array<[unknown, string]> = [
      [{ recordId: 'r1' }, '/body/type'],
      [{ type: 'a' }, '/body/recordId'],
      [{ type: '', recordId: 'r1' }, '/body/type'],
      [{ type: 'has space', recordId: 'r1' }, '/body/type'],
      [{ type: 5, recordId: 'r1' }, '/body/type'],
      [{ type: 'a', recordId: 'r1', occurredAt: 'yesterday' }, '/body/occurredAt'],
      [{ type: 'a', recordId: 'r1', properties: 'x' }, '/body/properties'],
      [{ type: 'a', recordId: 'r1', properties: [1] }, '/body/properties'],
      [{ type: 'a', recordId: 'r1', extra: true }, '/body/extra'],
      [{ id: '', type: 'a', recordId: 'r1' }, '/body/id'],
      [{ id: 'x'.repeat(201), type: 'a', recordId: 'r1' }, '/body/id'],
    ];
    for (const [body, field] of cases) {
      const res = await unchangedAfter(t, () => t.client.POST('/v1/events', { body: body as never }));
      expect(res.response.status, JSON.stringify(body)).toBe(400);
      expect(res.error).toMatchObject({ status: 400, field });
    }
  });
});

describe('POST /v1/events/batch', () => {
  it('refuses properties over their limits (size 413, reserved keys, nesting) with the pointer, storing nothing', async () => {
    const big = await unchangedAfter(t, () =>
      t.client.POST('/v1/events', { body: { type: 'x', recordId: 'r-limits', properties: { blob: 'x'.repeat(40_000) } } }),
    );
    expect(big.response.status).toBe(413);
    expect(big.error).toMatchObject({ status: 413, field: '/body/properties', detail: '/body/properties: may take at most 32768 bytes as JSON (takes 40011)' });
    const reserved = await unchangedAfter(t, () =>
      t.client.POST('/v1/events/batch', {
        body: {
          events: [
            { type: 'x', recordId: 'r-limits' },
            { type: 'x', recordId: 'r-limits', properties: { a: { constructor: 1 } } },
          ],
        },
      }),
    );
    expect(reserved.response.status).toBe(400);
    expect(reserved.error).toMatchObject({ status: 400, field: '/body/events/1/properties/a/constructor' });
    let deep: unknown = 1;
    for (let i = 0; i < 7; i++) deep = [deep];
    const nested = await unchangedAfter(t, () => t.client.POST('/v1/events', { body: { type: 'x', recordId: 'r-limits', properties: { deep } } }));
    expect(nested.error).toMatchObject({
      status: 400,
      field: '/body/properties/deep/0/0/0/0/0',
      detail: '/body/properties/deep/0/0/0/0/0: nests deeper than 5 levels',
    });
  });

  it('stores many in one request with per-item results in input order', async () => {
    const events = [
      { id: 'b-1', type: 'a', recordId: 'r1' },
      { id: 'evt-dup', type: 'a', recordId: 'r1' },
      { id: 'b-2', type: 'a', recordId: 'batch-rec', properties: { n: 2 } },
      { id: 'b-1', type: 'a', recordId: 'r1' },
      { type: 'a', recordId: 'r1' },
    ];
    const res = await t.client.POST('/v1/events/batch', { body: { events } });
    expect(res.response.status).toBe(202);
    expect(res.data!.results.map((r) => r.status)).toEqual(['accepted', 'duplicate', 'accepted', 'duplicate', 'accepted']);
    expect(res.data!.results.slice(0, 4).map((r) => r.id)).toEqual(['b-1', 'evt-dup', 'b-2', 'b-1']);
    expect(res.data).toMatchObject({ accepted: 3, duplicates: 2 });
    expect(await eventRows('b-1')).toHaveLength(1);
    expect(await outboxFor('b-1')).toHaveLength(1);
    expect(await outboxFor('b-2')).toHaveLength(1);
  });

  it('takes 1,000 events and refuses 1,001', async () => {
    const events = Array.from({ length: 1000 }, (_, i) => ({ id: `k-${i}`, type: 'bulk', recordId: `bulk-${i % 10}` }));
    const ok = await t.client.POST('/v1/events/batch', { body: { events } });
    expect(ok.response.status).toBe(202);
    expect(ok.data!.accepted).toBe(1000);
    const n = await t.db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('workspace_id', '=', t.workspaceId)
      .where('type', '=', 'bulk')
      .executeTakeFirstOrThrow();
    expect(Number(n.n)).toBe(1000);
    const tooMany = await unchangedAfter(t, () =>
      t.client.POST('/v1/events/batch', { body: { events: [...events, { id: 'k-1000', type: 'bulk', recordId: 'x' }] } }),
    );
    expect(tooMany.response.status).toBe(400);
    expect(tooMany.error).toMatchObject({ field: '/body/events' });
  });

  it('one invalid item rejects the whole batch, naming it; nothing is stored', async () => {
    const res = await unchangedAfter(t, () =>
      t.client.POST('/v1/events/batch', {
        body: {
          events: [
            { id: 'ok-1', type: 'a', recordId: 'r1' },
            { id: 'bad', recordId: 'r1' },
          ],
        } as never,
      }),
    );
    expect(res.response.status).toBe(400);
    expect(res.error).toMatchObject({ field: '/body/events/1/type' });
    expect(await eventRows('ok-1')).toHaveLength(0);
  });

  it('rejects an empty batch, a missing list and unknown fields', async () => {
    for (const [body, field] of [
      [{ events: [] }, '/body/events'],
      [{}, '/body/events'],
      [{ events: [{ type: 'a', recordId: 'r' }], dryRun: true }, '/body/dryRun'],
    ] as const) {
      const res = await unchangedAfter(t, () => t.client.POST('/v1/events/batch', { body: body as never }));
      expect(res.response.status).toBe(400);
      expect(res.error).toMatchObject({ field });
    }
    const raw = await unchangedAfter(t, () => rawRequest(t, 'POST', '/v1/events/batch', { body: '[{"type":"a"}]' }));
    expect(raw.status).toBe(400);
  });
});
