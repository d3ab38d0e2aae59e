/**
 * The automation definition: one TypeBox schema gives runtime validation, the TypeScript types
 * and the OpenAPI document. Pure module: no I/O, safe to import (as types) from workflows.
 */
import { Type, type Static, type TSchema } from 'typebox';

export const MAX_STEPS = 100;
/** How many `all`/`any`/`not` groups a condition may nest: the validator and the OpenAPI document both unroll to it. */
export const MAX_CONDITION_DEPTH = 4;

export const StepId = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'Unique within the definition' });
/** A step id, or `end` to finish the sequence. */
export const StepTarget = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'A step id, or "end"' });
export const IsoDuration = Type.String({
  description: 'ISO-8601 duration, e.g. PT2H, P3D, P1DT12H; a string of this length that is not one is refused with 400',
  examples: ['PT2H', 'P3D'],
  minLength: 2,
  maxLength: 40,
});
export const SignedIsoDuration = Type.String({
  description: 'ISO-8601 duration, optionally negative: -P7D is 7 days before',
  examples: ['-P7D'],
  minLength: 2,
  maxLength: 41,
});
export const LocalTime = Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', description: 'Local time HH:mm', examples: ['14:00'] });
export const TimeZone = Type.String({
  minLength: 1,
  maxLength: 64,
  description: 'IANA time zone name; one the time zone database does not know is refused with 400',
  examples: ['America/New_York'],
});

export const Weekday = Type.Union([
  Type.Literal('mon'),
  Type.Literal('tue'),
  Type.Literal('wed'),
  Type.Literal('thu'),
  Type.Literal('fri'),
  Type.Literal('sat'),
  Type.Literal('sun'),
]);
export type Weekday = Static<typeof Weekday>;

export const Window = Type.Object(
  {
    days: Type.Optional(
      Type.Union([
        Type.Literal('any'),
        Type.Literal('workdays'),
        Type.Literal('weekends'),
        Type.Array(Weekday, { minItems: 1, maxItems: 7, uniqueItems: true }),
      ]),
    ),
    from: Type.Optional(LocalTime),
    to: Type.Optional(LocalTime),
    timezone: Type.Optional({
      ...TimeZone,
      description: "A fixed zone for this window (e.g. the office's 14:00-15:00 America/New_York) instead of the recipient's",
    }),
  },
  { additionalProperties: false, description: "Allowed send days and hours in the recipient's time zone; `to` before `from` wraps past midnight" },
);
export type Window = Static<typeof Window>;

export const Channel = Type.Union([Type.Literal('email'), Type.Literal('sms'), Type.Literal('voicemail')]);
export type Channel = Static<typeof Channel>;

export const QuietHours = Type.Object(
  {
    // Examples of their own: one shared example would document (and have the contract fuzzer send) a refused window.
    start: { ...LocalTime, examples: ['21:00'] },
    end: { ...LocalTime, examples: ['08:00'] },
    channels: Type.Optional(Type.Array(Channel, { minItems: 1, uniqueItems: true, description: 'Default: sms and voicemail' })),
  },
  { additionalProperties: false, description: '`start` equal to `end` is refused with 400 (JSON Schema cannot compare two fields)' },
);
export type QuietHours = Static<typeof QuietHours>;

export const COMPARISON_OPS = ['eq', 'neq', 'in', 'nin', 'gt', 'gte', 'lt', 'lte', 'exists', 'contains', 'starts_with'] as const;
export type ComparisonOp = (typeof COMPARISON_OPS)[number];

