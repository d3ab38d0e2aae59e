import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { getTask, listTasks, setTaskStatus } from '#db/tasks';
import { notify, taskNotification } from '#db/notifications';
import { newId } from '#db/ids';
import { notFound } from '../errors';
import { decodeTimeCursor, pageOf, pageSize } from '../pagination';
import { IdParam, v1Problems } from '../schemas/common';
import { TaskList, TaskListQuery, TaskPatch, TaskView, toTaskView } from '../schemas/tasks';

const tasks: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/tasks',
    {
      schema: {
        tags: ['tasks'],
        summary: 'List tasks for staff',
        description: 'Created by task steps; newest first. Filters: assignee (user id), status, recordId.',
        querystring: TaskListQuery,
        response: { 200: TaskList, ...v1Problems(400) },
      },
    },
    async (request) => {
      const { limit, cursor, ...filters } = request.query;
      const size = pageSize(limit);
      const rows = await listTasks(app.db, request.workspaceId, { ...filters, before: decodeTimeCursor(cursor), limit: size });
      return pageOf(rows, size, toTaskView, (r) => [r.cursor_at, r.id]);
    },
  );

  app.get(
    '/tasks/:id',
    {
      schema: { tags: ['tasks'], summary: 'Read a task', params: IdParam, response: { 200: TaskView, ...v1Problems(400, 404) } },
    },
    async (request) => {
      const row = await getTask(app.db, request.workspaceId, request.params.id);
      if (!row) throw notFound('task', request.params.id);
      return toTaskView(row);
    },
  );

  app.patch(
    '/tasks/:id',
    {
      schema: {
        tags: ['tasks'],
        summary: "Change a task's status",
        description: '`done` or `cancelled` sets completedAt; `open` reopens it and clears completedAt.',
        params: IdParam,
        body: TaskPatch,
        response: { 200: TaskView, ...v1Problems(400, 404, 413, 415) },
      },
    },
    async (request) => {
      const row = await app.db.transaction().execute(async (trx) => {
        const updated = await setTaskStatus(trx, request.workspaceId, request.params.id, request.body.status);
        if (updated) await notify(trx, request.workspaceId, { id: newId('ntf'), type: 'task.updated', data: taskNotification(updated) });
        return updated;
      });
      if (!row) throw notFound('task', request.params.id);
      return toTaskView(row);
    },
  );
};

export default tasks;
