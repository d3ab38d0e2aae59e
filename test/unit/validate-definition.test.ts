import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MAX_STEPS } from '#domain/definition';
import { defaultNext } from '#domain/definition';
import { successors, validateDefinition, type DefinitionContext, type TemplateChannel } from '#domain/validate-definition';
import { EXAMPLE_DEFINITION } from '#services/api/schemas/automation';

const templates = new Map<string, { channel: TemplateChannel }>([
  ['tpl_howwas_a', { channel: 'email' }],
  ['tpl_howwas_b', { channel: 'email' }],
  ['tpl_reminder', { channel: 'email' }],
  ['tpl_referral', { channel: 'email' }],
  ['tpl_call_back', { channel: 'task' }],
  ['tpl_sms', { channel: 'sms' }],
  ['tpl_vm', { channel: 'voicemail' }],
]);
const ctx: DefinitionContext = { templates, users: new Set(['u1']), webhookEndpoints: new Set(['wh1']) };

/** The example of docs/design.md §4, as the OpenAPI document shows it. */
function designExample(): any {
  return structuredClone(EXAMPLE_DEFINITION);
}

function problemsOf(def: unknown, context: DefinitionContext = ctx) {
  const result = validateDefinition(def, context);
  return result.ok ? [] : result.problems;
}
const pointersOf = (def: unknown, context?: DefinitionContext) => problemsOf(def, context).map((p) => p.pointer);

function withSteps(...steps: any[]): any {
  return { name: 'n', trigger: { type: 'manual' }, steps };
}

describe('validateDefinition accepts', () => {
  it('the docs/design.md §4 example', () => {
    const result = validateDefinition(designExample(), ctx);
    expect(result).toEqual({ ok: true, definition: designExample() });
  });

  it('the docs/design.md §4 example as written there, which is the OpenAPI example', () => {
    const design = readFileSync(new URL('../../docs/design.md', import.meta.url), 'utf8');
    const written = /^## §4 [^\n]*\n[\s\S]*?^```json\n([\s\S]*?)^```/m.exec(design)?.[1];
    expect(JSON.parse(written ?? 'null')).toEqual(designExample());
  });

  it('each seed', () => {
    const seeds = [
      // MiniCRM: 2 days, workdays, 09:00; A/B email; SMS; email to user; task to user.
      withSteps(
        {
          id: 'a',
          type: 'email',
          delay: 'P2D',
          window: { days: 'workdays', from: '09:00' },
          variants: [{ template: 'tpl_howwas_a' }, { template: 'tpl_howwas_b' }],
        },
        { id: 'b', type: 'sms', delay: 'P1D', window: { days: ['mon'], from: '10:00' }, template: 'tpl_sms' },
        { id: 'c', type: 'email_user', to: { user: 'u1' }, template: 'tpl_reminder' },
        { id: 'd', type: 'task', assignee: 'owner', template: 'tpl_call_back', due: 'P1D' },
      ),
      // Romanian: after the previous step, SMS never at night.
      {
        ...withSteps({ id: 'a', type: 'email', delay: 'P1D', template: 'tpl_reminder' }, { id: 'b', type: 'sms', delay: 'P4D', template: 'tpl_sms' }),
        settings: { timing: 'after_previous', quietHours: { start: '23:00', end: '07:30' }, timezone: 'Europe/Bucharest' },
      },
      // Seller leads: from the start, 14:00-15:00 New York; a reply exits and tells the owner.
      {
        ...withSteps(
          { id: 'a1', type: 'sms', template: 'tpl_sms' },
          {
            id: 'a2',
            type: 'voicemail',
            template: 'tpl_vm',
            delay: 'P2D',
            roundDelayToDay: true,
            window: { from: '14:00', to: '15:00', timezone: 'America/New_York' },
          },
          {
            id: 'a3',
            type: 'task',
            template: 'tpl_call_back',
            delay: 'P3D',
            roundDelayToDay: true,
            window: { from: '14:00', to: '15:00', timezone: 'America/New_York' },
          },
        ),
        settings: { timing: 'after_start' },
        exitWhen: [{ event: 'message.replied', notify: 'owner' }],
      },
      // French: 5 min, 2 h, 6 h after entering the stage, unless the stage changed.
      {
        ...withSteps(
          { id: 'e1', type: 'email', template: 'tpl_reminder', delay: 'PT5M', skipIfChanged: ['stage'] },
          { id: 'e2', type: 'email', template: 'tpl_reminder', delay: 'PT2H', skipIfChanged: ['stage'] },
          { id: 's1', type: 'sms', template: 'tpl_sms', delay: 'PT6H', skipIfChanged: ['stage'] },
        ),
        trigger: { type: 'stage_entered', stage: 'Salesperson not assigned' },
        settings: { timing: 'after_start' },
      },
      // Otesse: renewal 7 days before, reactivation after 60 days without a booking.
      {
        ...withSteps({ id: 'r', type: 'email', template: 'tpl_reminder' }),
        trigger: { type: 'date', field: 'record.attributes.renewal', offset: '-P7D', at: '09:00' },
      },
      {
        ...withSteps(
          { id: 'r', type: 'email', template: 'tpl_reminder' },
          { id: 'w', type: 'wait', duration: 'P7D' },
          { id: 's', type: 'sms', template: 'tpl_sms' },
        ),
        trigger: { type: 'inactivity', event: 'booking.completed', after: 'P60D' },
        conditions: {
          all: [
            { eventCount: { event: 'booking.completed' }, op: 'gte', value: 1 },
            { field: 'record.attributes.deactivated', op: 'neq', value: true },
          ],
        },
      },
    ];
    for (const seed of seeds) expect(problemsOf(seed)).toEqual([]);
  });

  it('a loop that waits', () => {
    const def = withSteps(
      { id: 'ping', type: 'webhook', endpoint: 'wh1', onFailure: 'retry' },
      { id: 'done', type: 'exit' },
      { id: 'retry', type: 'wait', duration: 'PT1H', next: 'ping' },
    );
    expect(problemsOf(def)).toEqual([]);
  });

  it('without users or endpoints to check against', () => {
    const def = withSteps({ id: 'a', type: 'email_user', to: { user: 'anyone' }, template: 'tpl_reminder' }, { id: 'b', type: 'webhook', endpoint: 'any' });
    expect(problemsOf(def, { templates })).toEqual([]);
  });
});

