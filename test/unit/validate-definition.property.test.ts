/**
 * Valid definitions of every step type are accepted; each kind of mistake made to one of them is
 * rejected with a problem at the exact place of the mistake.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MAX_STEPS, type AutomationDefinition, type Condition, type Step } from '#domain/definition';
import { validateDefinition, type DefinitionContext, type TemplateChannel } from '#domain/validate-definition';

const ctx: DefinitionContext = {
  templates: new Map<string, { channel: TemplateChannel }>([
    ['e1', { channel: 'email' }],
    ['e2', { channel: 'email' }],
    ['e3', { channel: 'email' }],
    ['s1', { channel: 'sms' }],
    ['v1', { channel: 'voicemail' }],
    ['t1', { channel: 'task' }],
  ]),
  users: new Set(['u1', 'u2']),
  webhookEndpoints: new Set(['wh1']),
};

const PROPERTY_TIMEOUT = 60_000;

// ---- valid parts

const duration = fc.constantFrom('PT5M', 'PT2H', 'P1D', 'P3D', 'P1W', 'P1DT12H', 'PT1.5H', 'P1M');
const hhmm = (h: number, m: number) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`;
const minute = fc.constantFrom(0, 15, 30, 45);

// Daytime windows and night quiet hours always leave an opening, so an SMS step can be sent.
const window = fc
  .record(
    {
      days: fc.oneof(
        fc.constantFrom('any' as const, 'workdays' as const, 'weekends' as const),
        fc.uniqueArray(fc.constantFrom('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun' as const), { minLength: 1 }),
      ),
      from: fc.tuple(fc.integer({ min: 8, max: 20 }), minute),
      to: fc.tuple(fc.integer({ min: 21, max: 22 }), minute),
      timezone: fc.constantFrom('America/New_York', 'Asia/Kolkata'),
    },
    { requiredKeys: [] },
  )
  .map(({ from, to, ...w }) => ({ ...w, ...(from ? { from: hhmm(...from) } : {}), ...(to ? { to: hhmm(...to) } : {}) }));
const quietHours = fc.record(
  {
    start: fc.tuple(fc.integer({ min: 22, max: 23 }), minute).map((t) => hhmm(...t)),
    end: fc.tuple(fc.integer({ min: 5, max: 7 }), minute).map((t) => hhmm(...t)),
  },
  { requiredKeys: ['start', 'end'] },
);

const fieldLeaf: fc.Arbitrary<Condition> = fc.oneof(
  fc.record({
    field: fc.constantFrom('record.stage', 'event.status'),
    op: fc.constantFrom('eq' as const, 'neq' as const, 'contains' as const),
    value: fc.string({ minLength: 1 }),
  }),
  fc.record({
    field: fc.constant('record.attributes.tags'),
    op: fc.constantFrom('in' as const, 'nin' as const),
    value: fc.array(fc.oneof(fc.string(), fc.integer()), { minLength: 1 }),
  }),
  fc.record({ field: fc.constant('event.rating'), op: fc.constantFrom('gt' as const, 'gte' as const, 'lt' as const, 'lte' as const), value: fc.integer() }),
  fc.record({
    field: fc.constant('record.attributes.renewal'),
    op: fc.constantFrom('gt' as const, 'lt' as const),
    value: fc.constantFrom('2024-06-01', '2024-06-01T10:00:00Z'),
  }),
  fc.record({ field: fc.constant('record.email'), op: fc.constant('exists' as const), value: fc.boolean() }, { requiredKeys: ['field', 'op'] }),
  fc.record({ field: fc.constant('record.name'), op: fc.constant('starts_with' as const), value: fc.string({ minLength: 1 }) }),
  // The first step is never dropped as unreachable, so its outcome can always be read.
  fc.constant<Condition>({ field: 'steps.s0.status', op: 'eq', value: 'done' }),
  fc.record({
    eventCount: fc.record({ event: fc.constant('booking.completed'), within: duration }, { requiredKeys: ['event'] }),
    op: fc.constantFrom('eq' as const, 'gte' as const),
    value: fc.nat(5),
  }),
);
const { condition } = fc.letrec<{ condition: Condition }>((tie) => ({
  condition: fc.oneof(
    { maxDepth: 2, depthIdentifier: 'condition' },
    fieldLeaf,
    fc.record({ all: fc.array(tie('condition'), { minLength: 1, maxLength: 3 }) }),
    fc.record({ any: fc.array(tie('condition'), { minLength: 1, maxLength: 3 }) }),
    fc.record({ not: tie('condition') }),
  ),
}));

const recipient = fc.constantFrom<any>('record', 'owner', { user: 'u1' });
const staff = fc.constantFrom<any>('owner', { user: 'u2' }, { email: 'ops@example.com' });

/** A forward jump, drawn as a fraction of the steps ahead; resolved once the list is known. */
const ahead = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
type Ahead = number;

