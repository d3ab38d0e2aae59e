/**
 * True segment entry: a record change carries the fields before it, and `segment_entered` enrolls
 * only a record that did not match before and matches now. With re-entry `always` a change that
 * keeps a matching record matching would otherwise enrol it again (it did before: any change to a
 * field the filter reads counted as an entry). `eventCount` leaves count the record's events in the
 * events table: an event can move a record into a segment, and a record change is judged with the
 * events it already has (both counted zero before).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAutomation, putRecord, startEngineTest, waitFor, type EngineTest } from './engine-support';

let e: EngineTest;
beforeAll(async () => {
  e = await startEngineTest();
});
afterAll(async () => {
  await e?.close();
});

async function routed(recordId: string): Promise<void> {
  // The router deletes a row once done: every change and event of the record routed.
  await waitFor('the rows routed', async () => {
    const left = await e.t.db.selectFrom('outbox').select('id').where('workspace_id', '=', e.t.workspaceId).where('record_id', '=', recordId).execute();
    return left.length === 0;
  });
}

describe('segment_entered', () => {
  it('a change keeps a matching record matching: no new entry; leaving and coming back: a new one', async () => {
    const { id } = await createAutomation(
      e,
      {
        name: 'Hot leads',
        trigger: { type: 'segment_entered', filter: { field: 'record.attributes.score', op: 'gte', value: 50 } },
        settings: { reentry: 'always' },
        steps: [{ id: 'hello', type: 'email', to: 'record', template: 'tpl_hot' }],
      },
      { templates: [{ id: 'tpl_hot' }] },
    );
    const entries = async () => (await e.api('GET', `/v1/automations/${id}/enrollments`)).body.items as Array<{ recordId: string }>;

    await putRecord(e, 'lead_1', { attributes: { score: 60 } });
    await waitFor('the first entry', async () => (await entries()).length === 1);
    await putRecord(e, 'lead_1', { attributes: { score: 70 } }); // still in the segment
    await putRecord(e, 'lead_1', { attributes: { score: 10 } }); // leaves
    await putRecord(e, 'lead_1', { attributes: { score: 80 } }); // enters again
    // Every change routed (the router deletes a row once done), then count.
    await waitFor('the changes routed', async () => {
      const left = await e.t.db.selectFrom('outbox').select('id').where('workspace_id', '=', e.t.workspaceId).where('record_id', '=', 'lead_1').execute();
      return left.length === 0;
    });
    expect((await entries()).map((x) => x.recordId)).toEqual(['lead_1', 'lead_1']);
  });

  it('an eventCount filter enrols on the booking that makes it true, once, however many bookings were stored before routing', async () => {
    const { id } = await createAutomation(
      e,
      {
        name: 'Regulars',
        trigger: { type: 'segment_entered', filter: { eventCount: { event: 'booking.completed', within: 'P365D' }, op: 'gte', value: 2 } },
        settings: { reentry: 'always' },
        steps: [{ id: 'thanks', type: 'email', to: 'record', template: 'tpl_regular' }],
      },
      { templates: [{ id: 'tpl_regular' }] },
    );
    await putRecord(e, 'guest_1');
    const at = new Date(Date.now() - 3_600_000).toISOString();
    const booking = (n: number) => ({ id: `seg-bk-${n}`, type: 'booking.completed', recordId: 'guest_1', occurredAt: at, properties: {} });
    let res = await e.api('POST', '/v1/events', booking(1));
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    await routed('guest_1');
    // One booking: not yet in the segment.
    expect((await e.api('GET', `/v1/automations/${id}/enrollments`)).body.items).toEqual([]);
    // The second booking makes it true; the third keeps it true (stored together, routed after).
    res = await e.api('POST', '/v1/events/batch', { events: [booking(2), booking(3)] });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    await routed('guest_1');
    const items = (await e.api('GET', `/v1/automations/${id}/enrollments`)).body.items as Array<{ recordId: string; triggerEventId: string }>;
    expect(items.map((x) => [x.recordId, x.triggerEventId])).toEqual([['guest_1', 'seg-bk-2']]);
  });

  it("a record change is judged with the record's stored events: a VIP with a completed booking enters", async () => {
    const { id } = await createAutomation(
      e,
      {
        name: 'VIP with a booking',
        trigger: {
          type: 'segment_entered',
          filter: {
            all: [
              { field: 'record.stage', op: 'eq', value: 'vip' },
              { eventCount: { event: 'booking.completed' }, op: 'gte', value: 1 },
            ],
          },
        },
        steps: [{ id: 'hi', type: 'email', to: 'record', template: 'tpl_vip' }],
      },
      { templates: [{ id: 'tpl_vip' }] },
    );
    await putRecord(e, 'guest_2', { stage: 'lead' });
    await putRecord(e, 'guest_3', { stage: 'lead' });
    const res = await e.api('POST', '/v1/events', { id: 'seg-vip-bk', type: 'booking.completed', recordId: 'guest_2', properties: {} });
    expect(res.status).toBe(202);
    await routed('guest_2');
    await putRecord(e, 'guest_2', { stage: 'vip' }); // has a booking: enters
    await putRecord(e, 'guest_3', { stage: 'vip' }); // no booking: does not
    await routed('guest_2');
    await routed('guest_3');
    const items = (await e.api('GET', `/v1/automations/${id}/enrollments`)).body.items as Array<{ recordId: string }>;
    expect(items.map((x) => x.recordId)).toEqual(['guest_2']);
  });
});
