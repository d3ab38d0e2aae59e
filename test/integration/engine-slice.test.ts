/**
 * The enrollment engine end to end on the real Temporal dev server and PostgreSQL: API -> outbox
 * -> router -> workflow -> activities -> PostgreSQL -> API. No mocks; messages are sandboxed
 * because no provider is configured.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { enqueue } from '#db/outbox';
import { createAutomation, putRecord, startEngineTest, waitFor, type EngineTest } from './engine-support';

let e: EngineTest;
// Each test waits for workflows on a shared machine: generous, the waits end as soon as the effect shows.
vi.setConfig({ testTimeout: 180_000 });

beforeAll(async () => {
  e = await startEngineTest();
});
afterAll(async () => {
  await e?.close();
});

async function messagesOf(recordId: string): Promise<any[]> {
  const res = await e.api('GET', `/v1/messages?recordId=${encodeURIComponent(recordId)}`);
  expect(res.status).toBe(200);
  return res.body.items;
}

/** The workflow ran its first task (its first progress write moved updated_at past started_at). */
async function firstTaskDone(enrollmentId: string): Promise<void> {
  await waitFor('the first workflow task', async () => {
    const row = await e.t.db.selectFrom('enrollments').select(['started_at', 'updated_at']).where('id', '=', enrollmentId).executeTakeFirstOrThrow();
    return row.updated_at.getTime() > row.started_at.getTime();
  });
}