describe('validateDefinition: schema problems', () => {
  it('reports unknown fields, wrong types and unions once each, at their place', () => {
    const def = designExample();
    def.extra = 1;
    def.steps[1].colour = 'red';
    def.steps[2].type = 'wait_forever';
    def.steps[4].cases[0].when = { all: [{ field: 'event.rating', op: 'bogus', value: 4 }] };
    def.steps[6].assignee = 'bob';
    def.settings.quietHours.start = '25:00';
    expect(problemsOf(def)).toEqual([
      { pointer: '/settings/quietHours/start', message: expect.stringContaining('HH:mm') },
      { pointer: '/steps/1/colour', message: expect.stringContaining('is not a known field') },
      { pointer: '/steps/2/type', message: expect.stringMatching(/^must be one of: wait, email, .*exit$/) },
      { pointer: '/steps/4/cases/0/when/all/0/op', message: expect.stringContaining('"starts_with"') },
      { pointer: '/steps/6/assignee', message: 'must be "owner" or an object with user or an object with email' },
      { pointer: '/extra', message: expect.stringContaining('is not a known field') },
    ]);
  });

  it('reports missing fields, and a missing step type', () => {
    expect(pointersOf({ trigger: { type: 'manual' }, steps: [{ id: 'a' }, { id: 'b', type: 'sms' }] })).toEqual([
      '/name',
      '/steps/0/type',
      '/steps/1/template',
    ]);
  });

  it('bounds the number of steps', () => {
    const steps = Array.from({ length: MAX_STEPS + 1 }, (_, i) => ({ id: `s${i}`, type: 'wait', duration: 'PT1H' }));
    expect(problemsOf(withSteps(...steps))).toEqual([{ pointer: '/steps', message: expect.stringContaining(`${MAX_STEPS}`) }]);
  });

  it('is not an object at all', () => {
    expect(pointersOf('nope')).toEqual(['']);
  });

  it('escapes pointer segments', () => {
    expect(pointersOf({ ...withSteps({ id: 'a', type: 'exit' }), 'a/b~c': 1 })).toEqual(['/a~1b~0c']);
  });
});

