/**
 * One Temporal Schedule per workspace runs its date/inactivity sweep (workflows/sweep.ts) every
 * SWEEP_INTERVAL; in the Web UI under Schedules as `sweep/<workspace>`. Ensured when an
 * automation with such a trigger is activated (and by the worker at start-up), updated when the
 * interval changed. Overlap BUFFER_ONE: two sweeps of one workspace never run at once, and a
 * sweep that outlasts the interval is followed by one more right away, not by a pile. After an
 * outage the schedule catches up within a day, and one sweep covers everything missed (a sweep
 * always reads every occurrence since the last completed one).
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptionsStartWorkflowAction } from '@temporalio/client';
import { sweepWorkflow } from '#workflows/sweep';

export const SWEEP_WORKFLOW = 'sweepWorkflow';
const CATCHUP_WINDOW = '1 day';

export const sweepScheduleId = (workspaceId: string) => `sweep/${workspaceId}`;

export async function ensureSweepSchedule(
  temporal: Client,
  opts: { workspaceId: string; taskQueue: string; intervalMs: number },
): Promise<'created' | 'updated' | 'unchanged'> {
  const scheduleId = sweepScheduleId(opts.workspaceId);
  const action: ScheduleOptionsStartWorkflowAction<typeof sweepWorkflow> = {
    type: 'startWorkflow',
    // By function reference: the arguments are type-checked against the workflow's parameters.
    workflowType: sweepWorkflow,
    workflowId: `sweep/${opts.workspaceId}`,
    taskQueue: opts.taskQueue,
    args: [{ workspaceId: opts.workspaceId }],
  };
  const policies = { overlap: ScheduleOverlapPolicy.BUFFER_ONE, catchupWindow: CATCHUP_WINDOW };
  try {
    await temporal.schedule.create({ scheduleId, spec: { intervals: [{ every: opts.intervalMs }] }, action, policies });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  const handle = temporal.schedule.getHandle(scheduleId);
  const current = await handle.describe();
  const every = current.spec.intervals?.[0]?.every;
  const sameQueue = current.action.type === 'startWorkflow' && current.action.taskQueue === opts.taskQueue;
  if (every === opts.intervalMs && sameQueue && current.policies.overlap === policies.overlap) return 'unchanged';
  await handle.update((prev) => ({ ...prev, spec: { intervals: [{ every: opts.intervalMs }] }, action, policies }));
  return 'updated';
}
