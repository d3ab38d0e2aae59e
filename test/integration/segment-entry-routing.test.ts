/**
 * `segment_entered` judges each record change on the record as it was at that change, however
 * many later changes of the record were committed before the router reached it; and, with an
 * `eventCount` in the filter, each change on the events stored before it and each event on the
 * record as it was when the event came. Each case writes its changes and events while no router
 * runs, then one router (in the test, no worker) routes them, with batches of 100 rows (all of the
 * record's rows in one batch) and of 1 row (each row alone: the later changes are not in its
 * batch, yet the record the router reads already has them). Every automation re-enters `always`,
 * so a change wrongly taken as an entry shows as an extra enrollment; the enrollment's
 * triggerEventId names the change or event that enrolled it.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Enroller } from '#engine/enroller';
import { OutboxRouter } from '#engine/router';
import { createAutomation, putRecord, startEngineTest, waitFor, type EngineTest } from './engine-support';

vi.setConfig({ testTimeout: 120_000 });

let e: EngineTest;
beforeAll(async () => {
  e = await startEngineTest({ worker: false });
});
afterAll(async () => {
  await e?.close();
});

const rowsOf = (recordId: string) =>
  e.t.db
    .selectFrom('outbox')
    .select(['id', sql<string>`payload->>'changeId'`.as('changeId')])
    .where('workspace_id', '=', e.t.workspaceId)
    .where('record_id', '=', recordId)
    .orderBy('id')
    .execute();

/** The record's change ids, in the order they were written (read before routing deletes them). */
async function changeIds(recordId: string): Promise<string[]> {
  return (await rowsOf(recordId)).map((r) => r.changeId);
}

/** Routes until the record's rows are gone, with a router of the given batch size. */
async function route(batchSize: number, recordId: string): Promise<void> {
  const router = new OutboxRouter({
    db: e.t.db,
    temporal: e.temporal,
    enroller: new Enroller({ db: e.t.db, temporal: e.temporal, taskQueue: e.config.TEMPORAL_TASK_QUEUE }),
    databaseUrl: e.config.DATABASE_URL,
    batchSize,
    pollMs: 600_000,
    maxAttempts: 5,
    logger: { info() {}, debug() {}, warn() {}, error() {} },
  });
  await waitFor(
    `${recordId}'s rows routed`,
    async () => {
      await router.drainOnce();
      return (await rowsOf(recordId)).length === 0;
    },
    60_000,
    20,
  );
}

async function segment(name: string, filter: Record<string, unknown>): Promise<{ entries(): Promise<Array<[string, string]>> }> {
  const { id } = await createAutomation(e, {
    name,
    trigger: { type: 'segment_entered', filter },
    settings: { reentry: 'always' },
    steps: [{ id: 'rest', type: 'wait', duration: 'P30D' }],
  });
  return {
    async entries() {
      const items = (await e.api('GET', `/v1/automations/${id}/enrollments`)).body.items as Array<{ recordId: string; triggerEventId: string }>;
      return items.map((x) => [x.recordId, x.triggerEventId] as [string, string]);
    },
  };
}

const attr = (name: string, op: string, value: unknown) => ({ field: `record.attributes.${name}`, op, value });

describe.each([100, 1])('segment_entered, changes routed after the fact, batches of %i', (batchSize) => {
  const tag = `b${batchSize}`;

  it('false, then true: one entry, on the change to true', async () => {
    const hot = `${tag}_hot`;
    const s = await segment(`Hot ${tag}`, attr(hot, 'eq', true));
    const record = `${tag}-hot`;
    await putRecord(e, record);
    await putRecord(e, record, { attributes: { [hot]: false } });
    await putRecord(e, record, { attributes: { [hot]: true } });
    const ids = await changeIds(record);
    expect(ids).toHaveLength(3);
    await route(batchSize, record);
    expect(await s.entries()).toEqual([[record, ids[2]]]);
  });

  it('a matching record kept matching by two changes: only its creation enters', async () => {
    const [a, b] = [`${tag}_or_a`, `${tag}_or_b`];
    const s = await segment(`Either ${tag}`, { any: [attr(a, 'eq', 1), attr(b, 'eq', 1)] });
    const record = `${tag}-either`;
    await putRecord(e, record, { attributes: { [a]: 1, [b]: 0 } }); // created matching (a)
    await putRecord(e, record, { attributes: { [b]: 1 } }); // still matching (a and b)
    await putRecord(e, record, { attributes: { [a]: 0 } }); // still matching (b)
    const ids = await changeIds(record);
    expect(ids).toHaveLength(3);
    await route(batchSize, record);
    expect(await s.entries()).toEqual([[record, ids[0]]]);
  });

  it('a = 1 AND b = 1 set by two updates: one entry, on the second', async () => {
    const [a, b] = [`${tag}_and_a`, `${tag}_and_b`];
    const s = await segment(`Both ${tag}`, { all: [attr(a, 'eq', 1), attr(b, 'eq', 1)] });
    const record = `${tag}-both`;
    await putRecord(e, record);
    await putRecord(e, record, { attributes: { [a]: 1 } });
    await putRecord(e, record, { attributes: { [b]: 1 } });
    const ids = await changeIds(record);
    expect(ids).toHaveLength(3);
    await route(batchSize, record);
    expect(await s.entries()).toEqual([[record, ids[2]]]);
  });

  /** Stage `vip` with at least one booking: a stage change and a booking, in either order. */
  const vipWithBooking = async (name: string) => {
    const [vip, booking] = [`vip_${name}_${tag}`, `booking_${name}_${tag}`];
    const s = await segment(`VIP with a booking, ${name} ${tag}`, {
      all: [
        { field: 'record.stage', op: 'eq', value: vip },
        { eventCount: { event: booking }, op: 'gte', value: 1 },
      ],
    });
    const record = `${tag}-${name}`;
    await putRecord(e, record, { stage: 'lead' });
    const book = async () => {
      const res = await e.api('POST', '/v1/events', { id: `${record}-booking`, type: booking, recordId: record, properties: {} });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
    };
    return { s, record, book, promote: () => putRecord(e, record, { stage: vip }) };
  };

  it('made VIP, then a booking: one entry, on the booking (no booking yet at the stage change)', async () => {
    const { s, record, book, promote } = await vipWithBooking('then-booked');
    await promote();
    await book();
    await route(batchSize, record);
    expect(await s.entries()).toEqual([[record, `${record}-booking`]]);
  });

  it('a booking, then made VIP: one entry, on the stage change (not VIP yet at the booking)', async () => {
    const { s, record, book, promote } = await vipWithBooking('booked-then');
    await book();
    await promote();
    const ids = await changeIds(record); // creation, booking (no change id), stage change
    await route(batchSize, record);
    expect(await s.entries()).toEqual([[record, ids[2]]]);
  });
});