async function enrollmentsOf(recordId: string): Promise<any[]> {
  const res = await e.api('GET', `/v1/records/${encodeURIComponent(recordId)}/enrollments`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.items;
}

describe('vertical slice', () => {
  it('a manual enrollment starts a workflow on the dev server whose activity writes PostgreSQL, read back through the API', async () => {
    const a = await createAutomation(
      e,
      {
        name: 'Welcome',
        trigger: { type: 'manual' },
        steps: [{ id: 'hello', type: 'email', to: 'record', template: 'tpl_slice_hello' }],
      },
      { templates: [{ id: 'tpl_slice_hello' }] },
    );
    await putRecord(e, 'slice-1', { name: 'Ana' });

    const res = await e.api('POST', `/v1/automations/${a.id}/enrollments`, { recordId: 'slice-1' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ automationId: a.id, recordId: 'slice-1', version: 1, seq: 1, status: 'active' });
    const id = res.body.id as string;

    // The workflow really runs on the server under its business-key id.
    const description = await e.temporal.workflow.getHandle(res.body.workflowId).describe();
    expect(description.workflowId).toBe(`enrollment/${e.t.workspaceId}/${a.id}/slice-1/1`);
    expect(description.taskQueue).toBe(e.config.TEMPORAL_TASK_QUEUE);

    const done = await waitFor('the enrollment to complete', async () => {
      const r = await e.api('GET', `/v1/enrollments/${id}`);
      return r.body.status === 'completed' ? r.body : undefined;
    });
    expect(done.timeline.map((s: any) => [s.stepId, s.status])).toEqual([['hello', 'done']]);
    expect(done.messages).toHaveLength(1);
    expect(done.messages[0]).toMatchObject({
      stepId: 'hello',
      channel: 'email',
      status: 'sandboxed',
      subject: 'tpl_slice_hello for Ana',
      recordId: 'slice-1',
      enrollmentId: id,
    });
    expect(await messagesOf('slice-1')).toHaveLength(1);
  });
});

describe('router', () => {
  it('an event -> router -> enrollment -> sandboxed message listed by GET /v1/messages', async () => {
    await createAutomation(
      e,
      {
        name: 'Post-service',
        trigger: { type: 'event', event: 'booking.completed', where: { field: 'event.service', op: 'eq', value: 'cleaning' } },
        conditions: { eventCount: { event: 'booking.completed' }, op: 'gte', value: 1 },
        steps: [{ id: 'ask', type: 'email', to: 'record', template: 'tpl_slice_ask' }],
      },
      { templates: [{ id: 'tpl_slice_ask' }] },
    );
    await putRecord(e, 'slice-2');
    await putRecord(e, 'slice-3');

    const posted = await e.api('POST', '/v1/events', {
      id: 'evt-slice-2',
      type: 'booking.completed',
      recordId: 'slice-2',
      properties: { service: 'cleaning' },
    });
    expect(posted.status).toBe(202);
    // Does not match the trigger's `where`: no enrollment.
    await e.api('POST', '/v1/events', { id: 'evt-slice-3', type: 'booking.completed', recordId: 'slice-3', properties: { service: 'windows' } });

    const msgs = await waitFor('the message', async () => {
      const m = await messagesOf('slice-2');
      // The row is claimed as `queued` before the send; wait for the send's outcome.
      return m.length > 0 && !['queued', 'sending'].includes(m[0].status) && m;
    });
    expect(msgs[0]).toMatchObject({ stepId: 'ask', status: 'sandboxed', recordId: 'slice-2' });
    const enrollments = await enrollmentsOf('slice-2');
    expect(enrollments).toHaveLength(1);
    expect(enrollments[0]).toMatchObject({ triggerEventId: 'evt-slice-2', automationName: 'Post-service', stepCount: 1 });
    await waitFor(
      'the outbox to drain',
      async () => (await e.t.db.selectFrom('outbox').select('id').where('workspace_id', '=', e.t.workspaceId).execute()).length === 0,
    );
    expect(await enrollmentsOf('slice-3')).toHaveLength(0);
  });

  it('duplicate events produce one enrollment and one signal effect', async () => {
    await createAutomation(
      e,
      {
        name: 'Rating',
        trigger: { type: 'event', event: 'visit.done' },
        steps: [
          { id: 'wait_rating', type: 'wait_for', event: 'rating.received', timeout: 'P1D', onEvent: 'thanks', onTimeout: 'end' },
          { id: 'thanks', type: 'email', to: 'record', template: 'tpl_slice_thanks' },
        ],
      },
      { templates: [{ id: 'tpl_slice_thanks' }] },
    );
    await putRecord(e, 'slice-dup');

    const visit = { id: 'evt-dup-visit', type: 'visit.done', recordId: 'slice-dup', occurredAt: new Date().toISOString(), properties: {} };
    expect((await e.api('POST', '/v1/events', visit)).status).toBe(202);
    expect((await e.api('POST', '/v1/events', visit)).body.status).toBe('duplicate');
    // The same event delivered to the router twice more (an outbox redelivery after a crash).
    await enqueue(e.t.db, e.t.workspaceId, [
      { kind: 'event', event: { ...visit } },
      { kind: 'event', event: { ...visit } },
    ]);

    const [enrollment] = await waitFor('the enrollment', async () => {
      const list = await enrollmentsOf('slice-dup');
      return list.length > 0 && list;
    });
    // Until the workflow has run its first task, a rating is not yet counted by a first-step wait_for
    // (see the report: the workflow's `previousStartSeq` starts after its first progress write).
    await firstTaskDone(enrollment.id);
    const rating = { id: 'evt-dup-rating', type: 'rating.received', recordId: 'slice-dup', occurredAt: new Date().toISOString(), properties: { rating: 5 } };
    expect((await e.api('POST', '/v1/events', rating)).status).toBe(202);
    await enqueue(e.t.db, e.t.workspaceId, [
      { kind: 'event', event: rating },
      { kind: 'event', event: rating },
    ]);

    await waitFor('the enrollment to complete', async () => (await e.api('GET', `/v1/enrollments/${enrollment.id}`)).body.status === 'completed');
    await waitFor(
      'the outbox to drain',
      async () => (await e.t.db.selectFrom('outbox').select('id').where('workspace_id', '=', e.t.workspaceId).execute()).length === 0,
    );
    expect(await enrollmentsOf('slice-dup')).toHaveLength(1);
    const msgs = await messagesOf('slice-dup');
    expect(msgs.map((m) => m.stepId)).toEqual(['thanks']);
  });

  it('an edit while enrollments are in flight: old ones keep their version, new ones get the new one', async () => {
    const definition = (template: string) => ({
      name: 'Versioned',
      trigger: { type: 'event', event: 'lead.created' },
      steps: [
        { id: 'hold', type: 'wait_for', event: 'go', timeout: 'P1D', onEvent: 'send', onTimeout: 'end' },
        { id: 'send', type: 'email', to: 'record', template },
      ],
    });
    const a = await createAutomation(e, definition('tpl_slice_v1'), { templates: [{ id: 'tpl_slice_v1' }, { id: 'tpl_slice_v2' }] });
    await putRecord(e, 'slice-old');
    await putRecord(e, 'slice-new');
    await e.api('POST', '/v1/events', { id: 'evt-v-old', type: 'lead.created', recordId: 'slice-old' });
    const [old] = await waitFor('the first enrollment', async () => {
      const list = await enrollmentsOf('slice-old');
      return list.length > 0 && list;
    });
    expect(old.version).toBe(1);

    const edited = await e.api('PUT', `/v1/automations/${a.id}`, definition('tpl_slice_v2'));
    expect(edited.status, JSON.stringify(edited.body)).toBe(200);
    await e.api('POST', '/v1/events', { id: 'evt-v-new', type: 'lead.created', recordId: 'slice-new' });
    const [fresh] = await waitFor('the second enrollment', async () => {
      const list = await enrollmentsOf('slice-new');
      return list.length > 0 && list;
    });
    expect(fresh.version).toBe(2);
    await firstTaskDone(old.id);
    await firstTaskDone(fresh.id);

    await e.api('POST', '/v1/events', { id: 'evt-v-go-old', type: 'go', recordId: 'slice-old' });
    await e.api('POST', '/v1/events', { id: 'evt-v-go-new', type: 'go', recordId: 'slice-new' });
    const [mOld] = await waitFor('old message', async () => {
      const m = await messagesOf('slice-old');
      return m.length > 0 && m;
    });
    const [mNew] = await waitFor('new message', async () => {
      const m = await messagesOf('slice-new');
      return m.length > 0 && m;
    });
    expect(mOld.templateId).toBe('tpl_slice_v1');
    expect(mNew.templateId).toBe('tpl_slice_v2');
  });

  it('stage_entered on a record upsert, and re-entry after_exit: no second enrollment while one is active', async () => {
    await createAutomation(
      e,
      {
        name: 'Contacted nurture',
        trigger: { type: 'stage_entered', stage: 'contacted' },
        steps: [
          { id: 'intro', type: 'email', to: 'record', template: 'tpl_slice_intro' },
          { id: 'pause', type: 'wait', duration: 'P3D' },
        ],
      },
      { templates: [{ id: 'tpl_slice_intro' }] },
    );
    await putRecord(e, 'slice-stage', { stage: 'new' });
    await putRecord(e, 'slice-stage', { stage: 'contacted' });
    await putRecord(e, 'slice-stage', { stage: 'qualified' });
    await putRecord(e, 'slice-stage', { stage: 'contacted' });
    await waitFor(
      'the outbox to drain',
      async () => (await e.t.db.selectFrom('outbox').select('id').where('workspace_id', '=', e.t.workspaceId).execute()).length === 0,
    );
    const list = await enrollmentsOf('slice-stage');
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ status: 'active', automationName: 'Contacted nurture' });
  });
});

