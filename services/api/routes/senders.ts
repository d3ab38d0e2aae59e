/** /v1/senders: the identities messages go out as (docs/design.md §7.3). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { newId } from '#db/ids';
import { createSender, deleteSender, getSender, listSenders, type SenderInput } from '#db/senders';
import { conflict, invalid, notFound } from '../errors';
import { decodeCursor, pageOf, pageSize } from '../pagination';
import { v1Problems } from '../schemas/common';
import { SenderCreate, SenderList, SenderListQuery, SenderParams, SenderView, toSenderView } from '../schemas/senders';

function inputOf(b: SenderCreate): SenderInput {
  const none = { name: null, replyTo: null, messagingServiceSid: null, kind: null, segmentsPerSecond: null };
  if (b.channel === 'email') return { ...none, channel: 'email', from: b.from, name: b.name ?? null, replyTo: b.replyTo ?? null };
  if (b.channel === 'voicemail') return { ...none, channel: 'voicemail', from: b.from };
  if ((b.from === undefined) === (b.messagingServiceSid === undefined)) {
    throw invalid([{ field: '/body/from', message: 'an SMS sender needs exactly one of from (a number) and messagingServiceSid' }]);
  }
  return {
    ...none,
    channel: 'sms',
    from: b.from ?? null,
    messagingServiceSid: b.messagingServiceSid ?? null,
    kind: b.kind,
    segmentsPerSecond: b.segmentsPerSecond ?? null,
  };
}

const senders: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/senders',
    {
      schema: {
        tags: ['senders'],
        summary: 'Create a sender identity',
        description:
          'Email: from, name, reply-to. SMS: a number or a Twilio Messaging Service, its kind (long_code 1, toll_free 3, short_code 100 segments per second unless segmentsPerSecond says otherwise). Voicemail: the caller id. A step names one in `from`; otherwise the workspace default for the channel (/v1/settings) is used.',
        body: SenderCreate,
        response: { 201: SenderView, ...v1Problems(400, 409, 413, 415) },
      },
    },
    async (request, reply) => {
      const id = request.body.id ?? newId('snd');
      const row = await createSender(app.db, request.workspaceId, id, inputOf(request.body));
      if (!row) throw conflict(`a sender with id ${id} exists or existed`, '/body/id');
      return reply.status(201).send(toSenderView(row));
    },
  );

  app.get(
    '/senders',
    {
      schema: {
        tags: ['senders'],
        summary: 'List sender identities',
        description: 'Ordered by id.',
        querystring: SenderListQuery,
        response: { 200: SenderList, ...v1Problems(400) },
      },
    },
    async (request) => {
      const size = pageSize(request.query.limit);
      const after = decodeCursor(request.query.cursor, 1)?.[0];
      const rows = await listSenders(app.db, request.workspaceId, { after: after === undefined || after === null ? undefined : String(after), limit: size });
      return pageOf(rows, size, toSenderView, (r) => [r.id]);
    },
  );

  app.get(
    '/senders/:id',
    {
      schema: { tags: ['senders'], summary: 'Read a sender identity', params: SenderParams, response: { 200: SenderView, ...v1Problems(400, 404) } },
    },
    async (request) => {
      const row = await getSender(app.db, request.workspaceId, request.params.id);
      if (!row) throw notFound('sender', request.params.id);
      return toSenderView(row);
    },
  );

  app.delete(
    '/senders/:id',
    {
      schema: {
        tags: ['senders'],
        summary: 'Delete a sender identity',
        description:
          'Refused with 409 while an automation (any version: enrollments may be running it) names it in a step, or it is a workspace default sender.',
        params: SenderParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...v1Problems(400, 404, 409) },
      },
    },
    async (request, reply) => {
      const outcome = await deleteSender(app.db, request.workspaceId, request.params.id);
      if (outcome === 'not_found') throw notFound('sender', request.params.id);
      if (outcome !== 'deleted') {
        const why = [
          outcome.automations.length > 0 ? `automation(s) ${outcome.automations.join(', ')} send from it` : null,
          outcome.isDefault ? 'it is a default sender in /v1/settings' : null,
        ]
          .filter(Boolean)
          .join(' and ');
        throw conflict(`sender ${request.params.id} is in use: ${why}`);
      }
      return reply.status(204).send(null);
    },
  );
};

export default senders;
