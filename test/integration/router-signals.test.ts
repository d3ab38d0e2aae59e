/**
 * No signal lost between the router and a workflow that is not running yet: the router delivers
 * it with signal-with-start instead of dropping it on NotFound, and never restarts a workflow
 * that Temporal has closed. Real dev server, real PostgreSQL, the in-process worker.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { insertEnrollment } from '#db/enrollments';
import { enrollmentIdFor } from '#engine/enroller';
import { enrollmentWorkflowId } from '#workflows/signals';
import { createAutomation, putRecord, startEngineTest, waitFor, type EngineTest } from './engine-support';

let e: EngineTest;
vi.setConfig({ testTimeout: 180_000 });

beforeAll(async () => {
  e = await startEngineTest({ worker: false });
});
afterAll(async () => {
  await e?.close();
});

const reply = (id: string, recordId: string) => ({
  id,
  type: 'message.replied',
  recordId,
  properties: { channel: 'email', text: 'not interested', from: `${recordId}@example.com`, to: 'sales@example.com', messageId: 'msg_x' },
});

async function enrollmentOf(recordId: string): Promise<any> {
  const res = await e.api('GET', `/v1/records/${recordId}/enrollments`);
  expect(res.status).toBe(200);
  return res.body.items[0];
}

const drained = (timeoutMs?: number) =>
  waitFor(
    'the outbox to drain',
    async () => (await e.t.db.selectFrom('outbox').select('id').where('workspace_id', '=', e.t.workspaceId).limit(1).execute()).length === 0,
    timeoutMs,
  );

describe('signals for workflows that are not running', () => {
  it('a trigger and a rating in one router batch take the referral path', async () => {
    // Seed 000's post-service recipe with the rating question answered at once: the rating
    // arrives with the booking, before the workflow has run anything.
    await createAutomation(
      e,
      {
        name: 'Post-service, rating first',
        trigger: { type: 'event', event: 'booking.status_changed', where: { field: 'event.status', op: 'eq', value: 'completed' } },
        steps: [
          { id: 'rating', type: 'wait_for', event: 'rating.received', timeout: 'P1D', onEvent: 'route', onTimeout: 'remind' },
          { id: 'remind', type: 'email', to: 'record', template: 'tpl_sig_reminder', next: 'end' },
          { id: 'route', type: 'branch', cases: [{ when: { field: 'event.rating', op: 'gte', value: 4 }, next: 'referral' }], otherwise: 'urgent' },
          { id: 'referral', type: 'email', to: 'record', template: 'tpl_sig_referral', next: 'end' },
          { id: 'urgent', type: 'task', assignee: 'owner', template: 'tpl_sig_call', priority: 'urgent' },
        ],
      },
      { templates: [{ id: 'tpl_sig_reminder' }, { id: 'tpl_sig_referral' }, { id: 'tpl_sig_call', channel: 'task' }] },
    );
    await putRecord(e, 'sig-batch');
    // No router runs yet: both rows wait in the outbox and the first batch takes them together.
    const posted = await e.api('POST', '/v1/events/batch', {
      events: [
        { id: 'evt-sig-booking', type: 'booking.status_changed', recordId: 'sig-batch', properties: { status: 'completed' } },
        { id: 'evt-sig-rating', type: 'rating.received', recordId: 'sig-batch', properties: { rating: 5 } },
      ],
    });
    expect(posted.status, JSON.stringify(posted.body)).toBe(202);
    await e.startWorker();

    const done = await waitFor('the enrollment to complete', async () => {
      const item = await enrollmentOf('sig-batch');
      return item?.status === 'completed' && item;
    });
    const timeline = (await e.api('GET', `/v1/enrollments/${done.id}`)).body.timeline.map((s: any) => s.stepId);
    expect(timeline).toEqual(['rating', 'route', 'referral']);
    const messages = (await e.api('GET', '/v1/messages?recordId=sig-batch')).body.items;
    expect(messages.map((m: any) => m.templateId)).toEqual(['tpl_sig_referral']);
  });

  it('a reply for an enrollment whose workflow was never started starts it with the reply, and ends it', async () => {
    if (!e.engine) await e.startWorker(); // when run on its own
    const a = await createAutomation(
      e,
      {
        name: 'Lead follow-up',
        trigger: { type: 'event', event: 'lead.created' },
        exitWhen: [{ event: 'message.replied' }],
        steps: [
          { id: 'later', type: 'wait', duration: 'PT1H' },
          { id: 'nudge', type: 'email', to: 'record', template: 'tpl_sig_nudge' },
        ],
      },
      { templates: [{ id: 'tpl_sig_nudge' }] },
    );
    await putRecord(e, 'sig-unstarted');
    // What a process leaves behind between the enrollment's insert and its workflow's start.
    const workflowId = enrollmentWorkflowId(e.t.workspaceId, a.id, 'sig-unstarted', 1);
    await insertEnrollment(e.t.db, {
      id: enrollmentIdFor(workflowId),
      workspaceId: e.t.workspaceId,
      automationId: a.id,
      version: 1,
      recordId: 'sig-unstarted',
      seq: 1,
      workflowId,
      variant: 'A',
      triggerEventId: null,
      startedAt: new Date(),
      currentStep: 'later',
    });

    expect((await e.api('POST', '/v1/events', reply('evt-sig-reply', 'sig-unstarted'))).status).toBe(202);
    const ended = await waitFor(
      'the enrollment to end',
      async () => {
        const item = await enrollmentOf('sig-unstarted');
        return item.status !== 'active' && item;
      },
      30_000,
    );
    expect(ended).toMatchObject({ status: 'exited', exitReason: 'event:message.replied', workflowId });
    expect((await e.api('GET', '/v1/messages?recordId=sig-unstarted')).body.items).toEqual([]);
  });

  it('a workflow that Temporal closed is not started again by an event for its record', async () => {
    if (!e.engine) await e.startWorker(); // when run on its own
    await createAutomation(e, {
      name: 'Lead follow-up 2',
      trigger: { type: 'event', event: 'lead.arrived' },
      steps: [{ id: 'later', type: 'wait', duration: 'PT1H' }],
    });
    await putRecord(e, 'sig-closed');
    await e.api('POST', '/v1/events', { id: 'evt-sig-arrived', type: 'lead.arrived', recordId: 'sig-closed' });
    const item = await waitFor('the enrollment', async () => enrollmentOf('sig-closed'));
    const handle = e.temporal.workflow.getHandle(item.workflowId);
    const { runId } = await waitFor('the workflow', () => handle.describe());
    await handle.terminate('closed from the CLI');

    await e.api('POST', '/v1/events', { id: 'evt-sig-noise', type: 'page.viewed', recordId: 'sig-closed' });
    await drained();
    const after = await e.temporal.workflow.getHandle(item.workflowId).describe();
    expect(after.runId).toBe(runId);
    expect(after.status.name).toBe('TERMINATED');
  });
});

describe('signals an enrollment can use', () => {
  it('20,000 noise events during a 3-month wait and changes of unread fields cost no Temporal call (its history length is unchanged); a relevant event still arrives', async () => {
    if (!e.engine) await e.startWorker(); // when run on its own
    await createAutomation(
      e,
      {
        name: 'Quote follow-up',
        trigger: { type: 'event', event: 'quote.sent' },
        exitWhen: [{ event: 'quote.accepted' }, { fieldChanged: 'stage' }],
        steps: [
          { id: 'later', type: 'wait', duration: 'P3M' },
          { id: 'nudge', type: 'email', to: 'record', template: 'tpl_sig_quote' },
        ],
      },
      { templates: [{ id: 'tpl_sig_quote', content: { subject: 'Your quote', text: 'Still interested?' } }] },
    );
    await putRecord(e, 'sig-noise', { stage: 'quoted' });
    await e.api('POST', '/v1/events', { id: 'evt-sig-quote', type: 'quote.sent', recordId: 'sig-noise' });
    const item = await waitFor('the enrollment', async () => {
      const it = await enrollmentOf('sig-noise');
      return it?.currentStep === 'later' && it.updatedAt !== it.startedAt && it;
    });
    await drained();
    const handle = e.temporal.workflow.getHandle(item.workflowId);
    const settled = async () => {
      // The history stops growing once the workflow waits in its timer.
      let last = -1;
      return waitFor(
        'a settled history',
        async () => {
          const n = (await handle.describe()).historyLength;
          const same = n === last;
          last = n;
          return same && n;
        },
        30_000,
        500,
      );
    };
    const before = await settled();

    // Posted through the API in batches of 1,000: stored, then each one routed (and found of no interest).
    for (let batch = 0; batch < 20; batch++) {
      const noise = Array.from({ length: 1_000 }, (_, n) => ({
        id: `evt-sig-noise-${batch}-${n}`,
        type: 'page.viewed',
        recordId: 'sig-noise',
        properties: { n },
      }));
      expect((await e.api('POST', '/v1/events/batch', { events: noise })).status).toBe(202);
    }
    await putRecord(e, 'sig-noise', { stage: 'quoted', attributes: { lastPage: '/pricing' } });
    await drained(240_000);
    const stored = await e.t.db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('workspace_id', '=', e.t.workspaceId)
      .where('record_id', '=', 'sig-noise')
      .where('type', '=', 'page.viewed')
      .executeTakeFirstOrThrow();
    expect(Number(stored.n)).toBe(20_000);
    expect((await handle.describe()).historyLength).toBe(before);

    await e.api('POST', '/v1/events', { id: 'evt-sig-accepted', type: 'quote.accepted', recordId: 'sig-noise' });
    const ended = await waitFor('the exit', async () => {
      const it = await enrollmentOf('sig-noise');
      return it.status !== 'active' && it;
    });
    expect(ended).toMatchObject({ status: 'exited', exitReason: 'event:quote.accepted' });
  }, 420_000);
});
