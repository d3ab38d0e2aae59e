import { Type, type Static } from 'typebox';
import { MESSAGE_STATUSES, type MessageRow } from '#db/schema';
import { iso, ListOf, ListQueryWith, Nullable, NullableTimestamp, Timestamp } from './common';

export const CHANNELS = ['email', 'sms', 'voicemail', 'email_user'] as const;

export const MessageView = Type.Object(
  {
    id: Type.String(),
    enrollmentId: Nullable(Type.String()),
    automationId: Nullable(Type.String()),
    stepId: Nullable(Type.String()),
    recordId: Nullable(Type.String({ description: "The record's external id" })),
    channel: Type.String({ description: 'email, sms, voicemail, email_user' }),
    to: Type.String(),
    status: Type.Enum(MESSAGE_STATUSES),
    variant: Nullable(Type.String({ description: 'A/B variant letter' })),
    templateId: Nullable(Type.String()),
    templateVersion: Nullable(Type.Integer()),
    subject: Nullable(Type.String({ description: 'As rendered' })),
    body: Nullable(Type.String({ description: 'As rendered' })),
    segments: Nullable(Type.Integer({ description: 'SMS segments' })),
    providerId: Nullable(Type.String()),
    error: Nullable(Type.String()),
    errorCode: Nullable(
      Type.String({
        description:
          "The provider's own code: SendGrid HTTP status, Twilio error code (21211, 30007, ...); `expired` when the message would have waited for send capacity past its validity period",
      }),
    ),
    encoding: Nullable(Type.String({ description: 'SMS: GSM-7 or UCS-2' })),
    senderId: Nullable(Type.String()),
    test: Type.Boolean({ description: 'A test send; never counted in statistics' }),
    createdAt: Timestamp(),
    sentAt: NullableTimestamp(),
    updatedAt: Timestamp(),
  },
  {
    examples: [
      {
        id: 'msg_...',
        enrollmentId: 'enr_...',
        automationId: 'aut_...',
        stepId: 'ask',
        recordId: 'lead-1042',
        channel: 'sms',
        to: '+40712345678',
        status: 'sandboxed',
        variant: 'A',
        templateId: 'tpl_howwas_a',
        templateVersion: 2,
        subject: null,
        body: 'Hi Ana, how was the cleaning?',
        segments: 1,
        providerId: null,
        error: null,
        errorCode: null,
        encoding: 'GSM-7',
        senderId: 'snd_...',
        test: false,
        createdAt: '2026-11-23T12:00:00.000Z',
        sentAt: null,
        updatedAt: '2026-11-23T12:00:00.000Z',
      },
    ],
  },
);
export type MessageView = Static<typeof MessageView>;

export const MessageListQuery = ListQueryWith({
  recordId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  automationId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  enrollmentId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  channel: Type.Optional(Type.Enum(CHANNELS)),
  status: Type.Optional(Type.Enum(MESSAGE_STATUSES)),
});
export const MessageList = ListOf(MessageView);

export function toMessageView(row: MessageRow): MessageView {
  return {
    id: row.id,
    enrollmentId: row.enrollment_id,
    automationId: row.automation_id,
    stepId: row.step_id,
    recordId: row.record_id,
    channel: row.channel,
    to: row.to,
    status: row.status,
    variant: row.variant,
    templateId: row.template_id,
    templateVersion: row.template_version,
    subject: row.subject,
    body: row.body,
    segments: row.segments,
    providerId: row.provider_id,
    error: row.error,
    errorCode: row.error_code,
    encoding: row.encoding,
    senderId: row.sender_id,
    test: row.test,
    createdAt: iso(row.created_at),
    sentAt: iso(row.sent_at),
    updatedAt: iso(row.updated_at),
  };
}
