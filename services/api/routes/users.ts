import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { IANAZone } from 'luxon';
import { createUser, deleteUser, getUser, listUsers, replaceUser } from '#db/users';
import { conflict, invalid, notFound } from '../errors';
import { decodeCursor, pageOf, pageSize } from '../pagination';
import { v1Problems } from '../schemas/common';
import { UserCreate, UserList, UserListQuery, UserParams, UserReplace, UserView, toUserView } from '../schemas/users';

function checkTimezone(timezone: string | null | undefined): void {
  if (timezone != null && !IANAZone.isValidZone(timezone)) {
    throw invalid([{ field: '/body/timezone', message: `"${timezone}" is not an IANA time zone (e.g. Europe/Bucharest)` }]);
  }
}

const users: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/users',
    {
      schema: {
        tags: ['users'],
        summary: 'Create a user (staff member)',
        description:
          'Users are task assignees, `email_user` recipients and record owners. Send your own `id` to reuse your staff ids as `ownerId`; otherwise one is generated. An id already used answers 409.',
        body: UserCreate,
        response: { 201: UserView, ...v1Problems(400, 409, 413, 415) },
      },
    },
    async (request, reply) => {
      checkTimezone(request.body.timezone);
      const row = await createUser(app.db, request.workspaceId, request.body);
      if (!row) throw conflict(`a user with id ${request.body.id} already exists`, '/body/id');
      return reply.status(201).send(toUserView(row));
    },
  );

  app.get(
    '/users',
    {
      schema: {
        tags: ['users'],
        summary: 'List users',
        description: 'Ordered by id.',
        querystring: UserListQuery,
        response: { 200: UserList, ...v1Problems(400) },
      },
    },
    async (request) => {
      const size = pageSize(request.query.limit);
      const after = decodeCursor(request.query.cursor, 1)?.[0];
      const rows = await listUsers(app.db, request.workspaceId, { after: after === undefined ? undefined : String(after), limit: size });
      return pageOf(rows, size, toUserView, (r) => [r.id]);
    },
  );

  app.get(
    '/users/:id',
    {
      schema: { tags: ['users'], summary: 'Read a user', params: UserParams, response: { 200: UserView, ...v1Problems(400, 404) } },
    },
    async (request) => {
      const row = await getUser(app.db, request.workspaceId, request.params.id);
      if (!row) throw notFound('user', request.params.id);
      return toUserView(row);
    },
  );

  app.put(
    '/users/:id',
    {
      schema: {
        tags: ['users'],
        summary: 'Replace a user',
        description: 'Replaces every field; an optional field not sent becomes null. The user must exist (404 otherwise).',
        params: UserParams,
        body: UserReplace,
        response: { 200: UserView, ...v1Problems(400, 404, 413, 415) },
      },
    },
    async (request) => {
      checkTimezone(request.body.timezone);
      const row = await replaceUser(app.db, request.workspaceId, request.params.id, request.body);
      if (!row) throw notFound('user', request.params.id);
      return toUserView(row);
    },
  );

  app.delete(
    '/users/:id',
    {
      schema: {
        tags: ['users'],
        summary: 'Delete a user',
        description:
          'Refused with 409 while the user owns records or has open tasks: reassign them first (PUT the records with another ownerId, close the tasks).',
        params: UserParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...v1Problems(400, 404, 409) },
      },
    },
    async (request, reply) => {
      const outcome = await deleteUser(app.db, request.workspaceId, request.params.id);
      if (outcome === 'not_found') throw notFound('user', request.params.id);
      if (outcome !== 'deleted')
        throw conflict(`user ${request.params.id} owns ${outcome.owns} record(s) and has ${outcome.openTasks} open task(s); reassign them first`);
      return reply.status(204).send(null);
    },
  );
};

export default users;