type Shape = Record<string, unknown> & { type: Step['type'] };
const typed = (type: Step['type'], fields: Record<string, fc.Arbitrary<unknown>>, required: string[] = []) =>
  fc.record(fields, { requiredKeys: required }).map((f) => ({ type, ...f }) as Shape);

const shape: fc.Arbitrary<Shape> = fc.oneof(
  typed('wait', { duration }, ['duration']),
  fc.oneof(
    typed('email', { template: fc.constantFrom('e1', 'e2'), to: recipient }, ['template']),
    typed(
      'email',
      { variants: fc.uniqueArray(fc.constantFrom('e1', 'e2', 'e3'), { minLength: 2, maxLength: 3 }).map((ts) => ts.map((template) => ({ template }))) },
      ['variants'],
    ),
  ),
  typed('sms', { template: fc.constant('s1'), to: fc.constantFrom<any>('record', { phone: '+40722123456' }) }, ['template']),
  typed('voicemail', { template: fc.constant('v1'), to: recipient }, ['template']),
  typed('task', { template: fc.constant('t1'), assignee: staff, priority: fc.constantFrom('low', 'urgent'), due: duration }, ['template']),
  typed('email_user', { template: fc.constant('e3'), to: staff }, ['template', 'to']),
  typed('update_record', { set: fc.constantFrom({ stage: 'nurture' }, { 'attributes.plan': 'gold', ownerId: 'u1' }) }, ['set']),
  typed('webhook', { endpoint: fc.constant('wh1'), payload: fc.constant({ a: 1 }), onFailure: ahead }, ['endpoint']),
  typed('wait_for', { event: fc.constant('rating.received'), timeout: duration, where: condition, onEvent: ahead, onTimeout: ahead }, ['event', 'timeout']),
  typed('branch', { cases: fc.array(fc.record({ when: condition, next: ahead }), { minLength: 1, maxLength: 3 }), otherwise: ahead }, ['cases']),
  typed('exit', { reason: fc.constant('done') }),
);

const timing = fc.record(
  {
    delay: duration,
    delayFrom: fc.constantFrom('previous', 'start'),
    window,
    roundDelayToDay: fc.boolean(),
    skipIfChanged: fc.constant(['stage']),
    next: ahead,
  },
  { requiredKeys: [] },
);

const trigger = fc.oneof(
  fc.record({ type: fc.constant('event'), event: fc.constant('booking.status_changed'), where: condition }, { requiredKeys: ['type', 'event'] }),
  fc.record({ type: fc.constant('stage_entered'), stage: fc.constant('Contacted') }),
  fc.record({ type: fc.constant('segment_entered'), filter: condition }),
  fc.record(
    { type: fc.constant('date'), field: fc.constant('record.attributes.renewal'), offset: fc.constantFrom('-P7D', 'P0D', 'P1D'), at: fc.constant('09:00') },
    { requiredKeys: ['type', 'field', 'offset'] },
  ),
  fc.record({ type: fc.constant('inactivity'), event: fc.constant('booking.completed'), after: fc.constant('P60D') }),
  fc.constant({ type: 'manual' }),
);

const exitRule = fc.oneof(
  fc.record({ event: fc.constant('message.replied'), notify: fc.constantFrom<any>('owner', { user: 'u1' }) }, { requiredKeys: ['event'] }),
  fc.record({ fieldChanged: fc.constant('stage') }),
  fc.record({
    goal: fc.oneof(fc.record({ when: condition }), fc.record({ event: fc.constant('booking.completed'), where: condition }, { requiredKeys: ['event'] })),
  }),
);

