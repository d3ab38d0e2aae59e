/** Request and response schemas of /v1/automations. The definition schema itself is domain/definition.ts. */
import { Type, type Static } from 'typebox';
import { AutomationDefinition, Trigger } from '#domain/definition';
import { ListQueryWith, Nullable, NullableTimestamp, Timestamp } from './common';

/** The post-service follow-up of docs/design.md §4: the example shown in the OpenAPI document. */
export const EXAMPLE_DEFINITION: AutomationDefinition = {
  name: 'Post-service follow-up',
  trigger: { type: 'event', event: 'booking.status_changed', where: { field: 'event.status', op: 'eq', value: 'completed' } },
  conditions: { all: [{ field: 'record.attributes.service', op: 'eq', value: 'cleaning' }] },
  exitWhen: [{ event: 'message.replied', notify: 'owner' }, { fieldChanged: 'stage' }],
  settings: {
    timezone: 'America/New_York',
    timing: 'after_previous',
    quietHours: { start: '23:00', end: '07:30', channels: ['sms', 'voicemail'] },
    reentry: 'after_exit',
  },
  steps: [
    { id: 'w1', type: 'wait', duration: 'PT2H' },
    { id: 'ask', type: 'email', to: 'record', variants: [{ template: 'tpl_howwas_a' }, { template: 'tpl_howwas_b' }] },
    { id: 'rating', type: 'wait_for', event: 'rating.received', timeout: 'P1D', onEvent: 'route', onTimeout: 'remind' },
    { id: 'remind', type: 'email', to: 'record', template: 'tpl_reminder', next: 'end' },
    { id: 'route', type: 'branch', cases: [{ when: { field: 'event.rating', op: 'gte', value: 4 }, next: 'referral' }], otherwise: 'urgent' },
    { id: 'referral', type: 'email', to: 'record', template: 'tpl_referral', next: 'end' },
    { id: 'urgent', type: 'task', assignee: 'owner', template: 'tpl_call_back', priority: 'urgent' },
  ],
};

/** Two smaller recipes for the document: a wait then an email, and a wait for an event with a timeout and a branch. */
const EXAMPLE_RECIPES: AutomationDefinition[] = [
  {
    name: 'Welcome email a day after signing up',
    trigger: { type: 'stage_entered', stage: 'signed_up' },
    steps: [
      { id: 'wait', type: 'wait', duration: 'P1D' },
      { id: 'welcome', type: 'email', to: 'record', template: 'tpl_howwas_a' },
    ],
  },
  {
    name: 'Rating or reminder',
    trigger: { type: 'manual' },
    steps: [
      { id: 'rating', type: 'wait_for', event: 'rating.received', timeout: 'P2D', onEvent: 'route', onTimeout: 'remind' },
      { id: 'remind', type: 'email', to: 'record', template: 'tpl_reminder', next: 'end' },
      { id: 'route', type: 'branch', cases: [{ when: { field: 'event.rating', op: 'lt', value: 3 }, next: 'call' }], otherwise: 'end' },
      { id: 'call', type: 'task', assignee: 'owner', template: 'tpl_call_back' },
    ],
  },
];

const EXAMPLES = [EXAMPLE_DEFINITION, ...EXAMPLE_RECIPES];

/**
 * The request body of POST and PUT: the definition itself, with realistic examples, and their
 * step lists as examples of `steps`: the contract fuzzer builds bodies from them, as generating a
 * step list from the schema takes it minutes (docs/testing.md §5).
 */
// Copies: schema tooling may rewrite the schema objects it is given.
export const DefinitionBody = {
  ...AutomationDefinition,
  properties: {
    ...AutomationDefinition.properties,
    steps: { ...AutomationDefinition.properties.steps, examples: structuredClone(EXAMPLES.map((d) => d.steps)) },
  },
  examples: structuredClone(EXAMPLES),
} as typeof AutomationDefinition;

export const AutomationStatus = Type.Union([Type.Literal('draft'), Type.Literal('active'), Type.Literal('paused'), Type.Literal('inactive')], {
  description: 'draft -> active <-> paused -> inactive (inactive -> active again)',
});

export const TriggerType = Type.Union([
  Type.Literal('event'),
  Type.Literal('stage_entered'),
  Type.Literal('segment_entered'),
  Type.Literal('date'),
  Type.Literal('inactivity'),
  Type.Literal('manual'),
]);