describe('validateDefinition: flow', () => {
  it('duplicate ids and the reserved id "end"', () => {
    expect(pointersOf(withSteps({ id: 'a', type: 'exit' }, { id: 'a', type: 'exit' }, { id: 'end', type: 'exit' }))).toEqual(
      expect.arrayContaining(['/steps/1/id', '/steps/2/id']),
    );
  });

  it('every target exists', () => {
    const def = designExample();
    def.steps[2].onEvent = 'nowhere';
    def.steps[4].cases[0].next = 'gone';
    def.steps[4].otherwise = 'lost';
    def.steps[3].next = 'missing';
    expect(pointersOf(def)).toEqual(expect.arrayContaining(['/steps/2/onEvent', '/steps/3/next', '/steps/4/cases/0/next', '/steps/4/otherwise']));
  });

  it('no step is unreachable', () => {
    const def = withSteps(
      { id: 'a', type: 'email', template: 'tpl_reminder', next: 'c' },
      { id: 'b', type: 'exit' },
      { id: 'c', type: 'exit' },
      { id: 'd', type: 'exit' },
    );
    expect(problemsOf(def)).toEqual([
      { pointer: '/steps/1', message: 'is never reached from the first step' },
      { pointer: '/steps/3', message: 'is never reached from the first step' },
    ]);
  });

  it('falls through a branch without otherwise and a wait_for with one outcome', () => {
    const def = withSteps(
      { id: 'a', type: 'branch', cases: [{ when: { field: 'record.stage', op: 'eq', value: 'x' }, next: 'c' }] },
      { id: 'b', type: 'wait_for', event: 'e', timeout: 'P1D', onTimeout: 'd' },
      { id: 'c', type: 'exit' },
      { id: 'd', type: 'exit' },
    );
    expect(problemsOf(def)).toEqual([]);
  });

  it('a next that can never be followed', () => {
    const def = withSteps({ id: 'a', type: 'exit', next: 'b' }, { id: 'b', type: 'exit' });
    expect(pointersOf(def)).toContain('/steps/0/next');
  });

  it('no loop without a wait, reported at the jump back', () => {
    const def = withSteps(
      { id: 'a', type: 'email', template: 'tpl_reminder' },
      { id: 'b', type: 'update_record', set: { stage: 'x' } },
      { id: 'c', type: 'branch', cases: [{ when: { field: 'record.stage', op: 'eq', value: 'x' }, next: 'a' }], otherwise: 'end' },
    );
    expect(problemsOf(def)).toEqual([{ pointer: '/steps/2/cases/0/next', message: expect.stringContaining('without a wait') }]);
    def.steps[1].delay = 'P1D';
    expect(problemsOf(def)).toEqual([]);
  });

  it('a step that jumps to itself', () => {
    expect(pointersOf(withSteps({ id: 'a', type: 'webhook', endpoint: 'wh1', onFailure: 'a' }))).toEqual(['/steps/0/onFailure']);
  });

  it('exports the flow the validator checks', () => {
    const steps = designExample().steps;
    expect(defaultNext(steps, 0)).toBe('ask');
    expect(defaultNext(steps, 3)).toBe('end');
    expect(defaultNext(steps, 6)).toBe('end');
    expect(successors(steps, 2)).toEqual(['route', 'remind']);
    expect(successors(steps, 4)).toEqual(['referral', 'urgent']);
    expect(successors(withSteps({ id: 'x', type: 'exit' }).steps, 0)).toEqual([]);
  });
});

