/**
 * The enrollments row (status, current step, exit reason, converted, ended) and one
 * enrollment_steps row per executed step visit, so the API can list enrollments by status and
 * step and show a timeline. Both writes are idempotent: replaying an update changes nothing.
 */
import type { ActivityDeps } from './deps';
import type { ProgressUpdate } from '#domain/commands';
import { insertStepVisit, saveEnrollmentProgress } from '#db/enrollments';
import { cancelQueuedMessages } from '#db/messages';
import { notify, type NotificationType } from '#db/notifications';

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
        await saveEnrollmentProgress(tx, {
          id: u.enrollmentId,
          workspaceId: u.workspaceId,
          automationId: u.automationId,
          version: u.version,
          recordId: u.recordId,
          seq: u.seq,
          workflowId: u.workflowId,
          variant: u.variant,
          triggerEventId: u.triggerEventId,
          startedAt: new Date(u.startedAt),
          status: u.status,
          currentStep: u.currentStep,
          exitReason: u.exitReason ?? null,
          ...(u.converted !== undefined ? { converted: u.converted } : {}),
          endedAt: ended,
          updatedAt: now,
        });
        if (ended) {
          // A send still waiting for its retry when the enrollment ended (an exit cancels it) never goes out.
          await cancelQueuedMessages(tx, u.enrollmentId, `not sent: the enrollment ended (${u.exitReason ?? u.status}) before it went out`, now);
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
          await insertStepVisit(tx, { enrollmentId: u.enrollmentId, ...u.step, detail: u.step.detail ?? {} });
        }
      });
    },
  };
}
