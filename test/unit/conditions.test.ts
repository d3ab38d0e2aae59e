import { describe, expect, it } from 'vitest';
import type { ComparisonOp, Condition } from '#domain/definition';
import { conditionLeaves, evaluate, eventCountsReferenced, fieldsReferenced, opFitsValue } from '#domain/conditions';

const record = {
  stage: 'contacted',
  ownerId: 'u1',
  email: null,
  attributes: { service: 'cleaning', visits: '3', score: 4.5, tags: ['vip', 'north'], renewal: '2024-06-01', nested: { a: 1 } },
};
const event = { id: 'e1', type: 'booking.status_changed', occurredAt: '2024-05-01T10:00:00Z', properties: { status: 'completed', rating: 4 } };
const ctx = { record, event, steps: { hook: { status: 'failed' } } };

const holds = (cond: Condition) => evaluate(cond, ctx);
const leaf = (field: string, op: ComparisonOp, value?: unknown): Condition => ({ field, op, ...(value === undefined ? {} : { value }) });

describe('evaluate: fields', () => {
  it('reads record fields, attributes and step outcomes', () => {
    expect(holds(leaf('record.stage', 'eq', 'contacted'))).toBe(true);
    expect(holds(leaf('record.attributes.service', 'eq', 'cleaning'))).toBe(true);
    expect(holds(leaf('steps.hook.status', 'eq', 'failed'))).toBe(true);
  });

  it("reads event fields from the event's properties, and the envelope by its own names", () => {
    expect(holds(leaf('event.rating', 'gte', 4))).toBe(true);
    expect(holds(leaf('event.status', 'eq', 'completed'))).toBe(true);
    expect(holds(leaf('event.type', 'eq', 'booking.status_changed'))).toBe(true);
    expect(holds(leaf('event.properties.rating', 'eq', 4))).toBe(true);
  });

  it('reads a flat event too', () => {
    expect(evaluate(leaf('event.rating', 'lt', 4), { record, event: { type: 'rating.received', rating: 2 } })).toBe(true);
  });

  it('does not read inherited properties', () => {
    expect(holds(leaf('record.attributes.constructor', 'exists'))).toBe(false);
  });
});

describe('evaluate: comparisons', () => {
  it('compares numbers and numeric strings as numbers', () => {
    expect(holds(leaf('record.attributes.visits', 'eq', 3))).toBe(true);
    expect(holds(leaf('record.attributes.visits', 'gt', 2))).toBe(true);
    expect(holds(leaf('record.attributes.visits', 'lt', '10'))).toBe(true);
    expect(holds(leaf('record.attributes.score', 'lte', 4.5))).toBe(true);
  });

  it('compares ISO dates as instants', () => {
    expect(holds(leaf('record.attributes.renewal', 'gt', '2024-05-31T23:59:59Z'))).toBe(true);
    expect(holds(leaf('record.attributes.renewal', 'eq', '2024-06-01T02:00:00+02:00'))).toBe(true);
    expect(holds(leaf('record.attributes.renewal', 'lt', '2024-06-01'))).toBe(false);
  });

  it('gives strings and mixed kinds no order', () => {
    expect(holds(leaf('record.stage', 'gt', 'a'))).toBe(false);
    expect(holds(leaf('record.stage', 'lt', 5))).toBe(false);
    expect(holds(leaf('record.attributes.renewal', 'gt', 5))).toBe(false);
  });

  it('eq and neq are strict for strings and structural for objects', () => {
    expect(holds(leaf('record.stage', 'eq', 'Contacted'))).toBe(false);
    expect(holds(leaf('record.stage', 'neq', 'won'))).toBe(true);
    expect(holds(leaf('record.attributes.nested', 'eq', { a: 1 }))).toBe(true);
    expect(holds(leaf('record.attributes.tags', 'eq', ['vip', 'north']))).toBe(true);
  });

  it('in / nin over a list, and a list field is in when any item is', () => {
    expect(holds(leaf('record.stage', 'in', ['new', 'contacted']))).toBe(true);
    expect(holds(leaf('record.stage', 'nin', ['new', 'contacted']))).toBe(false);
    expect(holds(leaf('record.attributes.tags', 'in', ['vip']))).toBe(true);
    expect(holds(leaf('record.attributes.tags', 'nin', ['gold']))).toBe(true);
    expect(holds(leaf('event.rating', 'in', ['4']))).toBe(true);
  });

  it('contains looks into strings and lists; starts_with into strings', () => {
    expect(holds(leaf('record.attributes.service', 'contains', 'lean'))).toBe(true);
    expect(holds(leaf('record.attributes.tags', 'contains', 'north'))).toBe(true);
    expect(holds(leaf('record.attributes.tags', 'contains', 'nor'))).toBe(false);
    expect(holds(leaf('record.attributes.service', 'starts_with', 'clean'))).toBe(true);
    expect(holds(leaf('record.attributes.score', 'starts_with', '4'))).toBe(false);
  });
});