describe('validateDefinition: references and values', () => {
  it('templates exist and fit the channel, for every variant', () => {
    const def = withSteps(
      { id: 'a', type: 'email', variants: [{ template: 'tpl_howwas_a' }, { template: 'tpl_sms' }] },
      { id: 'b', type: 'sms', template: 'tpl_reminder' },
      { id: 'c', type: 'voicemail', template: 'nope' },
      { id: 'd', type: 'task', template: 'tpl_reminder' },
      { id: 'e', type: 'email_user', to: 'owner', template: 'tpl_call_back' },
    );
    expect(problemsOf(def)).toEqual([
      { pointer: '/steps/0/variants/1/template', message: 'template "tpl_sms" is for sms; this step needs one for email' },
      { pointer: '/steps/1/template', message: expect.stringContaining('needs one for sms') },
      { pointer: '/steps/2/template', message: 'no template has the id "nope"' },
      { pointer: '/steps/3/template', message: expect.stringContaining('needs one for task') },
      { pointer: '/steps/4/template', message: expect.stringContaining('needs one for email') },
    ]);
  });

  it('an email step has exactly one of template and variants', () => {
    const def = withSteps(
      { id: 'a', type: 'email' },
      { id: 'b', type: 'email', template: 'tpl_reminder', variants: [{ template: 'tpl_howwas_a' }, { template: 'tpl_howwas_b' }] },
    );
    expect(pointersOf(def)).toEqual(['/steps/0/template', '/steps/1/variants']);
  });

  it('durations are valid and positive; a trigger offset may be negative', () => {
    const def = {
      ...withSteps(
        { id: 'a', type: 'wait', duration: 'PT0S', delay: 'P1.5D' },
        { id: 'b', type: 'wait_for', event: 'e', timeout: '2 days', where: { eventCount: { event: 'x', within: 'P1X' }, op: 'eq', value: 0 } },
        { id: 'c', type: 'task', template: 'tpl_call_back', due: '-P1D' },
      ),
      trigger: { type: 'inactivity', event: 'booking', after: 'P0D' },
    };
    expect(pointersOf(def)).toEqual([
      '/trigger/after',
      '/steps/0/delay',
      '/steps/0/duration',
      '/steps/1/timeout',
      '/steps/1/where/eventCount/within',
      '/steps/2/due',
    ]);
    expect(pointersOf({ ...withSteps({ id: 'a', type: 'exit' }), trigger: { type: 'date', field: 'record.renewal', offset: '-P7DT' } })).toEqual([
      '/trigger/offset',
    ]);
  });

  it('durations are at most ten years: P999999999Y is refused, not turned into a NaN timer', () => {
    const def = {
      ...withSteps(
        { id: 'a', type: 'wait', duration: 'P999999999Y', delay: 'PT99999999H' },
        { id: 'b', type: 'wait_for', event: 'e', timeout: 'P10Y', where: { eventCount: { event: 'x', within: 'P121M' }, op: 'eq', value: 0 } },
        { id: 'c', type: 'task', template: 'tpl_call_back', due: 'P3653D' },
      ),
      trigger: { type: 'date', field: 'record.renewal', offset: '-P999999999Y' },
    };
    const tooLong = 'must be at most P10Y (about 3653 days)';
    expect(problemsOf(def)).toEqual([
      { pointer: '/trigger/offset', message: tooLong },
      { pointer: '/steps/0/delay', message: tooLong },
      { pointer: '/steps/0/duration', message: tooLong },
      { pointer: '/steps/1/where/eventCount/within', message: tooLong },
    ]);
  });

  it('windows and quiet hours: from differs from to, and a window must open outside the quiet hours', () => {
    const def = {
      ...withSteps(
        { id: 'a', type: 'email', template: 'tpl_reminder', window: { from: '09:00', to: '09:00' } },
        { id: 'b', type: 'sms', template: 'tpl_sms', window: { from: '23:30', to: '06:00' } },
        { id: 'c', type: 'email', template: 'tpl_reminder', window: { from: '23:30', to: '06:00' } },
      ),
      settings: { quietHours: { start: '23:00', end: '07:30' } },
    };
    expect(problemsOf(def)).toEqual([
      { pointer: '/steps/0/window/to', message: expect.stringContaining('differ') },
      { pointer: '/steps/1/window', message: 'only opens during the quiet hours (23:00-07:30): this sms would never be sent' },
    ]);
    expect(pointersOf({ ...withSteps({ id: 'a', type: 'exit' }), settings: { quietHours: { start: '07:00', end: '07:00' } } })).toEqual([
      '/settings/quietHours/end',
    ]);
  });

  it('time zones are IANA names ("record" means the recipient\'s)', () => {
    const def = {
      ...withSteps({ id: 'a', type: 'email', template: 'tpl_reminder', window: { from: '09:00', timezone: 'EST5' } }),
      settings: { timezone: 'Mars/Olympus' },
    };
    expect(pointersOf(def)).toEqual(['/settings/timezone', '/steps/0/window/timezone']);
  });

  it('operators fit their values, wherever the condition is', () => {
    const def = designExample();
    def.trigger.where = { field: 'event.status', op: 'in', value: 'completed' };
    def.conditions = { all: [{ field: 'record.stage', op: 'eq', value: 'x' }, { not: { field: 'record.score', op: 'gt', value: 'high' } }] };
    def.exitWhen = [
      { goal: { when: { field: 'record.stage', op: 'exists', value: 'yes' } } },
      { event: 'x', where: { field: 'event.x', op: 'starts_with', value: '' } },
    ];
    def.steps[4].cases[0].when = { any: [{ field: 'steps.nope.status', op: 'eq', value: 'failed' }] };
    expect(problemsOf(def)).toEqual([
      { pointer: '/trigger/where/value', message: 'in needs a non-empty list of at most 1000 strings, numbers or booleans' },
      { pointer: '/conditions/all/1/not/value', message: 'gt needs a number or an ISO-8601 date' },
      { pointer: '/exitWhen/0/goal/when/value', message: 'exists needs true, false or nothing' },
      { pointer: '/exitWhen/1/where/value', message: 'starts_with needs a non-empty string' },
      { pointer: '/steps/4/cases/0/when/any/0/field', message: 'no step has the id "nope"' },
    ]);
  });

  it('users and webhook endpoints exist, recipients fit the channel', () => {
    const def = {
      ...withSteps(
        { id: 'a', type: 'email_user', to: { user: 'ghost' }, template: 'tpl_reminder' },
        { id: 'b', type: 'task', assignee: { user: 'ghost' }, template: 'tpl_call_back' },
        { id: 'c', type: 'webhook', endpoint: 'nope' },
        { id: 'd', type: 'sms', to: { email: 'a@b.co' }, template: 'tpl_sms' },
        { id: 'e', type: 'email', to: { phone: '+40722123456' }, template: 'tpl_reminder' },
        { id: 'f', type: 'sms', to: { user: 'u1' }, template: 'tpl_sms' },
      ),
      exitWhen: [{ fieldChanged: 'stage', notify: { user: 'ghost' } }],
    };
    expect(pointersOf(def)).toEqual([
      '/exitWhen/0/notify/user',
      '/steps/0/to/user',
      '/steps/1/assignee/user',
      '/steps/2/endpoint',
      '/steps/3/to/email',
      '/steps/4/to/phone',
    ]);
  });
});

