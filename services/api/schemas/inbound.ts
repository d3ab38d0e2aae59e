import { Type, type Static } from 'typebox';
import type { Selectable } from 'kysely';
import type { InboundMessagesTable } from '#db/schema';
import { iso, ListOf, ListQueryWith, Nullable, NullableTimestamp, Timestamp } from './common';

export const InboundParseView = Type.Object(
  {
    set: Type.Boolean({ description: 'Whether the workspace has an Inbound Parse address' }),
    username: Nullable(Type.String({ description: 'Its basic-auth user name; the path secret and password are never shown again' })),
    createdAt: NullableTimestamp(),
  },
  { examples: [{ set: true, username: 'ws-Abc123De', createdAt: '2026-11-30T10:00:00.000Z' }] },
);
export type InboundParseView = Static<typeof InboundParseView>;

export const InboundParseCreated = Type.Object(
  {
    url: Type.String({ description: 'The Inbound Parse webhook URL: PUBLIC_URL + /webhooks/sendgrid/inbound/<path secret>' }),
    username: Type.String(),
    password: Type.String({ description: 'Shown once' }),
    destinationUrl: Type.String({
      description: "What to paste as the Destination URL in SendGrid's Inbound Parse settings: the URL with the basic-auth credentials in it. Shown once.",
    }),
    createdAt: Timestamp(),
  },
  {
    examples: [
      {
        url: 'https://followup.example.com/webhooks/sendgrid/inbound/3kQ...',
        username: 'ws-Abc123De',
        password: 'p9X...',
        destinationUrl: 'https://ws-Abc123De:p9X...@followup.example.com/webhooks/sendgrid/inbound/3kQ...',
        createdAt: '2026-11-30T10:00:00.000Z',
      },
    ],
  },
);
export type InboundParseCreated = Static<typeof InboundParseCreated>;

const InboundChannel = Type.Union([Type.Literal('sms'), Type.Literal('email')]);

export const InboundMessageView = Type.Object(
  {
    id: Type.String(),
    channel: InboundChannel,
    from: Type.String(),
    to: Type.String({ description: 'The receiving number or address' }),
    text: Nullable(Type.String({ description: 'An email without the quoted message below the reply' })),
    recordId: Nullable(Type.String({ description: "The record with the sender's number or address; null: no record has it" })),
    messageId: Nullable(Type.String({ description: 'The message it answers, when one was sent to the sender' })),
    eventId: Nullable(Type.String({ description: 'The message.replied event it became (null: unknown sender, or a carrier keyword)' })),
    keyword: Nullable(Type.String({ description: 'SMS carrier keyword: stop, start, help' })),
    receivedAt: Timestamp(),
  },
  {
    examples: [
      {
        id: 'inb_...',
        channel: 'sms',
        from: '+40712345678',
        to: '+15005550006',
        text: 'Who is this?',
        recordId: null,
        messageId: null,
        eventId: null,
        keyword: null,
        receivedAt: '2026-11-30T10:00:00.000Z',
      },
    ],
  },
);
export type InboundMessageView = Static<typeof InboundMessageView>;

export const InboundMessageListQuery = ListQueryWith({
  channel: Type.Optional(InboundChannel),
  matched: Type.Optional(Type.Boolean({ description: 'false: only those from senders no record has' })),
});
export const InboundMessageList = ListOf(InboundMessageView);

export function toInboundMessageView(row: Selectable<InboundMessagesTable>): InboundMessageView {
  return {
    id: row.id,
    channel: row.channel,
    from: row.from,
    to: row.to,
    text: row.text,
    recordId: row.record_id,
    messageId: row.message_id,
    eventId: row.event_id,
    keyword: row.keyword,
    receivedAt: iso(row.received_at),
  };
}
