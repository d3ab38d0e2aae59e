/**
 * Evaluates conditions (entry filters, branch cases, `wait_for`/exit `where`, segments) against a
 * record, an event and step outcomes. Pure and synchronous: `eventCount` leaves are answered by a
 * caller-supplied counter, so the API fetches counts first (see `eventCountsReferenced`) and a
 * workflow passes the counts it knows.
 *
 * Comparison rules, the same for every operator:
 * - a number and a numeric string compare as numbers ("4" eq 4);
 * - two ISO-8601 date strings compare as instants ("2024-05-01T10:00:00+02:00" eq "2024-05-01T08:00:00Z");
 * - anything else is equal only when structurally equal, and has no order;
 * - a missing field (absent or null) satisfies only `exists: false`, `neq` and `nin`.
 */
import { DateTime } from 'luxon';
import type { ComparisonOp, Condition, EventCountCondition, FieldCondition } from './definition';

export interface ConditionContext {
  record: object;
  /** The trigger event, or the event that ended a `wait_for`. */
  event?: object | null;
  /** Outcomes of steps already run, by step id (e.g. a webhook's `status`). */
  steps?: object;
}

/** How many `event`s the record has had (within the last `within`, an ISO duration, if given). */
export type EventCounter = (event: string, within?: string) => number;

export interface EvaluateOptions {
  eventCount?: EventCounter;
}

export function evaluate(cond: Condition, ctx: ConditionContext, options: EvaluateOptions = {}): boolean {
  if ('all' in cond) return cond.all.every((c) => evaluate(c, ctx, options));
  if ('any' in cond) return cond.any.some((c) => evaluate(c, ctx, options));
  if ('not' in cond) return !evaluate(cond.not, ctx, options);
  if ('eventCount' in cond) return evaluateEventCount(cond, options);
  return compareField(cond.op, resolveField(cond.field, ctx), cond.value);
}

function evaluateEventCount(cond: EventCountCondition, options: EvaluateOptions): boolean {
  if (!options.eventCount) throw new Error(`No event counter given for eventCount of "${cond.eventCount.event}"`);
  return compareField(cond.op, options.eventCount(cond.eventCount.event, cond.eventCount.within), cond.value);
}

/**
 * The value at a field path. `event.*` reads the event's properties (`event.rating`), except for
 * the envelope's own keys (`event.type`, `event.occurredAt`, `event.properties.*`).
 */
function resolveField(field: string, ctx: ConditionContext): unknown {
  const [root, ...path] = field.split('.');
  let value: unknown = root === 'record' ? ctx.record : root === 'event' ? ctx.event : ctx.steps;
  if (root === 'event' && isObject(value) && isObject(value.properties) && !Object.hasOwn(value, path[0]!)) value = value.properties;
  for (const key of path) {
    if (!isObject(value) || !Object.hasOwn(value, key)) return undefined;
    value = value[key];
  }
  return value;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function compareField(op: ComparisonOp, actual: unknown, expected: unknown): boolean {
  const missing = actual === undefined || actual === null;
  switch (op) {
    case 'exists':
      return expected === false ? missing : !missing;
    case 'neq':
      return missing || !equals(actual, expected);
    case 'nin':
      return missing || !isIn(actual, expected);
  }
  if (missing) return false;
  switch (op) {
    case 'eq':
      return equals(actual, expected);
    case 'in':
      return isIn(actual, expected);
    case 'contains':
      return Array.isArray(actual)
        ? actual.some((item) => equals(item, expected))
        : typeof actual === 'string' && typeof expected === 'string' && actual.includes(expected);
    case 'starts_with':
      return typeof actual === 'string' && typeof expected === 'string' && actual.startsWith(expected);
    case 'gt':
      return (order(actual, expected) ?? NaN) > 0;
    case 'gte':
      return (order(actual, expected) ?? NaN) >= 0;
    case 'lt':
      return (order(actual, expected) ?? NaN) < 0;
    case 'lte':
      return (order(actual, expected) ?? NaN) <= 0;
  }
}

/** A field holding a list is `in` when any of its items is. */
function isIn(actual: unknown, list: unknown): boolean {
  if (!Array.isArray(list)) return false;
  const items = Array.isArray(actual) ? actual : [actual];
  return items.some((item) => list.some((candidate) => equals(item, candidate)));
}

function equals(a: unknown, b: unknown): boolean {
  const ordered = order(a, b);
  if (ordered !== undefined) return ordered === 0;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equals(x, b[i]));
  if (isObject(a) && isObject(b) && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && equals(a[k], b[k]));
  }
  return a === b;
}

