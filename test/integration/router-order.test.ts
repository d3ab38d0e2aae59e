/**
 * The router keeps one record's order across two real worker processes (services/worker/main.ts,
 * each with its router draining the same outbox): a row that fails holds back its record's later
 * rows, so a reply never overtakes the start it follows.
 *
 * The fault is real PostgreSQL behaviour: a trigger refuses the enrollment insert for one record
 * while `router_test_faults` names it (enrollmentFault), so the start row fails and is retried with backoff.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createAutomation, enrollmentFault, putRecord, startEngineTest, waitFor, type EnrollmentFault, type EngineTest } from './engine-support';

let e: EngineTest;
let fault: EnrollmentFault;
vi.setConfig({ testTimeout: 180_000 });

beforeAll(async () => {
  e = await startEngineTest({ worker: false });
  fault = await enrollmentFault(e.t.db, 'router_test_faults', 'record_id');
  await Promise.all([e.spawnWorker(), e.spawnWorker()]);
});
afterAll(async () => {
  await fault?.remove();
  await e?.close();
});

const outboxRow = (eventId: string) =>
  e.t.db
    .selectFrom('outbox')
    .select(['id', 'attempts'])
    .where('workspace_id', '=', e.t.workspaceId)
    .where(sql<boolean>`payload->'event'->>'id' = ${eventId}`)
    .executeTakeFirst();

describe('per-record order with two routers', () => {
  it('a reply queued behind a start that fails waits for it, and then ends the enrollment', async () => {
    await createAutomation(
      e,
      {
        name: 'Lead follow-up',
        trigger: { type: 'event', event: 'lead.created' },
        exitWhen: [{ event: 'message.replied' }],
        steps: [
          { id: 'later', type: 'wait', duration: 'PT1H' },
          { id: 'nudge', type: 'email', to: 'record', template: 'tpl_order_nudge' },
        ],
      },
      { templates: [{ id: 'tpl_order_nudge' }] },
    );
    await putRecord(e, 'order-1');
    await fault.refuse('order-1');

    expect((await e.api('POST', '/v1/events', { id: 'evt-order-lead', type: 'lead.created', recordId: 'order-1' })).status).toBe(202);
    expect(
      (
        await e.api('POST', '/v1/events', {
          id: 'evt-order-reply',
          type: 'message.replied',
          recordId: 'order-1',
          properties: { channel: 'email', text: 'no thanks', from: 'order-1@example.com', to: 'sales@example.com', messageId: 'msg_x' },
        })
      ).status,
    ).toBe(202);

    // The start has failed twice: both routers have had batches since the reply was queued.
    await waitFor('the start to fail twice', async () => ((await outboxRow('evt-order-lead'))?.attempts ?? 0) >= 2);
    // Held back, untouched: not taken, not failed, not dropped.
    expect(await outboxRow('evt-order-reply')).toMatchObject({ attempts: 0 });

    await fault.allowAll();
    const enrollment = await waitFor('the enrollment to end', async () => {
      const res = await e.api('GET', '/v1/records/order-1/enrollments');
      const item = res.body.items[0];
      return item && item.status !== 'active' && item;
    });
    expect(enrollment).toMatchObject({ status: 'exited', exitReason: 'event:message.replied', triggerEventId: 'evt-order-lead' });
    const messages = await e.api('GET', '/v1/messages?recordId=order-1');
    expect(messages.body.items).toEqual([]);
    await waitFor(
      'the outbox to drain',
      async () => (await e.t.db.selectFrom('outbox').select('id').where('workspace_id', '=', e.t.workspaceId).execute()).length === 0,
    );
  });
});
