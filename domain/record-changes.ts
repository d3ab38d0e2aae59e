/**
 * What a record change means, in one place: the API's upsert, the update_record activity, the
 * router's trigger matching, the workflow and the preview all read changes through this module.
 *
 * - Keys: `stage`, `name`, `email`, `phone`, `timezone`, `ownerId` (`owner_id` is the same field),
 *   `attributes.<key>`; `{ attributes: { plan } }` is the same as `attributes.plan`. Other keys
 *   (`unsubscribed.sms`, ...) are carried along but change no snapshot field.
 * - Null: a scalar set to null is cleared (null); an attribute set to null is deleted.
 * - What counts as a change: a value that differs structurally from the current one (an absent
 *   attribute and null are the same).
 */
import type { RecordSnapshot } from './enrollment';

const SCALARS = ['email', 'phone', 'name', 'timezone', 'stage', 'ownerId'] as const;
type Scalar = (typeof SCALARS)[number];
const ATTR = 'attributes.';

/** `owner_id` -> `ownerId`; every other key unchanged. */
export function normalizeKey(key: string): string {
  return key === 'owner_id' ? 'ownerId' : key;
}

/** Normalized, flat keys: `owner_id` -> `ownerId`, `{ attributes: { plan } }` -> `attributes.plan`. */
export function flattenChanges(changes: Record<string, unknown> | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(changes ?? {})) {
    if (k === 'attributes' && v && typeof v === 'object' && !Array.isArray(v)) {
      for (const [ak, av] of Object.entries(v as Record<string, unknown>)) out[`${ATTR}${ak}`] = av;
    } else out[normalizeKey(k)] = v;
  }
  return out;
}

function isScalar(key: string): key is Scalar {
  return (SCALARS as readonly string[]).includes(key);
}

/** A scalar field's stored form: a string, or null. */
function scalarValue(value: unknown): string | null {
  return value === null || value === undefined ? null : typeof value === 'string' ? value : JSON.stringify(value);
}

/** The current value of a change key in a snapshot (undefined for keys the snapshot does not hold). */
export function readField(record: RecordSnapshot, key: string): unknown {
  const k = normalizeKey(key);
  if (k.startsWith(ATTR)) return record.attributes[k.slice(ATTR.length)];
  return isScalar(k) ? record[k] : undefined;
}

/** Structural equality, with absent and null the same. */
export function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/** The snapshot with the changes applied (attributes set to null are deleted). */
export function applyChanges(record: RecordSnapshot, changes: Record<string, unknown>): RecordSnapshot {
  let attributes = record.attributes;
  const next: RecordSnapshot = { ...record };
  for (const [k, v] of Object.entries(flattenChanges(changes))) {
    if (k.startsWith(ATTR)) {
      if (attributes === record.attributes) attributes = { ...attributes };
      const name = k.slice(ATTR.length);
      if (v === null || v === undefined) delete attributes[name];
      else attributes[name] = v;
    } else if (isScalar(k)) {
      next[k] = scalarValue(v);
    }
  }
  next.attributes = attributes;
  return next;
}

/**
 * The record as it was right after a change, from the record `now` and the record's later changes
 * (in the order they were made) with the values they replaced (`previous`): each is undone, latest
 * first, so a field a later change touched ends at the value before the earliest such change,
 * which is its value right after this change, and any other field keeps its value in `now`. So it
 * is exact for any `now` that reflects this change, whether or not it reflects the later ones yet.
 * Undefined when a later change cannot be undone (it carries no `previous`).
 */
export function recordAsOf(now: RecordSnapshot, later: ReadonlyArray<{ previous?: Record<string, unknown> }>): RecordSnapshot | undefined {
  let record = now;
  for (let i = later.length - 1; i >= 0; i--) {
    const previous = later[i]!.previous;
    if (!previous) return undefined;
    record = applyChanges(record, previous);
  }
  return record;
}

/** The part of `set` that actually changes `record`, keyed and valued as applyChanges takes it. */
export function diffChanges(record: RecordSnapshot, set: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(flattenChanges(set))) {
    if (k.startsWith(ATTR)) {
      if (!sameValue(readField(record, k), v)) out[k] = v ?? null;
    } else if (isScalar(k)) {
      const value = scalarValue(v);
      if (record[k] !== value) out[k] = value;
    }
  }
  return out;
}

/**
 * Whether a change of `changed` is a change of the field a rule names (`fieldChanged`,
 * `skipIfChanged`): the same field, or one inside it (`attributes` covers every attribute).
 */
export function fieldMatches(rule: string, changed: string): boolean {
  const r = normalizeKey(rule);
  const c = normalizeKey(changed);
  return r === c || c.startsWith(`${r}.`);
}