describe('evaluate: missing fields', () => {
  it('only exists: false, neq and nin hold for a missing or null field', () => {
    for (const field of ['record.attributes.missing', 'record.email', 'event.nothing.deeper']) {
      expect(holds(leaf(field, 'exists'))).toBe(false);
      expect(holds(leaf(field, 'exists', true))).toBe(false);
      expect(holds(leaf(field, 'exists', false))).toBe(true);
      expect(holds(leaf(field, 'neq', 'x'))).toBe(true);
      expect(holds(leaf(field, 'nin', ['x']))).toBe(true);
      for (const op of ['eq', 'in', 'gt', 'gte', 'lt', 'lte', 'contains', 'starts_with'] as const) {
        expect(holds(leaf(field, op, op === 'in' ? ['x'] : 1))).toBe(false);
      }
    }
  });

  it('has no event when there is none', () => {
    expect(evaluate(leaf('event.rating', 'exists'), { record, event: null })).toBe(false);
  });
});

describe('evaluate: combinators and event counts', () => {
  it('all / any / not', () => {
    const yes = leaf('record.stage', 'eq', 'contacted');
    const no = leaf('record.stage', 'eq', 'won');
    expect(holds({ all: [yes, yes] })).toBe(true);
    expect(holds({ all: [yes, no] })).toBe(false);
    expect(holds({ any: [no, yes] })).toBe(true);
    expect(holds({ not: { any: [no] } })).toBe(true);
  });

  it('answers eventCount through the caller (Otesse: at least 1 completed booking in the last year)', () => {
    const cond: Condition = { eventCount: { event: 'booking.completed', within: 'P1Y' }, op: 'gte', value: 1 };
    const asked: unknown[] = [];
    const count = (n: number) => (e: string, within?: string) => (asked.push([e, within]), n);
    expect(evaluate(cond, ctx, { eventCount: count(2) })).toBe(true);
    expect(evaluate(cond, ctx, { eventCount: count(0) })).toBe(false);
    expect(asked).toEqual([
      ['booking.completed', 'P1Y'],
      ['booking.completed', 'P1Y'],
    ]);
  });

  it('refuses to guess a count it was not given', () => {
    expect(() => evaluate({ eventCount: { event: 'x' }, op: 'eq', value: 0 }, ctx)).toThrow(/event counter/);
  });
});

describe('references', () => {
  const cond: Condition = {
    all: [
      leaf('record.stage', 'eq', 'x'),
      { not: { eventCount: { event: 'booking.completed', within: 'P60D' }, op: 'gt', value: 0 } },
      { any: [leaf('event.rating', 'gte', 4), leaf('record.stage', 'neq', 'y')] },
    ],
  };

  it('lists the leaves with their pointers', () => {
    expect(conditionLeaves(cond).map((l) => l.pointer)).toEqual(['/all/0', '/all/1/not', '/all/2/any/0', '/all/2/any/1']);
  });

  it('lists the fields and the event counts once', () => {
    expect(fieldsReferenced(cond)).toEqual(['record.stage', 'event.rating']);
    expect(eventCountsReferenced(cond)).toEqual([{ event: 'booking.completed', within: 'P60D' }]);
  });
});

describe('opFitsValue', () => {
  it.each([
    ['eq', 'x', true],
    ['eq', 3, true],
    ['eq', false, true],
    ['eq', ['x'], false],
    ['eq', undefined, false],
    ['eq', null, false],
    ['in', ['a', 1], true],
    ['in', [], false],
    ['in', 'a', false],
    ['nin', [{ a: 1 }], false],
    ['gt', 4, true],
    ['gte', '2024-05-01', true],
    ['lt', '2024-05-01T10:00:00Z', true],
    ['lte', '4', false],
    ['gt', 'soon', false],
    ['gt', Infinity, false],
    ['exists', undefined, true],
    ['exists', false, true],
    ['exists', 'yes', false],
    ['contains', 'x', true],
    ['contains', ['x'], false],
    ['starts_with', 'ab', true],
    ['starts_with', '', false],
    ['starts_with', 1, false],
  ] as Array<[ComparisonOp, unknown, boolean]>)('%s with %j: %s', (op, value, fits) => {
    expect(opFitsValue(op, value)).toBe(fits);
  });
});
