import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { addSuppression, listSuppressions, removeSuppression } from '#db/suppressions';
import { suppressionFor } from '#domain/suppression';
import { invalid, notFound } from '../errors';
import { decodeTimeCursor, pageOf, pageSize } from '../pagination';
import { v1Problems } from '../schemas/common';
import { SuppressionCreate, SuppressionList, SuppressionListQuery, SuppressionParams, SuppressionView, toSuppressionView } from '../schemas/suppressions';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const E164 = /^\+[1-9][0-9]{6,14}$/;

function checkAddress(channel: 'email' | 'sms' | 'voicemail', address: string, field: string): void {
  if (channel === 'email' ? !EMAIL.test(address) : !E164.test(address)) {
    throw invalid([{ field, message: channel === 'email' ? 'is not an email address' : 'is not an E.164 number (+<country><number>)' }]);
  }
}

const suppressions: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/suppressions',
    {
      schema: {
        tags: ['suppressions'],
        summary: 'List suppressed addresses',
        description: 'Newest first; `channel` filters.',
        querystring: SuppressionListQuery,
        response: { 200: SuppressionList, ...v1Problems(400) },
      },
    },
    async (request) => {
      const size = pageSize(request.query.limit);
      const rows = await listSuppressions(app.db, request.workspaceId, {
        channel: request.query.channel,
        before: decodeTimeCursor(request.query.cursor),
        limit: size,
      });
      return pageOf(rows, size, toSuppressionView, (r) => [r.cursor_at, `${r.channel}:${r.address}`]);
    },
  );

  app.post(
    '/suppressions',
    {
      schema: {
        tags: ['suppressions'],
        summary: 'Suppress an address on a channel',
        description:
          'Nothing is sent to the address on that channel any more, by any automation (the message is stored as `suppressed` with the reason), ' +
          'and every record with that address gets `unsubscribed.<channel>: true` (a record change that `fieldChanged` exits see). ' +
          'Emails compare case-insensitively. An address already suppressed answers 200 with the suppression as it was.',
        body: SuppressionCreate,
        response: { 201: SuppressionView, 200: SuppressionView, ...v1Problems(400, 413, 415) },
      },
    },
    async (request, reply) => {
      const { channel, address, reason } = request.body;
      checkAddress(channel, address.trim(), '/body/address');
      const { row, created } = await addSuppression(app.db, request.workspaceId, { channel, address, ...suppressionFor({ kind: 'api', reason }) });
      return reply.status(created ? 201 : 200).send(toSuppressionView(row));
    },
  );

  app.delete(
    '/suppressions/:channel/:address',
    {
      schema: {
        tags: ['suppressions'],
        summary: 'Lift a suppression',
        description: 'Sends to the address resume and its records get `unsubscribed.<channel>: false`. URL-encode the address (`%2B` for +).',
        params: SuppressionParams,
        response: { 204: Type.Null({ description: 'Lifted' }), ...v1Problems(400, 404) },
      },
    },
    async (request, reply) => {
      const { channel, address } = request.params;
      if (!(await removeSuppression(app.db, request.workspaceId, channel, address))) throw notFound(`${channel} suppression`, address);
      return reply.status(204).send(null);
    },
  );
};

export default suppressions;
