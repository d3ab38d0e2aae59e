/**
 * Limits of the free-form JSON a client chooses the keys of: record attributes, event properties.
 * Everything accepted here travels on: into a workflow's input and signals (Temporal refuses a
 * payload over 2 MB and a history over 50 MB), into conditions and templates. The figures keep
 * the largest record well under 2 MB and a workflow's history of events well under its limit.
 *
 * Keys `__proto__`, `constructor` and `prototype` are refused at every level: they reach plain
 * objects (`{ ...attributes }`, Liquid scopes, `Object.assign`) where they could change prototypes.
 * The same holds for the keys an automation definition chooses (update_record's `set`, a webhook
 * step's payload, condition paths): domain/validate-definition.ts refuses them with reservedKeyProblem.
 */

import type { AutomationDefinition } from './definition';
import { templateUses } from './templates';

export interface BagLimits {
  /** Keys at the top level. */
  keys: number;
  /** Objects and lists nested inside one value (`{ a: { b: [1] } }` is 2 deep). */
  depth: number;
  /** The whole bag as JSON, in UTF-8 bytes. */
  bytes: number;
}

export const RECORD_ATTRIBUTE_LIMITS: BagLimits = { keys: 200, depth: 5, bytes: 64 * 1024 };
export const EVENT_PROPERTY_LIMITS: BagLimits = { keys: 100, depth: 5, bytes: 32 * 1024 };
/**
 * A webhook step's payload, chosen at save: it is part of every enrollment's workflow input and
 * is posted once per record reaching the step, so it is held to the size of the event properties
 * the same endpoint might otherwise be sent.
 */
export const WEBHOOK_PAYLOAD_LIMITS: BagLimits = { ...EVENT_PROPERTY_LIMITS };

export const RESERVED_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export interface BagProblem {
  pointer: string;
  message: string;
  /** 413 for a bag too large in bytes, 400 for anything else. */
  status: 400 | 413;
}

const escapePointer = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/** The first reserved key anywhere in `value` (at any depth), with its pointer; `pointer` is where `value` sits. */
export function reservedKeyProblem(value: unknown, pointer: string): BagProblem | undefined {
  return reservedOrDeep(value, pointer, 0, Infinity);
}

/** The first problem of a bag under `limits`, or undefined; `pointer` is where the bag sits. */
export function bagProblem(bag: Record<string, unknown>, pointer: string, limits: BagLimits): BagProblem | undefined {
  const keys = Object.keys(bag);
  if (keys.length > limits.keys) return { pointer, message: `may hold at most ${limits.keys} keys (has ${keys.length})`, status: 400 };
  const deep = reservedOrDeep(bag, pointer, 0, limits.depth);
  if (deep) return deep;
  const bytes = new TextEncoder().encode(JSON.stringify(bag)).length;
  if (bytes > limits.bytes) return { pointer, message: `may take at most ${limits.bytes} bytes as JSON (takes ${bytes})`, status: 413 };
  return undefined;
}

function reservedOrDeep(value: unknown, pointer: string, depth: number, maxDepth: number): BagProblem | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (depth > maxDepth) return { pointer, message: `nests deeper than ${maxDepth} levels`, status: 400 };
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
  for (const [key, inner] of entries) {
    const at = `${pointer}/${escapePointer(key)}`;
    if (!Array.isArray(value) && RESERVED_KEYS.has(key)) return { pointer: at, message: `"${key}" is a reserved key`, status: 400 };
    const problem = reservedOrDeep(inner, at, depth + 1, maxDepth);
    if (problem) return problem;
  }
  return undefined;
}

/** Temporal's default payload limit (`limit.blobSize.error`, 2 MiB): a workflow input past it cannot start. */
const TEMPORAL_PAYLOAD_LIMIT_BYTES = 2 * 1024 * 1024;
/**
 * What an automation version's part of its enrollments' workflow input may take: the definition
 * and the template versions it pins (each template field may hold 500,000 characters, so a few
 * templates can pass Temporal's limit alone). The other 512 KiB of the 2 MiB are for what is known
 * only when a record enters, each bounded above: the record (attributes at most 64 KiB), the
 * trigger event (properties at most 32 KiB) and, when a run continues as new, the state it carries
 * (the record and the event again, the events received meanwhile). Temporal logs a warning past
 * 512 KiB (`limit.blobSize.warn`); such an input still starts.
 */
export const PINNED_INPUT_LIMIT_BYTES = TEMPORAL_PAYLOAD_LIMIT_BYTES - 512 * 1024;

const jsonBytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)).length;

/**
 * Whether a definition with the template versions it pins fits PINNED_INPUT_LIMIT_BYTES (their
 * JSON, as the input carries them); if not, the pointer (into the definition) of the template that
 * takes the sum past the limit, or '' when the definition alone does. `templates` maps template ids
 * to what the input carries of each.
 */
export function pinnedInputProblem(
  definition: Pick<AutomationDefinition, 'steps'>,
  templates: Record<string, unknown>,
): { pointer: string; message: string } | undefined {
  let total = jsonBytes(definition);
  let pointer = total > PINNED_INPUT_LIMIT_BYTES ? '' : undefined;
  const counted = new Set<string>();
  for (const use of templateUses(definition)) {
    if (counted.has(use.id) || templates[use.id] === undefined) continue;
    counted.add(use.id);
    total += jsonBytes(templates[use.id]);
    if (pointer === undefined && total > PINNED_INPUT_LIMIT_BYTES) pointer = use.pointer;
  }
  if (pointer === undefined) return undefined;
  const message = `the definition with the templates it uses takes ${total} bytes of each enrollment's workflow input; at most ${PINNED_INPUT_LIMIT_BYTES} (Temporal refuses a payload over ${TEMPORAL_PAYLOAD_LIMIT_BYTES}): use fewer or smaller templates`;
  return { pointer, message };
}
