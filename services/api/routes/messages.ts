import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { getMessage, listMessages } from '#db/messages';
import { notFound } from '../errors';
import { decodeTimeCursor, pageOf, pageSize } from '../pagination';
import { IdParam, v1Problems } from '../schemas/common';
import { MessageList, MessageListQuery, MessageView, toMessageView } from '../schemas/messages';

const messages: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/messages',
    {
      schema: {
        tags: ['messages'],
        summary: 'List messages sent (or sandboxed)',
        description:
          'One row per send with its rendered content and delivery status, newest first. Filters: recordId (external id), automationId, enrollmentId, channel, status. With no provider credentials, sends are stored as `sandboxed`.',
        querystring: MessageListQuery,
        response: { 200: MessageList, ...v1Problems(400) },
      },
    },
    async (request) => {
      const { limit, cursor, ...filters } = request.query;
      const size = pageSize(limit);
      const rows = await listMessages(app.db, request.workspaceId, { ...filters, before: decodeTimeCursor(cursor), limit: size });
      return pageOf(rows, size, toMessageView, (r) => [r.cursor_at, r.id]);
    },
  );

  app.get(
    '/messages/:id',
    {
      schema: { tags: ['messages'], summary: 'Read a message', params: IdParam, response: { 200: MessageView, ...v1Problems(400, 404) } },
    },
    async (request) => {
      const row = await getMessage(app.db, request.workspaceId, request.params.id);
      if (!row) throw notFound('message', request.params.id);
      return toMessageView(row);
    },
  );
};

export default messages;
