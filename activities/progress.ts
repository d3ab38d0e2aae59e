/**
 * The enrollments row (status, current step, exit reason, converted, ended) and one
 * enrollment_steps row per executed step visit, so the API can list enrollments by status and
 * step and show a timeline. Both writes are idempotent: replaying an update changes nothing.
 */
import type { ActivityDeps } from './deps';
import type { ProgressUpdate } from './types';
import { notify, type NotificationType } from '../db/notifications';

const ENROLLMENT_NOTIFICATIONS: Partial<Record<ProgressUpdate['status'], NotificationType>> = {
  active: 'enrollment.started',
  completed: 'enrollment.completed',
  exited: 'enrollment.exited',
  failed: 'enrollment.failed',
};

export function progressActivities(deps: ActivityDeps) {
  const { db, clock } = deps;
  return {
    async recordProgress(u: ProgressUpdate): Promise<void> {
      const now = clock();
      const ended = u.endedAt ?? null;
      await db.transaction().execute(async (tx) => {
        // Inserted by whoever started the workflow; upserted here so a row is never missing.
        await tx
          .insertInto('enrollments')
          .values({
            id: u.enrollmentId,
            workspace_id: u.workspaceId,
            automation_id: u.automationId,
            version: u.version,
            record_id: u.recordId,
            seq: u.seq,
            workflow_id: u.workflowId,
            status: u.status,
            current_step: u.currentStep,
            exit_reason: u.exitReason ?? null,
            converted: u.converted ?? false,
            variant: u.variant,
            trigger_event_id: u.triggerEventId,
            started_at: u.startedAt,
            ended_at: ended,
            updated_at: now,
          })
          .onConflict((oc) =>
            oc.column('id').doUpdateSet({
              status: u.status,
              current_step: u.currentStep,
              exit_reason: u.exitReason ?? null,
              ...(u.converted !== undefined ? { converted: u.converted } : {}),
              ended_at: ended,
              updated_at: now,
            }),
          )
          .execute();
        if (ended) {
          // A send still waiting for its retry when the enrollment ended (an exit cancels it) never goes out.
          await tx
            .updateTable('messages')
            .set({ status: 'cancelled', error: `not sent: the enrollment ended (${u.exitReason ?? u.status}) before it went out`, updated_at: now })
            .where('enrollment_id', '=', u.enrollmentId)
            .where('status', '=', 'queued')
            .execute();
        }
        const type = ENROLLMENT_NOTIFICATIONS[u.status];
        if (type) {
          // Keyed by enrollment: every later progress update of an active enrollment queues nothing.
          await notify(tx, u.workspaceId, {
            id: `${type}:${u.enrollmentId}`,
            type,
            data: {
              enrollmentId: u.enrollmentId,
              automationId: u.automationId,
              version: u.version,
              recordId: u.recordId,
              status: u.status,
              currentStep: u.currentStep,
              exitReason: u.exitReason ?? null,
            },
          });
        }
        if (u.step) {
          await tx
            .insertInto('enrollment_steps')
            .values({
              enrollment_id: u.enrollmentId,
              step_id: u.step.stepId,
              visit: u.step.visit,
              type: u.step.type,
              status: u.step.status,
              due_at: u.step.dueAt,
              at: u.step.at,
              detail: JSON.stringify(u.step.detail ?? {}),
            })
            .onConflict((oc) => oc.columns(['enrollment_id', 'step_id', 'visit']).doNothing())
            .execute();
        }
      });
    },
  };
}
