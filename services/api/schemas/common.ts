/**
 * Schemas shared by every resource route: list query and envelope, ids, timestamps, problem
 * responses. One schema gives validation, the TypeScript type and the OpenAPI document.
 */
import { Type, type Static, type TSchema } from 'typebox';

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 200;

/** `?limit=&cursor=` on every list. `limit` defaults to DEFAULT_LIMIT (applied by `pageSize()`). */
export const ListQueryProperties = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIMIT, description: `Page size, 1 to ${MAX_LIMIT} (default ${DEFAULT_LIMIT})` })),
  cursor: Type.Optional(
    Type.String({ minLength: 1, maxLength: 512, description: "Opaque cursor from a previous page's nextCursor; any other value is refused with 400" }),
  ),
};
export const ListQuery = Type.Object(ListQueryProperties, { additionalProperties: false });
export type ListQuery = Static<typeof ListQuery>;

/** A list query with extra filters: `ListQueryWith({ stage: Type.Optional(Type.String()) })`. */
export function ListQueryWith<P extends Record<string, TSchema>>(filters: P) {
  return Type.Object({ ...filters, ...ListQueryProperties }, { additionalProperties: false });
}

/** The list envelope `{ items, nextCursor }`: nextCursor is null on the last page. */
export function ListOf<T extends TSchema>(item: T, options: { description?: string } = {}) {
  return Type.Object(
    {
      items: Type.Array(item),
      nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as ?cursor= for the next page; null on the last page' }),
    },
    { additionalProperties: false, ...options },
  );
}

/** ISO-8601 UTC timestamp in responses (`2026-11-23T10:00:00.000Z`). */
export const Timestamp = (options: { description?: string } = {}) => Type.String({ format: 'date-time', ...options });
export const NullableTimestamp = (options: { description?: string } = {}) => Type.Union([Type.String({ format: 'date-time' }), Type.Null()], options);
export const Nullable = <T extends TSchema>(schema: T, options: { description?: string } = {}) => Type.Union([schema, Type.Null()], options);

/**
 * A phone number as people write it (E.164 preferred). The pattern's group changes nothing for a
 * validator; it keeps OpenAPI fuzzers from merging minLength into the pattern and sending "+".
 */
export const PhoneInput = (options: { description?: string } = {}) => Type.String({ minLength: 3, maxLength: 32, pattern: '^(\\+?[0-9 ()./-]+)$', ...options });

/** A path id: non-empty, bounded, no slashes. */
export const IdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false });
export type IdParam = Static<typeof IdParam>;

/** `{ $ref: 'Problem' }` for response maps. */
export const ProblemRef = Type.Ref('Problem');

/**
 * Problem responses for a route: `response: { 200: X, ...problems(400, 404) }`. 401 and 429 are
 * added for every /v1 route by `v1Problems`.
 */
export function problems(...statuses: number[]): Record<number, ProblemResponse> {
  const out: Record<number, ProblemResponse> = {};
  for (const s of statuses) out[s] = { description: PROBLEM_DESCRIPTIONS[s] ?? 'Problem', content: { 'application/problem+json': { schema: ProblemRef } } };
  return out;
}

/** A response declared for the problem+json media type (the error handler's answers). */
export interface ProblemResponse {
  description: string;
  content: { 'application/problem+json': { schema: typeof ProblemRef } };
}

/** The problems every authenticated /v1 route can answer, plus the given ones. */
export function v1Problems(...statuses: number[]) {
  return problems(...new Set([...statuses, 401, 429]));
}

const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input (malformed JSON, wrong type, missing or unknown field); `field` names it',
  401: 'Missing, unknown or revoked key',
  404: 'No such resource in this workspace',
  409: 'Conflict with the current state',
  413: 'Body larger than the limit',
  415: 'Content-Type is not application/json',
  422: 'Well-formed but unacceptable input',
  429: 'Rate limit exceeded; see Retry-After',
};

/** Dates to ISO-8601 UTC strings (and null stays null). */
export function iso(d: Date): string;
export function iso(d: Date | null): string | null;
export function iso(d: Date | null): string | null {
  return d ? d.toISOString() : null;
}
