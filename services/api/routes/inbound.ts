/**
 * What comes in, as the workspace sees it: its SendGrid Inbound Parse address (created or rotated
 * here, its secrets shown once) and the inbound messages stored by the provider webhooks, those
 * from senders no record has included.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { inboundParseState, rotateInboundParseAccount } from '#db/inbound-parse';
import { listInboundMessages } from '#db/inbound';
import { decodeTimeCursor, pageOf, pageSize } from '../pagination';
import { iso, v1Problems } from '../schemas/common';
import { InboundMessageList, InboundMessageListQuery, InboundParseCreated, InboundParseView, toInboundMessageView } from '../schemas/inbound';

const TAGS = ['inbound'];

const inbound: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/inbound-parse',
    {
      schema: {
        tags: TAGS,
        summary: "The workspace's SendGrid Inbound Parse address (without its secrets)",
        response: { 200: InboundParseView, ...v1Problems() },
      },
    },
    async (request) => {
      const row = await inboundParseState(app.db, request.workspaceId);
      return { set: row !== undefined, username: row?.username ?? null, createdAt: row ? iso(row.created_at) : null };
    },
  );

  app.post(
    '/inbound-parse',
    {
      schema: {
        tags: TAGS,
        summary: 'Create or rotate the Inbound Parse address',
        description:
          "A new path secret, user name and password, shown in this answer only; the previous ones stop working at once. Replies to the workspace's email senders reach it when SendGrid's Inbound Parse for their domain posts to `destinationUrl`.",
        response: { 201: InboundParseCreated, ...v1Problems() },
      },
    },
    async (request, reply) => {
      const account = await rotateInboundParseAccount(app.db, request.workspaceId);
      const url = new URL(`${app.config.PUBLIC_URL}/webhooks/sendgrid/inbound/${account.pathSecret}`);
      const destination = new URL(url);
      destination.username = account.username;
      destination.password = account.password;
      return reply.status(201).send({
        url: url.toString(),
        username: account.username,
        password: account.password,
        destinationUrl: destination.toString(),
        createdAt: iso(account.createdAt),
      });
    },
  );

  app.get(
    '/inbound-messages',
    {
      schema: {
        tags: TAGS,
        summary: 'List inbound SMS and email',
        description:
          "Newest first. Each is matched to the record with the sender's number or address; `matched=false` lists those from senders no record has (stored, never dropped).",
        querystring: InboundMessageListQuery,
        response: { 200: InboundMessageList, ...v1Problems(400) },
      },
    },
    async (request) => {
      const size = pageSize(request.query.limit);
      const rows = await listInboundMessages(app.db, request.workspaceId, {
        channel: request.query.channel,
        matched: request.query.matched,
        before: decodeTimeCursor(request.query.cursor),
        limit: size,
      });
      return pageOf(rows, size, toInboundMessageView, (r) => [r.cursor_at, r.id]);
    },
  );
};

export default inbound;
