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
 *
 * Bounded work: evaluation runs inside API requests, the router and workflow tasks, so it must stay
 * well under ~50 ms whatever a definition and a record hold. Scalars are compared through their
 * canonical key (`scalarKey`: equal values, equal keys), so `in`/`nin`/`contains` over lists are
 * set look-ups instead of pairwise comparisons, and each distinct string is read as a number or an
 * instant once per evaluation. Lists are capped (`MAX_LIST_VALUES`), and so are the comparisons and
 * the listed values of one condition (`MAX_CONDITION_LEAVES`, `MAX_CONDITION_VALUES`); the validator
 * refuses larger ones. One evaluation then keys at most MAX_CONDITION_VALUES values plus the record's
 * own, and looks each up once: a few milliseconds (test/unit/bounded-work.property.test.ts).
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

/** At most this many values in an `in`/`nin` list. */
export const MAX_LIST_VALUES = 1000;
/** At most this many comparisons (leaves) in one condition. */
export const MAX_CONDITION_LEAVES = 200;
/** At most this many `in`/`nin` values in one condition, all lists together. */
export const MAX_CONDITION_VALUES = 5000;

export function evaluate(cond: Condition, ctx: ConditionContext, options: EvaluateOptions = {}): boolean {
  return evaluateIn(cond, ctx, options, new Memo());
}

function evaluateIn(cond: Condition, ctx: ConditionContext, options: EvaluateOptions, memo: Memo): boolean {
  if ('all' in cond) return cond.all.every((c) => evaluateIn(c, ctx, options, memo));
  if ('any' in cond) return cond.any.some((c) => evaluateIn(c, ctx, options, memo));
  if ('not' in cond) return !evaluateIn(cond.not, ctx, options, memo);
  if ('eventCount' in cond) return evaluateEventCount(cond, options, memo);
  return compareField(cond.op, resolveField(cond.field, ctx), cond.value, memo);
}

function evaluateEventCount(cond: EventCountCondition, options: EvaluateOptions, memo: Memo): boolean {
  if (!options.eventCount) throw new Error(`No event counter given for eventCount of "${cond.eventCount.event}"`);
  return compareField(cond.op, options.eventCount(cond.eventCount.event, cond.eventCount.within), cond.value, memo);
}

/** A list's scalars by canonical key, and its other items (objects, lists), compared one by one. */
interface KeyedList {
  keys: Set<string>;
  others: unknown[];
}

/**
 * What one evaluation has already worked out: the canonical key of each string and the keyed form
 * of each list it met. Lives for one `evaluate` call, during which nothing changes the values.
 */
class Memo {
  private readonly stringKeys = new Map<string, string>();
  private readonly lists = new Map<readonly unknown[], KeyedList>();

  key(v: unknown): string | undefined {
    if (typeof v !== 'string') return scalarKey(v);
    let k = this.stringKeys.get(v);
    if (k === undefined) {
      k = scalarKey(v)!;
      this.stringKeys.set(v, k);
    }
    return k;
  }

  keyed(list: readonly unknown[]): KeyedList {
    let keyed = this.lists.get(list);
    if (!keyed) {
      keyed = { keys: new Set(), others: [] };
      for (const item of list) {
        const k = this.key(item);
        if (k === undefined) keyed.others.push(item);
        else keyed.keys.add(k);
      }
      this.lists.set(list, keyed);
    }
    return keyed;
  }

  /** Whether `item` equals any member of the keyed list. */
  has(keyed: KeyedList, item: unknown): boolean {
    const k = this.key(item);
    return k !== undefined ? keyed.keys.has(k) : keyed.others.some((other) => equals(item, other));
  }
}

/**
 * The canonical key of a scalar under the comparison rules: two scalars are `equals` exactly when
 * their keys are equal. Undefined for what has no key (objects, lists, non-finite numbers).
 * A numeric string and an ISO date never overlap (a date has dashes after its year).
 */
function scalarKey(v: unknown): string | undefined {
  const n = asNumber(v);
  if (n !== undefined) return `n${n}`;
  const t = asInstant(v);
  if (t !== undefined) return `t${t}`;
  if (typeof v === 'string') return `s${v}`;
  if (typeof v === 'boolean') return `b${v}`;
  return undefined;
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

function compareField(op: ComparisonOp, actual: unknown, expected: unknown, memo: Memo): boolean {
  const missing = actual === undefined || actual === null;
  switch (op) {
    case 'exists':
      return expected === false ? missing : !missing;
    case 'neq':
      return missing || !equals(actual, expected);
    case 'nin':
      return missing || !isIn(actual, expected, memo);
  }
  if (missing) return false;
  switch (op) {
    case 'eq':
      return equals(actual, expected);
    case 'in':
      return isIn(actual, expected, memo);
    case 'contains':
      return Array.isArray(actual)
        ? memo.has(memo.keyed(actual), expected)
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
function isIn(actual: unknown, list: unknown, memo: Memo): boolean {
  if (!Array.isArray(list)) return false;
  const keyed = memo.keyed(list);
  if (!Array.isArray(actual)) return memo.has(keyed, actual);
  const items = memo.keyed(actual);
  const [small, large] = items.keys.size <= keyed.keys.size ? [items.keys, keyed.keys] : [keyed.keys, items.keys];
  for (const k of small) if (large.has(k)) return true;
  return items.others.some((item) => memo.has(keyed, item));
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
export function asInstant(v: unknown): number | undefined {
  if (typeof v !== 'string' || !ISO_DATE.test(v)) return undefined;
  const fast = commonInstant(v);
  if (fast !== null) return fast;
  const dt = DateTime.fromISO(v, { zone: 'utc', setZone: true });
  return dt.isValid ? dt.toMillis() : undefined;
}

const COMMON_ISO = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/**
 * The common ISO forms (`2024-05-01`, `2024-05-01T10:00[:00[.000]][Z|+02:00]`) read without luxon,
 * which costs ~30x more per string; the same result as luxon's (a property test holds them
 * together). Null for anything else, which luxon then reads; undefined for an impossible date.
 */
function commonInstant(v: string): number | undefined | null {
  const m = COMMON_ISO.exec(v);
  if (!m) return null;
  const [year, month, day, hour = 0, minute = 0, second = 0] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((x) =>
    x === undefined ? undefined : Number(x),
  ) as number[];
  // Years before 1000 and hour 24 are left to luxon: Date.UTC maps years below 100 to the 1900s.
  if (year! < 1000 || hour > 23) return null;
  if (month! < 1 || month! > 12 || day! < 1 || day! > new Date(Date.UTC(year!, month!, 0)).getUTCDate() || minute > 59 || second > 59) return undefined;
  // luxon's own reading of a fraction (floor of 0.fff * 1000), so both agree to the millisecond.
  const millis = m[7] === undefined ? 0 : Math.floor(parseFloat(`0.${m[7]}`) * 1000);
  const zone = m[8];
  let offset = 0;
  if (zone !== undefined && zone !== 'Z') {
    const [oh, om] = [Number(zone.slice(1, 3)), Number(zone.slice(4, 6))];
    if (oh > 23 || om > 59) return null;
    offset = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  return Date.UTC(year!, month! - 1, day!, hour, minute, second, millis) - offset * 60_000;
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
  in: `a non-empty list of at most ${MAX_LIST_VALUES} strings, numbers or booleans`,
  nin: `a non-empty list of at most ${MAX_LIST_VALUES} strings, numbers or booleans`,
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
      return Array.isArray(value) && value.length > 0 && value.length <= MAX_LIST_VALUES && value.every(isScalar);
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
