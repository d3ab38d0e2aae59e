/** Sender identities (docs/design.md §7.3): one TypeBox schema per channel. */
import { Type, type Static } from 'typebox';
import type { SenderRow } from '#db/schema';
import { SMS_SEGMENTS_PER_SECOND } from '#domain/delivery';
import { iso, ListOf, ListQuery, Nullable, Timestamp } from './common';

export const SenderId = Type.String({
  minLength: 1,
  maxLength: 100,
  pattern: '^[A-Za-z0-9_.:@-]+$',
  description: 'Your own id, or generated (snd_...); never reused after a delete',
});
export const SenderParams = Type.Object({ id: SenderId }, { additionalProperties: false });
const E164 = Type.String({ pattern: '^\\+[1-9][0-9]{6,14}$', description: 'E.164 number' });
const Kind = Type.Union([Type.Literal('long_code'), Type.Literal('toll_free'), Type.Literal('short_code')]);

export const EmailSenderCreate = Type.Object(
  {
    id: Type.Optional(SenderId),
    channel: Type.Literal('email'),
    from: Type.String({ format: 'email', maxLength: 320, description: 'A verified SendGrid sender address' }),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    replyTo: Type.Optional(Type.String({ format: 'email', maxLength: 320 })),
  },
  { additionalProperties: false, title: 'EmailSenderCreate' },
);
export const SmsSenderCreate = Type.Object(
  {
    id: Type.Optional(SenderId),
    channel: Type.Literal('sms'),
    from: Type.Optional(E164),
    messagingServiceSid: Type.Optional(
      Type.String({
        pattern: '^MG[0-9a-fA-F]{32}$',
        description: 'A Twilio Messaging Service instead of one number: give exactly one of from and messagingServiceSid, else 400',
      }),
    ),
    kind: Kind,
    segmentsPerSecond: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: 1000,
        description: `Default by kind: ${Object.entries(SMS_SEGMENTS_PER_SECOND)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
      }),
    ),
  },
  { additionalProperties: false, title: 'SmsSenderCreate', description: 'Exactly one of from and messagingServiceSid' },
);
export const VoicemailSenderCreate = Type.Object(
  { id: Type.Optional(SenderId), channel: Type.Literal('voicemail'), from: { ...E164, description: 'Caller id (E.164), a Twilio number' } },
  { additionalProperties: false, title: 'VoicemailSenderCreate' },
);
export const SenderCreate = Type.Union([EmailSenderCreate, SmsSenderCreate, VoicemailSenderCreate], {
  examples: [
    { channel: 'email', from: 'hello@sparkle.example', name: 'Sparkle Cleaning', replyTo: 'office@sparkle.example' },
    { channel: 'sms', from: '+15005550006', kind: 'long_code' },
    { channel: 'voicemail', from: '+15005550006' },
  ],
});
export type SenderCreate = Static<typeof SenderCreate>;

export const SenderView = Type.Object(
  {
    id: Type.String(),
    channel: Type.Union([Type.Literal('email'), Type.Literal('sms'), Type.Literal('voicemail')]),
    from: Nullable(Type.String()),
    name: Nullable(Type.String()),
    replyTo: Nullable(Type.String()),
    messagingServiceSid: Nullable(Type.String()),
    kind: Nullable(Kind),
    segmentsPerSecond: Nullable(Type.Number({ description: "SMS: the rate sends from it hold to (its own, else its kind's)" })),
    createdAt: Timestamp(),
  },
  {
    examples: [
      {
        id: 'snd_...',
        channel: 'sms',
        from: '+15005550006',
        name: null,
        replyTo: null,
        messagingServiceSid: null,
        kind: 'long_code',
        segmentsPerSecond: 1,
        createdAt: '2026-11-30T10:00:00.000Z',
      },
    ],
  },
);
export type SenderView = Static<typeof SenderView>;
export const SenderList = ListOf(SenderView);
export const SenderListQuery = ListQuery;

export function toSenderView(r: SenderRow): SenderView {
  return {
    id: r.id,
    channel: r.channel,
    from: r.from,
    name: r.name,
    replyTo: r.reply_to,
    messagingServiceSid: r.messaging_service_sid,
    kind: r.kind,
    segmentsPerSecond: r.channel === 'sms' ? (r.segments_per_second ?? (r.kind ? SMS_SEGMENTS_PER_SECOND[r.kind] : null)) : null,
    createdAt: iso(r.created_at),
  };
}
