/**
 * recordAsOf: the record as it was right after a change, rebuilt from a later read of the record
 * and the changes made since (each with the values it replaced), as the router rebuilds it for a
 * change it reaches late. And segment entry judged on it: each change that made the record match
 * is an entry, and no other, whatever the read of the record the router happened to get.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { evaluate } from '#domain/conditions';
import type { AutomationDefinition, Condition } from '#domain/definition';
import type { RecordSnapshot } from '#domain/enrollment';
import { entries } from '#domain/entry';
import { applyChanges, diffChanges, readField, recordAsOf } from '#domain/record-changes';

const base: RecordSnapshot = {
  externalId: 'r1',
  email: null,
  phone: null,
  name: 'Ana',
  timezone: null,
  stage: 'lead',
  ownerId: null,
  attributes: {},
};

/** One change as the writers store it: the new values and the values they replaced. */
function change(before: RecordSnapshot, set: Record<string, unknown>) {
  const changes = diffChanges(before, set);
  const previous = Object.fromEntries(Object.keys(changes).map((k) => [k, readField(before, k) ?? null]));
  return { after: applyChanges(before, changes), changes, previous };
}

/** The states a sequence of sets goes through (state 0 is `from`) and its changes (change k made state k). */
function history(from: RecordSnapshot, sets: Array<Record<string, unknown>>) {
  const states = [from];
  const changes: Array<{ changes: Record<string, unknown>; previous: Record<string, unknown> }> = [];
  for (const set of sets) {
    const c = change(states[states.length - 1]!, set);
    if (Object.keys(c.changes).length === 0) continue;
    states.push(c.after);
    changes.push({ changes: c.changes, previous: c.previous });
  }
  return { states, changes };
}

describe('recordAsOf', () => {
  it('undoes a later change: hot false, then true, read after both: false at the first', () => {
    const { states, changes } = history(base, [{ 'attributes.hot': false }, { 'attributes.hot': true }]);
    expect(states[2]!.attributes).toEqual({ hot: true });
    expect(recordAsOf(states[2]!, changes.slice(1))).toEqual({ ...base, attributes: { hot: false } });
    expect(recordAsOf(states[2]!, changes.slice(0))).toEqual(base);
  });

  it('no later change: the record as read', () => {
    const now = { ...base, stage: 'won' };
    expect(recordAsOf(now, [])).toEqual(now);
  });

  it('latest first: a field changed twice since ends at its value before the earlier change', () => {
    const { states, changes } = history(base, [{ stage: 'open' }, { stage: 'won', 'attributes.plan': 'pro' }, { stage: 'lost' }]);
    expect(recordAsOf(states[3]!, changes.slice(1))).toEqual({ ...base, stage: 'open' });
  });

  it('a later change the read does not reflect yet changes nothing', () => {
    const { states, changes } = history(base, [{ 'attributes.a': 1 }, { 'attributes.b': 1 }, { 'attributes.a': 2, stage: 'won' }]);
    // Read after change 2, before change 3: changes 2 and 3 are both after change 1.
    expect(recordAsOf(states[2]!, changes.slice(1))).toEqual(states[1]);
  });

  it('a later change without the values it replaced: cannot be rebuilt', () => {
    const { states, changes } = history(base, [{ stage: 'open' }, { stage: 'won' }]);
    expect(recordAsOf(states[2]!, [{ previous: changes[1]!.previous }, {}])).toBeUndefined();
  });

  const FIELDS = ['stage', 'name', 'attributes.a', 'attributes.b', 'attributes.c'] as const;
  const set = fc.dictionary(fc.constantFrom(...FIELDS), fc.constantFrom<unknown>(null, 0, 1, 'x'), { maxKeys: 3 });

  it('property: rebuilt from any read at least as new as the change, it is the record right after it', () => {
    fc.assert(
      fc.property(fc.array(set, { maxLength: 8 }), fc.nat(), fc.nat(), (sets, k0, j0) => {
        const { states, changes } = history(base, sets);
        const k = k0 % states.length; // right after change k (0: before any)
        const j = k + (j0 % (states.length - k)); // read after change j >= k
        expect(recordAsOf(states[j]!, changes.slice(k))).toEqual(states[k]);
      }),
    );
  });

  const a1 = { field: 'record.attributes.a', op: 'eq', value: 1 } as Condition;
  const b1 = { field: 'record.attributes.b', op: 'eq', value: 1 } as Condition;
  const FILTERS: Condition[] = [a1, { all: [a1, b1] } as Condition, { any: [a1, b1] } as Condition, { not: b1 } as Condition];
  const none = () => 0;
  const counts = { now: none, withEvent: none, withoutEvent: none, beforeChange: none };
  const matches = (filter: Condition, record: RecordSnapshot) => evaluate(filter, { record, event: null, steps: {} }, { eventCount: none });

  it('property: routed late, exactly the changes that made the record match enter the segment', () => {
    fc.assert(
      fc.property(fc.constantFrom(...FILTERS), fc.array(set, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 8 }), (filter, sets, reads) => {
        const { states, changes } = history(base, sets);
        const automation = { definition: { trigger: { type: 'segment_entered', filter } } as AutomationDefinition };
        changes.forEach((c, i) => {
          const k = i + 1; // change k made state k
          const j = k + ((reads[i] ?? 0) % (states.length - k)); // the router read the record after change j >= k
          const asOf = recordAsOf(states[j]!, changes.slice(k))!;
          const entered = entries([automation], { kind: 'change', created: false, ...c }, { record: asOf, recordThen: asOf, counts }).length === 1;
          expect(entered, `change ${k} of ${JSON.stringify(sets)}, read after ${j}`).toBe(matches(filter, states[k]!) && !matches(filter, states[k - 1]!));
        });
      }),
    );
  });
});