describe('validateDefinition: reserved keys', () => {
  it('refuses __proto__, constructor and prototype wherever the author chooses a key, with the pointer', () => {
    const problems = problemsOf(
      withSteps(
        { id: 'a', type: 'update_record', set: { stage: 'won', 'attributes.__proto__': 1 } },
        { id: 'b', type: 'update_record', set: { 'attributes.plan': { tiers: [{ constructor: 'x' }] } } },
        { id: 'c', type: 'webhook', endpoint: 'wh1', payload: { ok: 1, nested: { prototype: true } } },
        { id: 'd', type: 'wait', duration: 'PT1H', when: { field: 'record.attributes.constructor', op: 'exists' } },
      ),
    );
    expect(problems).toEqual([
      { pointer: '/steps/0/set/attributes.__proto__', message: '"__proto__" is a reserved key' },
      { pointer: '/steps/1/set/attributes.plan/tiers/0/constructor', message: '"constructor" is a reserved key' },
      { pointer: '/steps/2/payload/nested/prototype', message: '"prototype" is a reserved key' },
      { pointer: '/steps/3/when/field', message: '"constructor" is a reserved key' },
    ]);
  });

  it('accepts the same words inside values and longer keys', () => {
    const def = withSteps(
      { id: 'a', type: 'update_record', set: { stage: 'constructor', 'attributes.constructor_name': '__proto__' } },
      { id: 'b', type: 'webhook', endpoint: 'wh1', payload: { prototypeId: 'prototype' } },
    );
    expect(problemsOf(def)).toEqual([]);
  });
});

