import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { IANAZone } from 'luxon';
import { getRecord, listRecords, upsertRecord, userExists } from '#db/records';
import { RECORD_ATTRIBUTE_LIMITS } from '#domain/json-limits';
import { checkBag, HttpProblem, invalid, notFound } from '../errors';
import { decodeCursor, pageOf, pageSize } from '../pagination';
import { v1Problems } from '../schemas/common';
import { RecordList, RecordListQuery, RecordParams, RecordUpsert, RecordView, toRecordView } from '../schemas/records';

const records: FastifyPluginAsyncTypebox = async (app) => {
  app.put(
    '/records/:externalId',
    {
      schema: {
        tags: ['records'],
        summary: 'Create or update a record',
        description:
          'Upserts the record with this external id. Fields not sent keep their value; null clears a field. ' +
          '`attributes` is MERGED key by key into the stored attributes (a key sent as null is removed); `unsubscribed` is merged per channel. ' +
          'When anything changes (or the record is created) a `record_changed` notification with the changed fields ' +
          '(`stage`, `attributes.plan`, ...) is queued for the automation router in the same transaction, which fires ' +
          '`stage_entered` and `segment_entered` triggers and `fieldChanged` exits; a stage change sets `stageChangedAt`. ' +
          'An upsert that changes nothing writes nothing. Answers 201 when created, 200 when it existed.',
        params: RecordParams,
        body: RecordUpsert,
        response: { 200: RecordView, 201: RecordView, ...v1Problems(400, 404, 413, 415, 422) },
      },
    },
    async (request, reply) => {
      const { externalId } = request.params;
      const body = request.body;
      checkBag(body.attributes, '/body/attributes', RECORD_ATTRIBUTE_LIMITS);
      if (body.timezone != null && !IANAZone.isValidZone(body.timezone)) {
        throw invalid([{ field: '/body/timezone', message: `"${body.timezone}" is not an IANA time zone (e.g. Europe/Bucharest)` }]);
      }
      if (body.ownerId != null && !(await userExists(app.db, request.workspaceId, body.ownerId))) {
        throw new HttpProblem(422, 'Unprocessable Content', { detail: `/body/ownerId: no user ${body.ownerId} in this workspace`, field: '/body/ownerId' });
      }
      // The merged attributes are held to the same limits; a refusal rolls the upsert back.
      const { record, created } = await upsertRecord(app.db, request.workspaceId, externalId, body, {
        checkAttributes: (merged) => checkBag(merged, '/body/attributes', RECORD_ATTRIBUTE_LIMITS),
      });
      return reply.status(created ? 201 : 200).send(toRecordView(record));
    },
  );

  app.get(
    '/records/:externalId',
    {
      schema: {
        tags: ['records'],
        summary: 'Read a record',
        params: RecordParams,
        response: { 200: RecordView, ...v1Problems(400, 404) },
      },
    },
    async (request) => {
      const row = await getRecord(app.db, request.workspaceId, request.params.externalId);
      if (!row) throw notFound('record', request.params.externalId);
      return toRecordView(row);
    },
  );

  app.get(
    '/records',
    {
      schema: {
        tags: ['records'],
        summary: 'List records',
        description: 'Ordered by external id. Filters: `stage`, `ownerId`.',
        querystring: RecordListQuery,
        response: { 200: RecordList, ...v1Problems(400) },
      },
    },
    async (request) => {
      const { stage, ownerId, limit, cursor } = request.query;
      const size = pageSize(limit);
      const after = decodeCursor(cursor, 1)?.[0];
      if (after !== undefined && typeof after !== 'string') throw invalid([{ field: '/querystring/cursor', message: 'is not a cursor returned by this list' }]);
      const rows = await listRecords(app.db, request.workspaceId, { stage, ownerId, after, limit: size });
      return pageOf(rows, size, toRecordView, (r) => [r.external_id]);
    },
  );
};

export default records;