const settings = fc.record(
  {
    timezone: fc.constantFrom('record', 'Europe/Bucharest', 'America/New_York', 'Australia/Lord_Howe'),
    timing: fc.constantFrom('after_previous', 'after_start'),
    quietHours,
    reentry: fc.constantFrom('once', 'after_exit', 'always'),
  },
  { requiredKeys: [] },
);

/** Turns a drawn fraction into a step id ahead of `index`, or `end`. */
function resolveAhead(fraction: Ahead, index: number, count: number): string {
  const target = index + 1 + Math.floor(fraction * (count - index));
  return target >= count ? 'end' : `s${target}`;
}

/** A jump that the step would never take is left out: the validator rightly flags it. */
function buildStep(raw: Shape & Record<string, unknown>, index: number, count: number): Step {
  const to = (f: unknown) => resolveAhead(f as Ahead, index, count);
  const step: Record<string, unknown> = { ...raw, id: `s${index}` };
  for (const key of ['next', 'onFailure', 'onEvent', 'onTimeout', 'otherwise'] as const) if (key in step) step[key] = to(step[key]);
  if (step.type === 'branch') step.cases = (step.cases as Array<{ when: Condition; next: Ahead }>).map((c) => ({ ...c, next: to(c.next) }));
  const neverDefault = step.type === 'exit' || (step.type === 'branch' && step.otherwise) || (step.type === 'wait_for' && step.onEvent && step.onTimeout);
  if (neverDefault) delete step.next;
  return step as unknown as Step;
}

/** Drops the steps nothing leads to (a test-side reading of the flow rules). */
function reachableOnly(steps: Step[]): Step[] {
  const index = new Map(steps.map((s, i) => [s.id, i]));
  const seen = new Set([0]);
  for (const i of seen) {
    const s = steps[i]! as Record<string, any>;
    const jumps = [s.onFailure, s.onEvent, s.onTimeout, s.otherwise, ...(s.cases ?? []).map((c: { next: string }) => c.next)];
    const stops = s.type === 'exit' || (s.type === 'branch' && s.otherwise) || (s.type === 'wait_for' && s.onEvent && s.onTimeout);
    if (!stops) jumps.push(s.next ?? steps[i + 1]?.id);
    for (const id of jumps) if (index.has(id)) seen.add(index.get(id)!);
  }
  return steps.filter((_, i) => seen.has(i));
}

const validDefinition: fc.Arbitrary<AutomationDefinition> = fc
  .record(
    {
      name: fc.string({ minLength: 1, maxLength: 50 }),
      description: fc.string({ maxLength: 50 }),
      trigger,
      conditions: condition,
      exitWhen: fc.array(exitRule, { maxLength: 3 }),
      settings,
      steps: fc.array(fc.tuple(shape, timing), { minLength: 1, maxLength: 12 }),
    },
    { requiredKeys: ['name', 'trigger', 'steps'] },
  )
  .map(
    ({ steps, ...def }) =>
      ({
        ...def,
        steps: reachableOnly(steps.map(([s, t], i, all) => buildStep({ ...s, ...t }, i, all.length))),
      }) as AutomationDefinition,
  );

// ---- tests

function pointers(def: unknown): string[] {
  const result = validateDefinition(def, ctx);
  return result.ok ? [] : result.problems.map((p) => p.pointer);
}

/** A valid definition, a step index in it, and a deep copy to break. */
const broken = <T>(extra: fc.Arbitrary<T>) =>
  fc.tuple(validDefinition, fc.nat(), extra).map(([def, n, x]) => ({ def: structuredClone(def) as any, i: n % def.steps.length, x }));

