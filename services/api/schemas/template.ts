/** Request and response schemas of /v1/templates. */
import { Type, type Static } from 'typebox';
import { EmailContent, SmsContent, TaskContent, VoicemailContent } from '#domain/templates';
import { ListQueryWith, NullableTimestamp, Timestamp } from './common';

export const TemplateId = Type.String({
  pattern: '^[A-Za-z0-9_-]{1,100}$',
  description: 'Template id: letters, digits, _ and -, up to 100 characters (generated as tpl_... when omitted)',
  examples: ['tpl_howwas_a'],
});
export const TemplateName = Type.String({ minLength: 1, maxLength: 200 });
export const TemplateChannel = Type.Union([Type.Literal('email'), Type.Literal('sms'), Type.Literal('voicemail'), Type.Literal('task')], {
  description: 'email: subject, html, text; sms: body; voicemail: audioUrl or text; task: title, body',
});

const createFor = <C extends string, S extends typeof EmailContent | typeof SmsContent | typeof VoicemailContent | typeof TaskContent>(
  channel: C,
  content: S,
) =>
  Type.Object(
    { id: Type.Optional(TemplateId), name: TemplateName, channel: Type.Literal(channel), content },
    { additionalProperties: false, title: `Create${channel[0]!.toUpperCase()}${channel.slice(1)}Template` },
  );

export const CreateTemplateByChannel = {
  email: createFor('email', EmailContent),
  sms: createFor('sms', SmsContent),
  voicemail: createFor('voicemail', VoicemailContent),
  task: createFor('task', TaskContent),
} as const;

export const CreateTemplateBody = Type.Union(
  [CreateTemplateByChannel.email, CreateTemplateByChannel.sms, CreateTemplateByChannel.voicemail, CreateTemplateByChannel.task],
  {
    description:
      'A template of one channel. Liquid text ({{ record.name }}) is checked at save: a syntax error answers 400 with the field and line; unknown variables come back as warnings.',
    examples: [
      {
        id: 'tpl_howwas_a',
        name: 'How was your service? (A)',
        channel: 'email',
        content: {
          subject: 'How was your cleaning, {{ record.name | default: "there" }}?',
          html: '<p>Hi {{ record.name }},</p><p>How did we do? <a href="https://example.com/rate?b={{ event.bookingId }}">Rate your service</a></p><p><a href="{{ unsubscribeUrl }}">Unsubscribe</a></p>',
          text: 'Hi {{ record.name }}, how did we do? Rate us: https://example.com/rate?b={{ event.bookingId }}',
        },
      },
      { name: 'Coupon SMS', channel: 'sms', content: { body: 'Hi {{ record.name }}, we miss you! Use code BACK10 for 10% off your next booking.' } },
    ],
  },
);
export type CreateTemplateBody = Static<typeof CreateTemplateBody>;

export const AnyContent = Type.Union([EmailContent, SmsContent, VoicemailContent, TaskContent], {
  description: "Content in the template's channel shape (the channel cannot change)",
});

export const UpdateTemplateBody = Type.Object(
  {
    name: Type.Optional(TemplateName),
    content: AnyContent,
  },
  {
    additionalProperties: false,
    description: 'Writes a new immutable version and makes it current; automation versions saved before keep the version they pinned.',
    examples: [{ content: { body: 'Hi {{ record.name }}, last chance: code BACK10 ends Sunday.' } }],
  },
);
export type UpdateTemplateBody = Static<typeof UpdateTemplateBody>;

export const TemplateParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200, examples: ['tpl_howwas_a'] }) }, { additionalProperties: false });
export type TemplateParams = Static<typeof TemplateParams>;

export const ListTemplatesQuery = ListQueryWith({ channel: Type.Optional(TemplateChannel) });
export type ListTemplatesQuery = Static<typeof ListTemplatesQuery>;

export const Warning = Type.Object(
  {
    field: Type.String({ description: 'JSON pointer into the template, e.g. /content/body' }),
    message: Type.String(),
  },
  { additionalProperties: false },
);

export const SmsInfo = Type.Object(
  {
    encoding: Type.Union([Type.Literal('GSM-7'), Type.Literal('UCS-2')]),
    segments: Type.Integer({ minimum: 1, description: 'Parts the text needs as written (variables count as their Liquid source)' }),
    characters: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false, description: 'SMS only: encoding and segment count' },
);

export const Template = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    channel: TemplateChannel,
    version: Type.Integer({ minimum: 1, description: 'The current version (an edit writes the next one)' }),
    content: AnyContent,
    warnings: Type.Array(Warning, { description: 'Unknown variables, SMS longer than one segment' }),
    sms: Type.Optional(SmsInfo),
    createdAt: Timestamp(),
    updatedAt: Timestamp(),
    deletedAt: Type.Optional(NullableTimestamp()),
  },
  { additionalProperties: false },
);
export type Template = Static<typeof Template>;

export const TemplateVersion = Type.Object(
  {
    templateId: Type.String(),
    version: Type.Integer({ minimum: 1 }),
    current: Type.Boolean(),
    content: AnyContent,
    createdAt: Timestamp(),
  },
  { additionalProperties: false },
);

export const TestSendBody = Type.Object(
  {
    to: Type.String({ minLength: 1, maxLength: 320, description: 'An email address for an email template, an E.164 number for sms and voicemail' }),
    recordId: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: 'The record whose fields the template renders (its external id); unset: empty record fields' }),
    ),
    requestId: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 100,
        pattern: '^[A-Za-z0-9._:-]+$',
        description: 'Makes the request idempotent: a repeat with the same id answers the same message and sends nothing again',
      }),
    ),
  },
  { additionalProperties: false, examples: [{ to: 'owner@sparkle.example', recordId: 'cust_42' }] },
);
export type TestSendBody = Static<typeof TestSendBody>;