const FieldCondition = Type.Object(
  {
    field: Type.String({ pattern: '^(record|event|steps)(\\.[A-Za-z0-9_-]+)+$', description: 'record.*, event.* or steps.<id>.*' }),
    op: Type.Enum(COMPARISON_OPS),
    value: Type.Optional(Type.Unknown()),
  },
  { additionalProperties: false },
);
const EventCountCondition = Type.Object(
  {
    eventCount: Type.Object({ event: Type.String({ minLength: 1, maxLength: 200 }), within: Type.Optional(IsoDuration) }, { additionalProperties: false }),
    op: Type.Enum(['eq', 'neq', 'gt', 'gte', 'lt', 'lte']),
    value: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);

/** A condition whose groups (`all`/`any`/`not`) hold `inner`: the schema of `inner` for validation, a $ref to the next level in the OpenAPI document. */
export function conditionShape(inner: TSchema | undefined, options: Record<string, unknown> = {}): TSchema {
  const leaves = [FieldCondition, EventCountCondition];
  if (!inner) return Type.Union(leaves, options);
  return Type.Union(
    [
      ...leaves,
      Type.Object({ all: Type.Array(inner, { minItems: 1, maxItems: 50 }) }, { additionalProperties: false }),
      Type.Object({ any: Type.Array(inner, { minItems: 1, maxItems: 50 }) }, { additionalProperties: false }),
      Type.Object({ not: inner }, { additionalProperties: false }),
    ],
    options,
  );
}

function conditionOfDepth(depth: number, options: Record<string, unknown> = {}): TSchema {
  return conditionShape(depth === 0 ? undefined : conditionOfDepth(depth - 1), options);
}

/** Marks the top of the unrolled condition so the OpenAPI document can show it as named components, one per level. */
export const CONDITION_MARKER = 'x-condition';

export type FieldCondition = Static<typeof FieldCondition>;
export type EventCountCondition = Static<typeof EventCountCondition>;
/** Written out because the schema is a bounded unrolling of this recursive type. */
export type Condition = FieldCondition | EventCountCondition | { all: Condition[] } | { any: Condition[] } | { not: Condition };
export const Condition = Type.Unsafe<Condition>(
  conditionOfDepth(MAX_CONDITION_DEPTH, { [CONDITION_MARKER]: true, description: `Nested up to ${MAX_CONDITION_DEPTH} groups deep` }),
);

export const Recipient = Type.Union([
  Type.Literal('record'),
  Type.Literal('owner'),
  Type.Object({ user: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
  Type.Object({ email: Type.String({ format: 'email' }) }, { additionalProperties: false }),
  Type.Object({ phone: Type.String({ pattern: '^\\+[1-9][0-9]{6,14}$' }) }, { additionalProperties: false }),
]);
export type Recipient = Static<typeof Recipient>;

export const StaffRecipient = Type.Union([
  Type.Literal('owner'),
  Type.Object({ user: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
  Type.Object({ email: Type.String({ format: 'email' }) }, { additionalProperties: false }),
]);
export type StaffRecipient = Static<typeof StaffRecipient>;

const TemplateRef = Type.String({ minLength: 1, maxLength: 100, description: 'Template id' });
const SenderRef = Type.String({
  minLength: 1,
  maxLength: 100,
  description: "Sender id (POST /v1/senders); default: the workspace's default sender for the channel (/v1/settings)",
});

/** Fields every step may carry: where to go next and when it may run. */
const stepBase = {
  id: StepId,
  next: Type.Optional(StepTarget),
  delay: Type.Optional(IsoDuration),
  delayFrom: Type.Optional(Type.Union([Type.Literal('previous'), Type.Literal('start')])),
  window: Type.Optional(Window),
  roundDelayToDay: Type.Optional(
    Type.Boolean({
      description:
        'Count the delay in whole local days: the step is due from the start of the day the delay lands on, so the window picks the hour (P2D + window 14:00 = on the second day at 14:00)',
    }),
  ),
  skipIfChanged: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 20 })),
  /** The step runs only when this holds as it falls due; otherwise it is skipped (recorded as such) and the sequence goes on. */
  when: Type.Optional(Condition),
};

function step<T extends string, P extends Record<string, TSchema>>(type: T, props: P) {
  return Type.Object({ ...stepBase, type: Type.Literal(type), ...props }, { additionalProperties: false });
}

export const WaitStep = step('wait', { duration: IsoDuration });
export const EmailStep = step('email', {
  to: Type.Optional(Recipient),
  from: Type.Optional(SenderRef),
  template: Type.Optional(TemplateRef),
  variants: Type.Optional(Type.Array(Type.Object({ template: TemplateRef }, { additionalProperties: false }), { minItems: 2, maxItems: 5 })),
});
export const SmsStep = step('sms', { to: Type.Optional(Recipient), from: Type.Optional(SenderRef), template: TemplateRef });
export const VoicemailStep = step('voicemail', { to: Type.Optional(Recipient), from: Type.Optional(SenderRef), template: TemplateRef });
export const TaskStep = step('task', {
  assignee: Type.Optional(StaffRecipient),
  template: TemplateRef,
  priority: Type.Optional(Type.Union([Type.Literal('low'), Type.Literal('normal'), Type.Literal('high'), Type.Literal('urgent')])),
  due: Type.Optional(IsoDuration),
});
export const EmailUserStep = step('email_user', { to: StaffRecipient, from: Type.Optional(SenderRef), template: TemplateRef });
export const UpdateRecordStep = step('update_record', {
  set: Type.Record(Type.String({ pattern: '^(name|email|phone|timezone|stage|owner_id|ownerId|attributes\\.[A-Za-z0-9_-]+)$' }), Type.Unknown(), {
    minProperties: 1,
    additionalProperties: false,
    description: 'Fields to set: stage, name, email, phone, timezone, ownerId or attributes.<key>',
  }),
});
export const WebhookStep = step('webhook', {
  endpoint: Type.String({ minLength: 1, description: 'Webhook endpoint id' }),
  payload: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  onFailure: Type.Optional(StepTarget),
});
export const WaitForStep = step('wait_for', {
  event: Type.String({ minLength: 1, maxLength: 200 }),
  where: Type.Optional(Condition),
  timeout: IsoDuration,
  onEvent: Type.Optional(StepTarget),
  onTimeout: Type.Optional(StepTarget),
});
export const BranchStep = step('branch', {
  cases: Type.Array(Type.Object({ when: Condition, next: StepTarget }, { additionalProperties: false }), { minItems: 1, maxItems: 20 }),
  otherwise: Type.Optional(StepTarget),
});
export const ExitStep = step('exit', { reason: Type.Optional(Type.String({ maxLength: 200 })) });

export const Step = Type.Union([
  WaitStep,
  EmailStep,
  SmsStep,
  VoicemailStep,
  TaskStep,
  EmailUserStep,
  UpdateRecordStep,
  WebhookStep,
  WaitForStep,
  BranchStep,
  ExitStep,
]);
export type Step = Static<typeof Step>;
export type StepType = Step['type'];
export type StepOf<T extends StepType> = Extract<Step, { type: T }>;

export const Trigger = Type.Union([
  Type.Object(
    { type: Type.Literal('event'), event: Type.String({ minLength: 1, maxLength: 200 }), where: Type.Optional(Condition) },
    { additionalProperties: false },
  ),
  Type.Object({ type: Type.Literal('stage_entered'), stage: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('segment_entered'), filter: Condition }, { additionalProperties: false }),
  Type.Object(
    { type: Type.Literal('date'), field: Type.String({ pattern: '^record(\\.[A-Za-z0-9_-]+)+$' }), offset: SignedIsoDuration, at: Type.Optional(LocalTime) },
    { additionalProperties: false },
  ),
  Type.Object({ type: Type.Literal('inactivity'), event: Type.String({ minLength: 1, maxLength: 200 }), after: IsoDuration }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('manual') }, { additionalProperties: false }),
]);
export type Trigger = Static<typeof Trigger>;

export const Notify = Type.Union([Type.Literal('owner'), Type.Object({ user: Type.String({ minLength: 1 }) }, { additionalProperties: false })]);
export type Notify = Static<typeof Notify>;

export const ExitRule = Type.Union([
  Type.Object(
    { event: Type.String({ minLength: 1, maxLength: 200 }), where: Type.Optional(Condition), notify: Type.Optional(Notify) },
    { additionalProperties: false },
  ),
  Type.Object({ fieldChanged: Type.String({ minLength: 1, maxLength: 100 }), notify: Type.Optional(Notify) }, { additionalProperties: false }),
  Type.Object(
    {
      goal: Type.Union([
        Type.Object({ event: Type.String({ minLength: 1, maxLength: 200 }), where: Type.Optional(Condition) }, { additionalProperties: false }),
        Type.Object({ when: Condition }, { additionalProperties: false }),
      ]),
      notify: Type.Optional(Notify),
    },
    { additionalProperties: false },
  ),
]);
export type ExitRule = Static<typeof ExitRule>;

export const Settings = Type.Object(
  {
    timezone: Type.Optional({
      ...TimeZone,
      description: 'IANA time zone used when the record has none, or "record" (the default): the record\'s, else the workspace\'s',
    }),
    timing: Type.Optional(Type.Union([Type.Literal('after_previous'), Type.Literal('after_start')])),
    quietHours: Type.Optional(QuietHours),
    reentry: Type.Optional(Type.Union([Type.Literal('once'), Type.Literal('after_exit'), Type.Literal('always')])),
  },
  { additionalProperties: false },
);
export type Settings = Static<typeof Settings>;

export const AutomationDefinition = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    description: Type.Optional(Type.String({ maxLength: 2000 })),
    trigger: Trigger,
    conditions: Type.Optional(Condition),
    exitWhen: Type.Optional(Type.Array(ExitRule, { maxItems: 20 })),
    settings: Type.Optional(Settings),
    steps: Type.Array(Step, { minItems: 1, maxItems: MAX_STEPS }),
  },
  { additionalProperties: false, $id: 'AutomationDefinition' },
);
export type AutomationDefinition = Static<typeof AutomationDefinition>;

/** Step ids that a step can jump to, with the JSON-pointer suffix of each. */
export function stepTargets(s: Step): Array<{ target: string; at: string }> {
  const out: Array<{ target: string; at: string }> = [];
  if (s.next) out.push({ target: s.next, at: 'next' });
  if (s.type === 'wait_for') {
    if (s.onEvent) out.push({ target: s.onEvent, at: 'onEvent' });
    if (s.onTimeout) out.push({ target: s.onTimeout, at: 'onTimeout' });
  }
  if (s.type === 'webhook' && s.onFailure) out.push({ target: s.onFailure, at: 'onFailure' });
  if (s.type === 'branch') {
    s.cases.forEach((c, i) => out.push({ target: c.next, at: `cases/${i}/next` }));
    if (s.otherwise) out.push({ target: s.otherwise, at: 'otherwise' });
  }
  return out;
}

export { END, defaultNext } from './flow';
