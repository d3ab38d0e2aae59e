import { Type, type Static } from 'typebox';
import { recordSnapshot } from '#db/records';
import type { RecordRow } from '#db/schema';
import { RECORD_ATTRIBUTE_LIMITS } from '#domain/json-limits';
import { iso, ListOf, ListQueryWith, Nullable, NullableTimestamp, PhoneInput, Timestamp } from './common';

export const ExternalId = Type.String({ minLength: 1, maxLength: 100, pattern: '^[^/?#\\s]+$', description: "The backend's own id for the record" });
export const RecordParams = Type.Object({ externalId: ExternalId }, { additionalProperties: false });

const Unsubscribed = Type.Object(
  {
    email: Type.Optional(Type.Boolean()),
    sms: Type.Optional(Type.Boolean()),
    voicemail: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, description: 'Per channel: true suppresses that channel for this record everywhere' },
);

export const RecordUpsert = Type.Object(
  {
    email: Type.Optional(Nullable(Type.String({ format: 'email', maxLength: 320 }))),
    phone: Type.Optional(Nullable(PhoneInput({ description: 'E.164 preferred (+14155550100)' }))),
    name: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
    timezone: Type.Optional(
      Nullable(
        Type.String({
          minLength: 1,
          maxLength: 64,
          description: 'IANA time zone, e.g. Europe/Bucharest; one the time zone database does not know is refused with 400',
        }),
      ),
    ),
    stage: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 100 }))),
    ownerId: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 200, description: 'A user id of this workspace' }))),
    attributes: Type.Optional(
      Type.Record(Type.String({ minLength: 1, maxLength: 100 }), Type.Unknown(), {
        maxProperties: RECORD_ATTRIBUTE_LIMITS.keys,
        description:
          'Merged into the stored attributes key by key: keys not sent are kept, a key sent as null is removed. ' +
          `The merged attributes hold at most ${RECORD_ATTRIBUTE_LIMITS.keys} keys, nest at most ${RECORD_ATTRIBUTE_LIMITS.depth} levels and take at most ` +
          `${RECORD_ATTRIBUTE_LIMITS.bytes} bytes as JSON (413 beyond); keys __proto__, constructor and prototype are refused at every level`,
      }),
    ),
    unsubscribed: Type.Optional(Unsubscribed),
  },
  {
    additionalProperties: false,
    description: 'Fields not sent keep their stored value; null clears a field.',
    examples: [
      {
        email: 'ana@example.com',
        phone: '+40712345678',
        name: 'Ana Pop',
        timezone: 'Europe/Bucharest',
        stage: 'lead',
        attributes: { plan: 'pro', service: 'cleaning' },
      },
    ],
  },
);
export type RecordUpsert = Static<typeof RecordUpsert>;

export const RecordView = Type.Object(
  {
    recordId: Type.String({ description: "The backend's external id (the id every event, message and task carries)" }),
    externalId: Type.String({ description: 'Same as recordId' }),
    email: Nullable(Type.String()),
    phone: Nullable(Type.String()),
    name: Nullable(Type.String()),
    timezone: Nullable(Type.String()),
    stage: Nullable(Type.String()),
    ownerId: Nullable(Type.String()),
    attributes: Type.Record(Type.String(), Type.Unknown()),
    unsubscribed: Type.Object({ email: Type.Boolean(), sms: Type.Boolean(), voicemail: Type.Boolean() }),
    stageChangedAt: NullableTimestamp(),
    createdAt: Timestamp(),
    updatedAt: Timestamp(),
  },
  {
    examples: [
      {
        recordId: 'lead-1042',
        externalId: 'lead-1042',
        email: 'ana@example.com',
        phone: '+40712345678',
        name: 'Ana Pop',
        timezone: 'Europe/Bucharest',
        stage: 'lead',
        ownerId: 'usr_maria',
        attributes: { plan: 'pro' },
        unsubscribed: { email: false, sms: false, voicemail: false },
        stageChangedAt: '2026-11-23T10:00:00.000Z',
        createdAt: '2026-11-23T10:00:00.000Z',
        updatedAt: '2026-11-23T10:00:00.000Z',
      },
    ],
  },
);
export type RecordView = Static<typeof RecordView>;

export const RecordListQuery = ListQueryWith({
  stage: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  ownerId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
});
export const RecordList = ListOf(RecordView);

export function toRecordView(row: RecordRow): RecordView {
  const u = row.unsubscribed ?? {};
  return {
    recordId: row.external_id,
    ...recordSnapshot(row),
    unsubscribed: { email: u.email ?? false, sms: u.sms ?? false, voicemail: u.voicemail ?? false },
    stageChangedAt: iso(row.stage_changed_at),
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}