describe('validateDefinition properties', () => {
  it(
    'accepts every valid definition',
    () => {
      fc.assert(
        fc.property(validDefinition, (def) => {
          const result = validateDefinition(def, ctx);
          expect(result.ok ? [] : result.problems).toEqual([]);
        }),
        { numRuns: 200 },
      );
    },
    PROPERTY_TIMEOUT,
  );

  const mutations: Array<[string, fc.Arbitrary<{ def: any; expected: string }>]> = [
    [
      'a duplicated step id',
      broken(fc.nat())
        .filter(({ def }) => def.steps.length >= 2)
        .map(({ def, i, x }) => {
          const j = 1 + (i % (def.steps.length - 1));
          def.steps[j].id = def.steps[x % j].id;
          return { def, expected: `/steps/${j}/id` };
        }),
    ],
    ['a next naming no step', broken(fc.constant(null)).map(({ def, i }) => ((def.steps[i].next = 'nowhere'), { def, expected: `/steps/${i}/next` }))],
    [
      'an unreachable step',
      broken(fc.constant(null)).map(({ def }) => {
        def.steps.push({ id: 'gate', type: 'exit' }, { id: 'orphan', type: 'exit' });
        return { def, expected: `/steps/${def.steps.length - 1}` };
      }),
    ],
    [
      'a loop without a wait',
      broken(fc.constant(null)).map(({ def, i }) => {
        def.steps[i] = { id: def.steps[i].id, type: 'update_record', set: { stage: 'x' }, next: def.steps[i].id };
        return { def, expected: `/steps/${i}/next` };
      }),
    ],
    [
      'a template that does not exist or does not fit the channel',
      broken(fc.constantFrom(['sms', 'missing'], ['sms', 'e1'], ['voicemail', 's1'], ['task', 'e1'], ['email_user', 't1'], ['email', 'v1'])).map(
        ({ def, i, x: [type, template] }) => {
          const { id, next } = def.steps[i];
          def.steps[i] = { id, type, template, ...(type === 'email_user' ? { to: 'owner' } : {}), ...(next ? { next } : {}) };
          return { def, expected: `/steps/${i}/template` };
        },
      ),
    ],
    [
      'an invalid or empty duration',
      broken(fc.constantFrom('P1X', 'PT0S', '1 day', 'P1.5D', 'PT-1H')).map(
        ({ def, i, x }) => ((def.steps[i].delay = x), { def, expected: `/steps/${i}/delay` }),
      ),
    ],
    [
      'an invalid local time',
      broken(fc.constantFrom('24:00', '9:00', '12:60', 'noon')).map(
        ({ def, i, x }) => ((def.steps[i].window = { from: x }), { def, expected: `/steps/${i}/window/from` }),
      ),
    ],
    [
      'a window opening and closing at the same time',
      broken(fc.constantFrom('09:00', '00:00')).map(
        ({ def, i, x }) => ((def.steps[i].window = { from: x, to: x }), { def, expected: `/steps/${i}/window/to` }),
      ),
    ],
    [
      'an invalid time zone',
      broken(fc.constantFrom('Mars/Olympus', 'Europe/Bucuresti', 'GMT+25')).map(
        ({ def, x }) => ((def.settings = { ...def.settings, timezone: x }), { def, expected: '/settings/timezone' }),
      ),
    ],
    [
      'an operator that does not fit its value',
      broken(fc.constantFrom(['in', 'x'], ['nin', []], ['gt', 'soon'], ['exists', 'yes'], ['starts_with', ''], ['eq', ['a']], ['lte', null])).map(
        ({ def, x: [op, value] }) => {
          def.conditions = {
            all: [
              { field: 'record.stage', op: 'eq', value: 'a' },
              { field: 'record.stage', op, value },
            ],
          };
          return { def, expected: '/conditions/all/1/value' };
        },
      ),
    ],
    [
      'too many steps',
      broken(fc.constant(null)).map(({ def }) => {
        while (def.steps.length <= MAX_STEPS) def.steps.push({ id: `extra${def.steps.length}`, type: 'exit' });
        return { def, expected: '/steps' };
      }),
    ],
    [
      'an unknown field',
      broken(fc.constantFrom('colour', 'dealy', 'templates')).map(({ def, i, x }) => ((def.steps[i][x] = 'red'), { def, expected: `/steps/${i}/${x}` })),
    ],
  ];

  it.each(mutations)(
    'rejects %s, at its place',
    (_, mutated) => {
      fc.assert(
        fc.property(mutated, ({ def, expected }) => {
          expect(pointers(def)).toContain(expected);
        }),
        { numRuns: 50 },
      );
    },
    PROPERTY_TIMEOUT,
  );
});
