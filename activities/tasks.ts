/** Tasks for staff (task steps, owner notifications), idempotent by key. */
import { newId } from '#db/ids';
import type { StaffRecipient } from '#domain/definition';
import type { ActivityDeps } from './deps';
import { notify, taskNotification } from '#db/notifications';
import { getRecord } from '#db/records';
import { insertTask, taskByKey } from '#db/tasks';
import { userIdByEmail } from '#db/users';
import { renderContent } from '#domain/templates';
import { renderTemplate, sendScope, TemplateError } from './render';
import type { CreateTaskRequest, CreateTaskResult } from '#domain/commands';

async function assigneeId(deps: ActivityDeps, req: CreateTaskRequest, assignee: StaffRecipient): Promise<string | null> {
  if (assignee === 'owner') {
    const live = await getRecord(deps.db, req.workspaceId, req.recordId);
    return live?.owner_id ?? req.ownerId ?? null;
  }
  if ('user' in assignee) return assignee.user;
  return (await userIdByEmail(deps.db, req.workspaceId, assignee.email)) ?? null;
}

export function taskActivities(deps: ActivityDeps) {
  const { db, clock } = deps;

  async function createTask(req: CreateTaskRequest): Promise<CreateTaskResult> {
    const existing = await taskByKey(db, req.idempotencyKey);
    if (existing) return { taskId: existing.id, assigneeId: existing.assignee_id, title: existing.title, created: false };

    let title = req.fallback?.title ?? 'Follow up';
    let body: string | null = req.fallback?.body ?? null;
    const scope = req.template || req.fallback ? await sendScope(db, req.workspaceId, req.context) : null;
    if (req.template && scope) {
      try {
        const r = await renderTemplate(req.template, scope);
        title = r.title || r.subject || title;
        body = r.body ?? r.text ?? body;
      } catch (err) {
        if (!(err instanceof TemplateError)) throw err;
        body = `${body ?? ''}\n(template error: ${err.message})`.trim();
      }
    } else if (req.fallback && scope) {
      const r = await renderContent('task', { title: req.fallback.title, ...(req.fallback.body ? { body: req.fallback.body } : {}) }, scope);
      title = r.title || title;
      body = r.body ?? null;
    }

    const id = newId('task');
    const assignee = await assigneeId(deps, req, req.assignee);
    // The task and its task.created notification commit together.
    const inserted = await db.transaction().execute(async (trx) => {
      const row = await insertTask(trx, {
        id,
        workspace_id: req.workspaceId,
        idempotency_key: req.idempotencyKey,
        enrollment_id: req.enrollmentId,
        automation_id: req.automationId,
        step_id: req.stepId,
        record_id: req.recordId,
        assignee_id: assignee,
        title,
        body,
        priority: req.priority,
        due_at: req.dueAt,
        created_at: clock(),
      });
      if (row) await notify(trx, req.workspaceId, { id: `task.created:${row.id}`, type: 'task.created', data: taskNotification(row) });
      return row;
    });
    // Not inserted: a concurrent attempt of the same step inserted it first.
    const row = inserted ?? (await taskByKey(db, req.idempotencyKey));
    if (!row) throw new Error(`task ${req.idempotencyKey} missing after its insert`);
    return { taskId: row.id, assigneeId: row.assignee_id, title: row.title, created: row.id === id };
  }

  return { createTask };
}
