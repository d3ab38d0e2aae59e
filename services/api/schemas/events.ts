import { Type, type Static } from 'typebox';
import { ExternalId } from './records';
import { EVENT_PROPERTY_LIMITS } from '#domain/json-limits';

export const MAX_BATCH = 1000;

export const EventInput = Type.Object(
  {
    id: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description: "The backend's event id: the idempotency key. Generated when absent (then a retry is stored twice).",
      }),
    ),
    type: Type.String({
      minLength: 1,
      maxLength: 200,
      pattern: '^[A-Za-z0-9_.:-]+$',
      description: 'e.g. booking.status_changed, rating.received, message.replied',
    }),
    recordId: ExternalId,
    occurredAt: Type.Optional(Type.String({ format: 'date-time', description: 'When it happened (ISO-8601); defaults to the time received' })),
    properties: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        maxProperties: EVENT_PROPERTY_LIMITS.keys,
        description:
          `Free-form; conditions read them as event.<name>. At most ${EVENT_PROPERTY_LIMITS.keys} keys, ${EVENT_PROPERTY_LIMITS.depth} levels of nesting and ` +
          `${EVENT_PROPERTY_LIMITS.bytes} bytes as JSON (413 beyond); keys __proto__, constructor and prototype are refused at every level`,
      }),
    ),
  },
  {
    additionalProperties: false,
    examples: [
      {
        id: 'evt_8123',
        type: 'booking.status_changed',
        recordId: 'lead-1042',
        occurredAt: '2026-11-23T10:00:00Z',
        properties: { status: 'completed', service: 'cleaning' },
      },
    ],
  },
);
export type EventInput = Static<typeof EventInput>;

export const EventResult = Type.Object(
  {
    id: Type.String(),
    status: Type.Union([Type.Literal('accepted'), Type.Literal('duplicate')], {
      description: 'duplicate: an event with this id was stored before; nothing was done',
    }),
  },
  { examples: [{ id: 'evt_8123', status: 'accepted' }] },
);

export const EventBatch = Type.Object(
  { events: Type.Array(EventInput, { minItems: 1, maxItems: MAX_BATCH }) },
  {
    additionalProperties: false,
    examples: [
      {
        events: [
          { id: 'evt_1', type: 'rating.received', recordId: 'lead-1042', properties: { rating: 5 } },
          { id: 'evt_2', type: 'message.replied', recordId: 'lead-7' },
        ],
      },
    ],
  },
);

export const EventBatchResult = Type.Object(
  {
    results: Type.Array(EventResult, { description: 'One per input event, in input order' }),
    accepted: Type.Integer(),
    duplicates: Type.Integer(),
  },
  {
    examples: [
      {
        results: [
          { id: 'evt_1', status: 'accepted' },
          { id: 'evt_2', status: 'duplicate' },
        ],
        accepted: 1,
        duplicates: 1,
      },
    ],
  },
);
