/**
 * Workspace settings (`GET/PUT /v1/settings`, docs/design.md §7.3): one TypeBox schema per shape gives the
 * validation, the types and the OpenAPI document. Pure; workflows import only its types (the
 * functions they need over these shapes live in domain/timing.ts, outside the TypeBox bundle).
 */
import { Type, type Static } from 'typebox';
import { Channel, LocalTime, TimeZone, type AutomationDefinition } from './definition';
import { stepChannel } from './timing';

export const CHANNELS = ['email', 'sms', 'voicemail'] as const satisfies readonly Channel[];

const DailyHours = Type.Object(
  { start: LocalTime, end: LocalTime },
  {
    additionalProperties: false,
    description:
      "Quiet from `start` to `end` in the recipient's zone; `end` before `start` wraps past midnight. `start` equal to `end` is refused with 400 (JSON Schema cannot compare two fields)",
  },
);
export type DailyHours = Static<typeof DailyHours>;

const perChannel = <T extends Parameters<typeof Type.Optional>[0]>(schema: T) => ({
  email: schema,
  sms: schema,
  voicemail: schema,
});

const DeliveryGuaranteeSchema = Type.Union([Type.Literal('at_most_once'), Type.Literal('at_least_once')], {
  description:
    'A send whose outcome was lost (the provider may have accepted it, then the worker died) and that no status callback confirmed within SEND_CONFIRM_GRACE_MS: at_most_once (default) marks it `uncertain` and never sends it again; at_least_once sends it again (the person may get it twice)',
});
export type DeliveryGuarantee = Static<typeof DeliveryGuaranteeSchema>;

/** The most a workspace may set: far above any provider's account limit, low enough to stay a rate. */
const MAX_SENDS_PER_SECOND = 1000;
const perProvider = <T extends Parameters<typeof Type.Optional>[0]>(schema: T) => ({ sendgrid: schema, twilio: schema });
const SendsPerSecond = Type.Number({
  exclusiveMinimum: 0,
  maximum: MAX_SENDS_PER_SECOND,
  description: 'Sends per second (fractions allowed: 0.5 is one every 2 s); null: the service default',
});
const SENDS_PER_SECOND_DESCRIPTION =
  "The workspace's send rate per provider across all workers (emails through SendGrid; SMS and calls through Twilio, each SMS sender keeping its own limit too); null: the service's SENDGRID_SENDS_PER_SECOND / TWILIO_SENDS_PER_SECOND. A send waits for capacity, it is not failed";

const SenderId = Type.String({ minLength: 1, maxLength: 100, description: 'A sender id (POST /v1/senders)' });
const HelpText = Type.String({ minLength: 1, maxLength: 1600, description: 'The answer to an SMS HELP; null: the built-in text' });

export const WorkspaceSettings = Type.Object(
  {
    timezone: Type.String({ description: 'IANA zone used when neither the record nor the automation names one' }),
    channels: Type.Object(perChannel(Type.Boolean()), {
      additionalProperties: false,
      description: 'Channels the workspace has switched on; activating an automation with a step on a channel that is off answers 409',
    }),
    quietHours: Type.Object(perChannel(Type.Union([DailyHours, Type.Null()])), {
      additionalProperties: false,
      description:
        'Default quiet hours per channel (null: none), applied to every automation that sets none of its own for that channel. A new workspace: sms and voicemail 21:00-08:00',
    }),
    defaultSenders: Type.Object(perChannel(Type.Union([Type.String(), Type.Null()])), {
      additionalProperties: false,
      description: 'The sender id a message step uses when it names no `from`',
    }),
    smsHelpText: Type.Union([Type.String(), Type.Null()], { description: 'The answer to an SMS HELP; null: the built-in text' }),
    deliveryGuarantee: DeliveryGuaranteeSchema,
    sendsPerSecond: Type.Object(perProvider(Type.Union([Type.Number(), Type.Null()])), {
      additionalProperties: false,
      description: SENDS_PER_SECOND_DESCRIPTION,
    }),
  },
  {
    additionalProperties: false,
    examples: [
      {
        timezone: 'Europe/Bucharest',
        channels: { email: true, sms: true, voicemail: false },
        quietHours: { email: null, sms: { start: '21:00', end: '08:00' }, voicemail: { start: '21:00', end: '08:00' } },
        defaultSenders: { email: 'snd_office', sms: null, voicemail: null },
        smsHelpText: 'Acme Cleaning: reply STOP to opt out. Help: +40 21 000 0000',
        deliveryGuarantee: 'at_most_once',
        sendsPerSecond: { sendgrid: null, twilio: 10 },
      },
    ],
  },
);
export type WorkspaceSettings = Static<typeof WorkspaceSettings>;
export type WorkspaceQuietHours = WorkspaceSettings['quietHours'];

/** PUT body: every field optional; a field left out (or a channel left out) keeps its value. */
export const WorkspaceSettingsUpdate = Type.Object(
  {
    timezone: Type.Optional(TimeZone),
    channels: Type.Optional(Type.Object(perChannel(Type.Optional(Type.Boolean())), { additionalProperties: false })),
    quietHours: Type.Optional(
      Type.Object(perChannel(Type.Optional(Type.Union([DailyHours, Type.Null()]))), {
        additionalProperties: false,
        description: 'Per channel: { start, end }, or null for no default quiet hours on that channel',
      }),
    ),
    defaultSenders: Type.Optional(Type.Object(perChannel(Type.Optional(Type.Union([SenderId, Type.Null()]))), { additionalProperties: false })),
    smsHelpText: Type.Optional(Type.Union([HelpText, Type.Null()])),
    deliveryGuarantee: Type.Optional(DeliveryGuaranteeSchema),
    sendsPerSecond: Type.Optional(
      Type.Object(perProvider(Type.Optional(Type.Union([SendsPerSecond, Type.Null()]))), {
        additionalProperties: false,
        description: SENDS_PER_SECOND_DESCRIPTION,
      }),
    ),
  },
  {
    additionalProperties: false,
    examples: [{ channels: { sms: true }, quietHours: { sms: { start: '23:00', end: '07:30' } }, defaultSenders: { email: 'snd_office' } }],
  },
);
export type WorkspaceSettingsUpdate = Static<typeof WorkspaceSettingsUpdate>;

/**
 * Steps that message a record on a channel the workspace has switched off (a channel must be
 * switched on for the workspace before an automation may send on it), as JSON pointers into the definition.
 */
export function stepsOnChannelsOff(definition: AutomationDefinition, channels: WorkspaceSettings['channels']): Array<{ pointer: string; message: string }> {
  const out: Array<{ pointer: string; message: string }> = [];
  definition.steps.forEach((step, i) => {
    const channel = stepChannel(step);
    if (channel !== 'none' && !channels[channel]) {
      out.push({
        pointer: `/steps/${i}/type`,
        message: `the ${channel} channel is switched off for this workspace; switch it on (PUT /v1/settings { "channels": { "${channel}": true } }) or remove the step`,
      });
    }
  });
  return out;
}