describe('lifecycle', () => {
  it('activation with onlyNew=false enrolls every record that already matches (backfill); pause and resume reach in-flight enrollments', async () => {
    for (const r of ['slice-bf-1', 'slice-bf-2', 'slice-bf-3']) await putRecord(e, r, { stage: 'won' });
    await putRecord(e, 'slice-bf-other', { stage: 'lost' });
    const a = await createAutomation(
      e,
      {
        name: 'Won customers',
        trigger: { type: 'stage_entered', stage: 'won' },
        steps: [
          { id: 'later', type: 'wait', duration: 'P1D' },
          { id: 'hi', type: 'email', to: 'record', template: 'tpl_slice_won' },
        ],
      },
      { templates: [{ id: 'tpl_slice_won' }], onlyNew: false },
    );
    const listed = await waitFor('the backfill', async () => {
      const r = await e.api('GET', `/v1/automations/${a.id}/enrollments`);
      return r.body.items.length === 3 && r.body.items;
    });
    expect(listed.map((x: any) => x.recordId).sort()).toEqual(['slice-bf-1', 'slice-bf-2', 'slice-bf-3']);
    expect(listed.every((x: any) => x.triggerEventId?.startsWith('backfill:'))).toBe(true);

    expect((await e.api('POST', `/v1/automations/${a.id}/pause`)).status).toBe(200);
    await waitFor('paused enrollments', async () => (await e.api('GET', `/v1/automations/${a.id}/enrollments?status=paused`)).body.items.length === 3);
    expect((await e.api('POST', `/v1/automations/${a.id}/resume`)).status).toBe(200);
    await waitFor('resumed enrollments', async () => (await e.api('GET', `/v1/automations/${a.id}/enrollments?status=active`)).body.items.length === 3);
  });
});

