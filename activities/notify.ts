/**
 * Tells the person in charge that an enrollment ended (a reply took the lead off the sequence):
 * a task for the owner (or the named user) and, when they have an email address, an email.
 * Both are idempotent by the request key.
 */
import type { ActivityDeps } from './deps';
import type { messageActivities } from './messages';
import type { taskActivities } from './tasks';
import type { NotifyOwnerRequest, NotifyOwnerResult } from '#domain/commands';

const REASONS: Record<string, string> = {
  'event:message.replied': 'replied',
};

function describe(reason: string): string {
  if (REASONS[reason]) return REASONS[reason];
  if (reason.startsWith('event:')) return `sent ${reason.slice('event:'.length)}`;
  if (reason.startsWith('field_changed:')) return `changed ${reason.slice('field_changed:'.length)}`;
  if (reason === 'goal') return 'reached the goal';
  return `left the sequence (${reason})`;
}

export function notifyActivities(_deps: ActivityDeps, tasks: ReturnType<typeof taskActivities>, messages: ReturnType<typeof messageActivities>) {
  return {
    async notifyOwner(req: NotifyOwnerRequest): Promise<NotifyOwnerResult> {
      const who = '{{ record.name | default: record.externalId }}';
      const what = describe(req.reason);
      const assignee = req.notify === 'owner' ? 'owner' : { user: req.notify.user };
      const task = await tasks.createTask({
        workspaceId: req.workspaceId,
        enrollmentId: req.enrollmentId,
        automationId: req.automationId,
        recordId: req.recordId,
        idempotencyKey: `${req.idempotencyKey}:task`,
        stepId: null,
        assignee,
        ownerId: req.ownerId,
        template: null,
        fallback: { title: `${who} ${what}`, body: `${who} ${what} and was taken off the sequence. Follow up personally.` },
        priority: 'high',
        dueAt: req.at,
        context: req.context,
      });
      const mail = await messages.sendMessage({
        workspaceId: req.workspaceId,
        enrollmentId: req.enrollmentId,
        automationId: req.automationId,
        recordId: req.recordId,
        idempotencyKey: `${req.idempotencyKey}:email`,
        stepId: 'notify',
        channel: 'email',
        to: assignee,
        template: {
          id: 'builtin:owner_notification',
          version: 1,
          channel: 'email',
          content: { subject: `${who} ${what}`, text: `${who} ${what} and was taken off the sequence (${req.reason}).` },
        },
        templateId: 'builtin:owner_notification',
        variant: null,
        context: req.context,
        dueAt: req.at,
      });
      return { taskId: task.taskId, assigneeId: task.assigneeId, messageId: mail.status === 'failed' && !mail.to ? null : mail.messageId };
    },
  };
}