export const AutomationParams = Type.Object(
  { id: Type.String({ minLength: 1, maxLength: 200, examples: ['aut_4f9Qm2LxT0bKc8Zr1VwA'] }) },
  { additionalProperties: false },
);
export type AutomationParams = Static<typeof AutomationParams>;

export const ListAutomationsQuery = ListQueryWith({
  status: Type.Optional(AutomationStatus),
  trigger: Type.Optional(TriggerType),
});
export type ListAutomationsQuery = Static<typeof ListAutomationsQuery>;

const DefinitionRef = Type.Unsafe<AutomationDefinition>(Type.Ref('AutomationDefinition'));
const TemplateVersions = Type.Record(Type.String(), Type.Integer({ minimum: 1 }), {
  description: 'Template id -> the version this automation version pinned when it was saved',
  examples: [{ tpl_howwas_a: 3, tpl_howwas_b: 1 }],
});

export const Automation = Type.Object(
  {
    id: Type.String({ examples: ['aut_4f9Qm2LxT0bKc8Zr1VwA'] }),
    name: Type.String(),
    status: AutomationStatus,
    version: Type.Integer({ minimum: 1, description: 'The version shown here' }),
    currentVersion: Type.Integer({ minimum: 1, description: 'The version new enrollments get; records already in keep the version they entered with' }),
    trigger: Type.Unsafe<Static<typeof Trigger>>(
      Type.Object({ type: TriggerType }, { additionalProperties: true, description: 'The trigger of the current version (see AutomationDefinition)' }),
    ),
    onlyNew: Nullable(Type.Boolean(), { description: 'Fixed at the first activation; null until then' }),
    activatedAt: NullableTimestamp({ description: 'Last activation' }),
    backfill: Type.Optional(
      Type.Object(
        {
          status: Type.Union([Type.Literal('running'), Type.Literal('cancelling'), Type.Literal('cancelled'), Type.Literal('done')], {
            description:
              'running: records are still being enrolled; cancelling: cancelled while a router enrolls its current page (at most 500 records), which finishes; cancelled: no further record is enrolled and `enrolled` is final (a worker restart does not resume it); done: every matching record was reached',
          }),
          enrolled: Type.Integer({ minimum: 0, description: 'Records enrolled by the backfill so far (final once cancelled or done)' }),
          cancelledAt: NullableTimestamp({
            description: 'When it was cancelled: POST /v1/automations/{id}/backfill/cancel, or pausing or deactivating the automation; null if it was not',
          }),
        },
        {
          additionalProperties: false,
          description:
            'On a single read of a stage or segment automation activated with `onlyNew: false`: its bulk enrollment, of the last activation (date and inactivity triggers reach matching records through their sweep)',
        },
      ),
    ),
    templateVersions: TemplateVersions,
    definition: DefinitionRef,
    createdAt: Timestamp(),
    updatedAt: Timestamp(),
  },
  { additionalProperties: false },
);
export type Automation = Static<typeof Automation>;

export const AutomationVersion = Type.Object(
  {
    version: Type.Integer({ minimum: 1 }),
    current: Type.Boolean({ description: 'Whether new enrollments get this version' }),
    name: Type.String(),
    trigger: Type.Unsafe<Static<typeof Trigger>>(Type.Object({ type: TriggerType }, { additionalProperties: true })),
    templateVersions: TemplateVersions,
    definition: DefinitionRef,
    createdAt: Timestamp(),
  },
  { additionalProperties: false },
);

export const ActivateBody = Type.Object(
  {
    onlyNew: Type.Optional(
      Type.Boolean({
        description:
          'true: only records that enter from now on; false: also enroll every record that already matches (in bulk). Required at the first activation, fixed afterwards (may be repeated, not changed).',
      }),
    ),
  },
  { additionalProperties: false, examples: [{ onlyNew: true }] },
);
export type ActivateBody = Static<typeof ActivateBody>;

export const DeactivateBody = Type.Object(
  {
    inFlight: Type.Union([Type.Literal('finish'), Type.Literal('cancel')], {
      description: 'finish: records already in run to the end (a paused automation is resumed for them); cancel: they exit now',
    }),
  },
  { additionalProperties: false, examples: [{ inFlight: 'finish' }] },
);
export type DeactivateBody = Static<typeof DeactivateBody>;