/** Sign of a - b when both are numbers or both are instants; undefined when they have no order. */
function order(a: unknown, b: unknown): number | undefined {
  const [x, y] = [asNumber(a), asNumber(b)];
  if (x !== undefined && y !== undefined) return Math.sign(x - y);
  const [s, t] = [asInstant(a), asInstant(b)];
  if (s !== undefined && t !== undefined) return Math.sign(s - t);
  return undefined;
}

const NUMERIC = /^-?\d+(\.\d+)?$/;

function asNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  return typeof v === 'string' && NUMERIC.test(v) ? Number(v) : undefined;
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T|$)/;

/** Milliseconds of an ISO-8601 date or date-time; a date or a time without offset is read as UTC. */
function asInstant(v: unknown): number | undefined {
  if (typeof v !== 'string' || !ISO_DATE.test(v)) return undefined;
  const dt = DateTime.fromISO(v, { zone: 'utc', setZone: true });
  return dt.isValid ? dt.toMillis() : undefined;
}

type Leaf = FieldCondition | EventCountCondition;

/** Every leaf of a condition with its JSON-pointer suffix (`/all/0/not`), in document order. */
export function conditionLeaves(cond: Condition, pointer = ''): Array<{ leaf: Leaf; pointer: string }> {
  if ('all' in cond) return cond.all.flatMap((c, i) => conditionLeaves(c, `${pointer}/all/${i}`));
  if ('any' in cond) return cond.any.flatMap((c, i) => conditionLeaves(c, `${pointer}/any/${i}`));
  if ('not' in cond) return conditionLeaves(cond.not, `${pointer}/not`);
  return [{ leaf: cond, pointer }];
}

/** The field paths a condition reads (`record.stage`, `event.rating`), without repeats. */
export function fieldsReferenced(cond: Condition): string[] {
  return [...new Set(conditionLeaves(cond).flatMap(({ leaf }) => ('field' in leaf ? [leaf.field] : [])))];
}

/** The event counts a condition needs, so they can be fetched before evaluating it. */
export function eventCountsReferenced(cond: Condition): Array<{ event: string; within?: string }> {
  return conditionLeaves(cond).flatMap(({ leaf }) => ('eventCount' in leaf ? [leaf.eventCount] : []));
}

/** What each operator compares against, in words, for validation messages. */
export const OP_VALUE_EXPECTATION: Record<ComparisonOp, string> = {
  eq: 'a string, number or boolean',
  neq: 'a string, number or boolean',
  in: 'a non-empty list of strings, numbers or booleans',
  nin: 'a non-empty list of strings, numbers or booleans',
  gt: 'a number or an ISO-8601 date',
  gte: 'a number or an ISO-8601 date',
  lt: 'a number or an ISO-8601 date',
  lte: 'a number or an ISO-8601 date',
  exists: 'true, false or nothing',
  contains: 'a string, number or boolean',
  starts_with: 'a non-empty string',
};

function isScalar(v: unknown): boolean {
  return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

/** Whether an operator can be used with this value (see `OP_VALUE_EXPECTATION`). */
export function opFitsValue(op: ComparisonOp, value: unknown): boolean {
  switch (op) {
    case 'eq':
    case 'neq':
    case 'contains':
      return isScalar(value);
    case 'in':
    case 'nin':
      return Array.isArray(value) && value.length > 0 && value.every(isScalar);
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      return (typeof value === 'number' && Number.isFinite(value)) || asInstant(value) !== undefined;
    case 'exists':
      return value === undefined || typeof value === 'boolean';
    case 'starts_with':
      return typeof value === 'string' && value.length > 0;
  }
}