describe('manual enrollment and exit', () => {
  it('enrolls by hand, refuses a second entry (409), exits on request (202) and refuses inactive automations (409)', async () => {
    const a = await createAutomation(
      e,
      {
        name: 'Manual',
        trigger: { type: 'manual' },
        steps: [
          { id: 'later', type: 'wait', duration: 'PT1H' },
          { id: 'mail', type: 'email', to: 'record', template: 'tpl_slice_manual' },
        ],
      },
      { templates: [{ id: 'tpl_slice_manual' }] },
    );
    await putRecord(e, 'slice-manual');

    const first = await e.api('POST', `/v1/automations/${a.id}/enrollments`, { recordId: 'slice-manual' });
    expect(first.status).toBe(201);
    const again = await e.api('POST', `/v1/automations/${a.id}/enrollments`, { recordId: 'slice-manual' });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ status: 409, field: '/body/recordId' });

    const unknown = await e.api('POST', `/v1/automations/${a.id}/enrollments`, { recordId: 'nobody' });
    expect(unknown.status).toBe(422);
    const bad = await e.api('POST', `/v1/automations/${a.id}/enrollments`, { recordId: 'slice-manual', extra: 1 });
    expect(bad.status).toBe(400);

    const listed = await e.api('GET', `/v1/automations/${a.id}/enrollments?status=active`);
    expect(listed.body.items.map((x: any) => x.id)).toEqual([first.body.id]);
    await waitFor(
      'the enrollment to wait at step later',
      async () => (await e.api('GET', `/v1/automations/${a.id}/enrollments?step=later`)).body.items.length === 1,
    );

    const exit = await e.api('POST', `/v1/enrollments/${first.body.id}/exit`);
    expect(exit.status).toBe(202);
    const exited = await waitFor('exited', async () => {
      const r = await e.api('GET', `/v1/enrollments/${first.body.id}`);
      return r.body.status === 'exited' && r.body;
    });
    expect(exited.exitReason).toBe('manual');
    expect(exited.messages).toEqual([]);
    expect((await e.api('POST', `/v1/enrollments/${first.body.id}/exit`)).status).toBe(409);

    // after_exit: a new entry is allowed now, with the next sequence number.
    const second = await e.api('POST', `/v1/automations/${a.id}/enrollments`, { recordId: 'slice-manual' });
    expect(second.status).toBe(201);
    expect(second.body.seq).toBe(2);

    const draft = await createAutomation(
      e,
      { name: 'Draft', trigger: { type: 'manual' }, steps: [{ id: 'w', type: 'wait', duration: 'PT1M' }] },
      { activate: false },
    );
    const refused = await e.api('POST', `/v1/automations/${draft.id}/enrollments`, { recordId: 'slice-manual' });
    expect(refused.status).toBe(409);
    expect((await e.api('GET', '/v1/enrollments/enr_missing')).status).toBe(404);
  });

  it('re-entry once: never again after any enrollment', async () => {
    const a = await createAutomation(e, {
      name: 'Once',
      trigger: { type: 'manual' },
      settings: { reentry: 'once' },
      steps: [{ id: 'x', type: 'exit' }],
    });
    await putRecord(e, 'slice-once');
    const first = await e.api('POST', `/v1/automations/${a.id}/enrollments`, { recordId: 'slice-once' });
    expect(first.status).toBe(201);
    await waitFor('ended', async () => (await e.api('GET', `/v1/enrollments/${first.body.id}`)).body.status !== 'active');
    expect((await e.api('POST', `/v1/automations/${a.id}/enrollments`, { recordId: 'slice-once' })).status).toBe(409);
  });
});
