import { Type, type Static } from 'typebox';
import type { TaskRow } from '#db/schema';
import { TASK_STATUSES } from '#db/tasks';
import { iso, ListOf, ListQueryWith, Nullable, NullableTimestamp, Timestamp } from './common';

const TaskStatus = Type.Enum(TASK_STATUSES);

export const TaskView = Type.Object(
  {
    id: Type.String(),
    enrollmentId: Nullable(Type.String()),
    automationId: Nullable(Type.String()),
    stepId: Nullable(Type.String()),
    recordId: Nullable(Type.String({ description: "The record's external id" })),
    assignee: Nullable(Type.String({ description: 'User id' })),
    title: Type.String(),
    body: Nullable(Type.String()),
    priority: Type.String({ description: 'low, normal, high, urgent' }),
    status: Type.String({ description: 'open, done, cancelled' }),
    dueAt: NullableTimestamp(),
    createdAt: Timestamp(),
    completedAt: NullableTimestamp(),
  },
  {
    examples: [
      {
        id: 'tsk_...',
        enrollmentId: 'enr_...',
        automationId: 'aut_...',
        stepId: 'urgent',
        recordId: 'lead-1042',
        assignee: 'maria',
        title: 'Call Ana back: rating 2',
        body: null,
        priority: 'urgent',
        status: 'open',
        dueAt: '2026-11-24T09:00:00.000Z',
        createdAt: '2026-11-23T12:00:00.000Z',
        completedAt: null,
      },
    ],
  },
);
export type TaskView = Static<typeof TaskView>;

export const TaskListQuery = ListQueryWith({
  assignee: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'User id' })),
  status: Type.Optional(TaskStatus),
  recordId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
});
export const TaskList = ListOf(TaskView);

export const TaskPatch = Type.Object({ status: TaskStatus }, { additionalProperties: false, examples: [{ status: 'done' }] });

export function toTaskView(row: TaskRow): TaskView {
  return {
    id: row.id,
    enrollmentId: row.enrollment_id,
    automationId: row.automation_id,
    stepId: row.step_id,
    recordId: row.record_id,
    assignee: row.assignee_id,
    title: row.title,
    body: row.body,
    priority: row.priority,
    status: row.status,
    dueAt: iso(row.due_at),
    createdAt: iso(row.created_at),
    completedAt: iso(row.completed_at),
  };
}