describe('validateDefinition: a webhook step payload', () => {
  const deep = (levels: number): unknown => (levels === 0 ? 'x' : { next: deep(levels - 1) });
  it('is bounded like event properties: keys, nesting and JSON bytes, each refused with the pointer and the limit', () => {
    const problems = problemsOf(
      withSteps(
        { id: 'a', type: 'webhook', endpoint: 'wh1', payload: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, i])) },
        { id: 'b', type: 'webhook', endpoint: 'wh1', payload: { top: deep(7) } },
        { id: 'c', type: 'webhook', endpoint: 'wh1', payload: { blob: 'x'.repeat(32 * 1024) } },
      ),
    );
    expect(problems).toEqual([
      { pointer: '/steps/0/payload', message: 'may hold at most 100 keys (has 101)' },
      { pointer: '/steps/1/payload/top/next/next/next/next/next', message: 'nests deeper than 5 levels' },
      { pointer: '/steps/2/payload', message: `may take at most ${32 * 1024} bytes as JSON (takes ${32 * 1024 + 11})` },
    ]);
  });

  it('accepts a payload at each limit', () => {
    const atLimit = withSteps(
      { id: 'a', type: 'webhook', endpoint: 'wh1', payload: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i])) },
      { id: 'b', type: 'webhook', endpoint: 'wh1', payload: { top: deep(5) } },
      { id: 'c', type: 'webhook', endpoint: 'wh1', payload: { blob: 'x'.repeat(32 * 1024 - 11) } },
    );
    expect(problemsOf(atLimit)).toEqual([]);
  });
});

describe('validateDefinition: update_record values', () => {
  it("checks each record field's value against the field, with the pointer", () => {
    const problems = problemsOf(
      withSteps({
        id: 'a',
        type: 'update_record',
        set: {
          email: 'not-an-email',
          phone: '0722 123 456',
          timezone: 'Mars/Olympus',
          owner_id: 'u9',
          stage: 7,
          name: ['x'],
          'attributes.plan': { any: 'json' },
        },
      }),
    );
    expect(problems).toEqual([
      { pointer: '/steps/0/set/email', message: 'must be an email address (or null to clear it)' },
      { pointer: '/steps/0/set/phone', message: 'must be an E.164 phone number, e.g. +14155550100 (or null to clear it)' },
      { pointer: '/steps/0/set/timezone', message: '"Mars/Olympus" is not an IANA time zone (e.g. Europe/Bucharest)' },
      { pointer: '/steps/0/set/owner_id', message: 'no user has the id "u9"' },
      { pointer: '/steps/0/set/stage', message: 'must be a non-empty string of at most 100 characters (or null to clear it)' },
      { pointer: '/steps/0/set/name', message: 'must be a string of at most 200 characters (or null to clear it)' },
    ]);
    expect(pointersOf(withSteps({ id: 'a', type: 'update_record', set: { ownerId: 42 } }))).toEqual(['/steps/0/set/ownerId']);
  });

  it('accepts fitting values and null (which clears the field)', () => {
    const def = withSteps(
      {
        id: 'a',
        type: 'update_record',
        set: { email: 'ana@example.com', phone: '+40722123456', timezone: 'Europe/Bucharest', ownerId: 'u1', stage: 'won', name: '' },
      },
      { id: 'b', type: 'update_record', set: { email: null, phone: null, timezone: null, owner_id: null, stage: null, name: null } },
    );
    expect(problemsOf(def)).toEqual([]);
    // Without users to check against (as in the property tests), any owner id is taken.
    expect(problemsOf(withSteps({ id: 'a', type: 'update_record', set: { ownerId: 'u9' } }), { templates })).toEqual([]);
  });
});
