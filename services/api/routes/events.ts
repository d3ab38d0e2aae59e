import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ingestEvents, type EventInput as StoredEvent } from '#db/events';
import { newId } from '#db/ids';
import { EVENT_PROPERTY_LIMITS } from '#domain/json-limits';
import { checkBag } from '../errors';
import { v1Problems } from '../schemas/common';
import { EventBatch, EventBatchResult, EventInput, EventResult, MAX_BATCH } from '../schemas/events';

const UNKNOWN_RECORD =
  'An event for a record id this workspace has not seen creates a bare record with that id (no fields), ' +
  'so events may arrive before the record is upserted; a later PUT /v1/records/{externalId} fills it in.';

const IDEMPOTENCY =
  'Idempotent by event id per workspace: an id stored before is answered `duplicate` and nothing is done ' +
  '(the first version of the event wins). Without an id one is generated, so retries should send one.';

function normalize(e: EventInput, receivedAt: string): StoredEvent {
  return {
    id: e.id ?? newId('evt'),
    type: e.type,
    recordId: e.recordId,
    occurredAt: e.occurredAt ? new Date(e.occurredAt).toISOString() : receivedAt,
    properties: e.properties ?? {},
  };
}

const events: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/events',
    {
      schema: {
        tags: ['events'],
        summary: 'Track an event',
        description:
          'Stores the event and queues it for the automation router in one transaction, then answers 202: ' +
          'triggers, `wait_for` steps, exits and goals act on it asynchronously. ' +
          IDEMPOTENCY +
          ' ' +
          UNKNOWN_RECORD,
        body: EventInput,
        response: { 202: EventResult, ...v1Problems(400, 413, 415) },
      },
    },
    async (request, reply) => {
      checkBag(request.body.properties, '/body/properties', EVENT_PROPERTY_LIMITS);
      const event = normalize(request.body, new Date().toISOString());
      const [status] = await ingestEvents(app.db, request.workspaceId, [event]);
      return reply.status(202).send({ id: event.id, status: status! });
    },
  );

  app.post(
    '/events/batch',
    {
      schema: {
        tags: ['events'],
        summary: `Track up to ${MAX_BATCH} events at once`,
        description:
          `Like POST /v1/events for 1 to ${MAX_BATCH} events in one statement: all are stored or none (an invalid item rejects the whole batch with 400 naming it, e.g. /body/events/3/type). ` +
          'Answers 202 with one result per event in input order. An id repeated within the batch is stored once; later copies are `duplicate`. ' +
          'The body is bounded like every body (BODY_LIMIT_BYTES, 1 MiB by default: 413 beyond). ' +
          UNKNOWN_RECORD,
        body: EventBatch,
        response: { 202: EventBatchResult, ...v1Problems(400, 413, 415) },
      },
    },
    async (request, reply) => {
      request.body.events.forEach((e, i) => checkBag(e.properties, `/body/events/${i}/properties`, EVENT_PROPERTY_LIMITS));
      const receivedAt = new Date().toISOString();
      const list = request.body.events.map((e) => normalize(e, receivedAt));
      const statuses = await ingestEvents(app.db, request.workspaceId, list);
      const results = list.map((e, i) => ({ id: e.id, status: statuses[i]! }));
      const accepted = statuses.filter((s) => s === 'accepted').length;
      return reply.status(202).send({ results, accepted, duplicates: results.length - accepted });
    },
  );
};

export default events;
