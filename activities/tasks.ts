/** Tasks for staff (task steps, owner notifications), idempotent by key. */
import { newId } from '../db/ids';
import type { StaffRecipient } from '../domain/definition';
import type { ActivityDeps } from './deps';
import { notify, taskNotification } from '../db/notifications';
import { loadRecord } from './recipients';
import { renderTemplate, renderString, TemplateError } from './render';
import type { CreateTaskRequest, CreateTaskResult } from './types';

async function assigneeId(deps: ActivityDeps, req: CreateTaskRequest, assignee: StaffRecipient): Promise<string | null> {
  if (assignee === 'owner') {
    const live = await loadRecord(deps.db, req.workspaceId, req.recordId);
    return live?.owner_id ?? req.ownerId ?? null;
  }
  if ('user' in assignee) return assignee.user;
  const user = await deps.db
    .selectFrom('users')
    .select('id')
    .where('workspace_id', '=', req.workspaceId)
    .where('email', '=', assignee.email)
    .executeTakeFirst();
  return user?.id ?? null;
}

export function taskActivities(deps: ActivityDeps) {
  const { db, clock } = deps;

  async function createTask(req: CreateTaskRequest): Promise<CreateTaskResult> {
    const existing = await db.selectFrom('tasks').selectAll().where('idempotency_key', '=', req.idempotencyKey).executeTakeFirst();
    if (existing) return { taskId: existing.id, assigneeId: existing.assignee_id, title: existing.title, created: false };

    let title = req.fallback?.title ?? 'Follow up';
    let body: string | null = req.fallback?.body ?? null;
    if (req.template) {
      try {
        const r = await renderTemplate(req.template, req.context);
        title = r.title || r.subject || title;
        body = r.body ?? r.text ?? body;
      } catch (err) {
        if (!(err instanceof TemplateError)) throw err;
        body = `${body ?? ''}\n(template error: ${err.message})`.trim();
      }
    } else if (req.fallback) {
      title = (await renderString(req.fallback.title, req.context)) ?? title;
      body = req.fallback.body ? await renderString(req.fallback.body, req.context) : null;
    }

    const id = newId('task');
    const assignee = await assigneeId(deps, req, req.assignee);
    // The task and its task.created notification commit together.
    await db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('tasks')
        .values({
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
        })
        .onConflict((oc) => oc.column('idempotency_key').doNothing())
        .returningAll()
        .executeTakeFirst();
      if (inserted) await notify(trx, req.workspaceId, { id: `task.created:${inserted.id}`, type: 'task.created', data: taskNotification(inserted) });
    });
    const row = await db.selectFrom('tasks').selectAll().where('idempotency_key', '=', req.idempotencyKey).executeTakeFirstOrThrow();
    return { taskId: row.id, assigneeId: row.assignee_id, title: row.title, created: row.id === id };
  }

  return { createTask };
}
