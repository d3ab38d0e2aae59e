import { Type, type Static } from 'typebox';
import type { SuppressionRow } from '#db/suppressions';
import { SUPPRESSION_SOURCES } from '#domain/suppression';
import { iso, ListOf, ListQueryWith, Timestamp } from './common';

export const SuppressionChannel = Type.Union([Type.Literal('email'), Type.Literal('sms'), Type.Literal('voicemail')]);

export const SuppressionCreate = Type.Object(
  {
    channel: SuppressionChannel,
    address: Type.String({ minLength: 3, maxLength: 320, description: 'An email address (email) or an E.164 number (sms, voicemail)' }),
    reason: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
  },
  { additionalProperties: false, examples: [{ channel: 'sms', address: '+40712345678', reason: 'asked by phone not to be texted' }] },
);
export type SuppressionCreate = Static<typeof SuppressionCreate>;

export const SuppressionView = Type.Object(
  {
    channel: SuppressionChannel,
    address: Type.String(),
    reason: Type.String(),
    source: Type.String({ description: SUPPRESSION_SOURCES.join(', ') }),
    createdAt: Timestamp(),
  },
  {
    examples: [
      { channel: 'email', address: 'ana@example.com', reason: 'hard bounce: mailbox does not exist', source: 'bounce', createdAt: '2026-11-30T10:00:00.000Z' },
    ],
  },
);
export type SuppressionView = Static<typeof SuppressionView>;

export const SuppressionList = ListOf(SuppressionView);
export const SuppressionListQuery = ListQueryWith({ channel: Type.Optional(SuppressionChannel) });
export const SuppressionParams = Type.Object(
  { channel: SuppressionChannel, address: Type.String({ minLength: 3, maxLength: 320 }) },
  { additionalProperties: false },
);

export function toSuppressionView(row: SuppressionRow): SuppressionView {
  return { channel: row.channel, address: row.address, reason: row.reason, source: row.source, createdAt: iso(row.created_at) };
}
