/**
 * The sweep's Temporal Schedule on the real dev server (the time-skipping server has none; the
 * recipes' timing is in test/workflow/sweeps.test.ts): activating a date trigger creates the
 * workspace's schedule (interval SWEEP_INTERVAL, overlap BUFFER_ONE, catch-up), a second
 * activation reuses it, and the schedule's sweeps enroll a record when its date comes, once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { SWEEP_WORKFLOW, sweepScheduleId } from '#engine/sweep-schedules';
import { createAutomation, putRecord, startEngineTest, waitFor, type EngineTest } from './engine-support';

let e: EngineTest;
beforeAll(async () => {
  e = await startEngineTest({ env: { SWEEP_INTERVAL: 'PT10S' } });
});
afterAll(async () => {
  await e?.temporal.schedule
    .getHandle(sweepScheduleId(e.t.workspaceId))
    .delete()
    .catch(() => undefined);
  await e?.close();
});

describe('sweep schedule', () => {
  it('is created at activation and enrolls a record once its date comes', async () => {
    // "7 days before renewal", the renewal 7 days and 20 seconds from now: due in 20 seconds.
    const renewsAt = new Date(Date.now() + 7 * 86_400_000 + 20_000).toISOString();
    await putRecord(e, 'sub_1', { timezone: 'UTC', attributes: { renews_at: renewsAt } });
    await putRecord(e, 'sub_2', { timezone: 'UTC', attributes: { renews_at: new Date(Date.now() + 30 * 86_400_000).toISOString() } });
    const { id } = await createAutomation(
      e,
      {
        name: 'Renewal reminder',
        trigger: { type: 'date', field: 'record.attributes.renews_at', offset: '-P7D' },
        steps: [{ id: 'remind', type: 'email', to: 'record', template: 'tpl_renewal' }],
      },
      { templates: [{ id: 'tpl_renewal' }] },
    );

    const schedule = await e.temporal.schedule.getHandle(sweepScheduleId(e.t.workspaceId)).describe();
    expect(schedule.spec.intervals?.map((i) => i.every)).toEqual([10_000]);
    expect(schedule.policies.overlap).toBe(ScheduleOverlapPolicy.BUFFER_ONE);
    expect(schedule.policies.catchupWindow).toBe(86_400_000);
    expect(schedule.action).toMatchObject({
      type: 'startWorkflow',
      workflowType: SWEEP_WORKFLOW,
      taskQueue: e.config.TEMPORAL_TASK_QUEUE,
      args: [{ workspaceId: e.t.workspaceId }],
    });

    // A second date automation in the workspace: the same schedule, unchanged.
    await createAutomation(e, {
      name: 'Second',
      trigger: { type: 'inactivity', event: 'booking.completed', after: 'P60D' },
      steps: [{ id: 'remind', type: 'email', to: 'record', template: 'tpl_renewal' }],
    });
    const again = await e.temporal.schedule.getHandle(sweepScheduleId(e.t.workspaceId)).describe();
    expect(again.info.createdAt).toEqual(schedule.info.createdAt);

    const messages = await waitFor(
      'the reminder',
      async () => {
        const res = await e.api('GET', `/v1/messages?automationId=${id}`);
        // A send first claims its row (`queued`, then `sending`); wait for the outcome.
        return res.body.items.length > 0 && !['queued', 'sending'].includes(res.body.items[0].status) && res.body.items;
      },
      120_000,
      500,
    );
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ recordId: 'sub_1', stepId: 'remind', status: 'sandboxed' });
    // Later sweeps (every 10 s) find the enrollment there: still one.
    await waitFor(
      'two more sweeps',
      async () => (await e.temporal.schedule.getHandle(sweepScheduleId(e.t.workspaceId)).describe()).info.numActionsTaken >= 3 || undefined,
      60_000,
      500,
    );
    const enrollments = await e.api('GET', `/v1/automations/${id}/enrollments`);
    expect(enrollments.body.items.map((x: { recordId: string }) => x.recordId)).toEqual(['sub_1']);
    expect((await e.api('GET', `/v1/messages?automationId=${id}`)).body.items).toHaveLength(1);
  });
});
