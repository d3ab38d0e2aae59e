/**
 * Keyset pagination. A cursor is the sort key of the last item of a page, base64url(JSON), opaque
 * to clients. Lists order by (created_at, id) or another unique key, so a page never repeats or
 * skips a row when rows are inserted meanwhile.
 */
import { sql, type RawBuilder } from 'kysely';
import { HttpProblem } from './errors';
import { DEFAULT_LIMIT } from './schemas/common';

export type CursorValue = string | number | null;

export function encodeCursor(values: CursorValue[]): string {
  return Buffer.from(JSON.stringify(values), 'utf8').toString('base64url');
}

const badCursor = () => new HttpProblem(400, 'Bad Request', { detail: '/querystring/cursor: is not a cursor returned by this list', field: '/querystring/cursor' });

/** Decodes a cursor of `arity` values; a malformed cursor is a 400 naming /querystring/cursor. */
export function decodeCursor(cursor: string | undefined, arity: number): CursorValue[] | undefined {
  if (cursor === undefined) return undefined;
  let values: unknown;
  try {
    values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badCursor();
  }
  if (!Array.isArray(values) || values.length !== arity || !values.every((v) => v === null || typeof v === 'string' || typeof v === 'number')) {
    throw badCursor();
  }
  return values as CursorValue[];
}

/**
 * Decodes a (timestamp, id) cursor. The timestamp is kept as the microsecond ISO text PostgreSQL
 * produced (see `cursorTime`), because a JS Date would drop the microseconds and skip rows.
 */
export function decodeTimeCursor(cursor: string | undefined): { at: string; id: string } | undefined {
  const values = decodeCursor(cursor, 2);
  if (!values) return undefined;
  const [at, id] = values;
  if (typeof at !== 'string' || typeof id !== 'string' || Number.isNaN(Date.parse(at))) throw badCursor();
  return { at, id };
}

/** Select `cursorTime('created_at').as('cursor_at')` to page by (created_at, id) without losing microseconds. */
export function cursorTime(column: string): RawBuilder<string> {
  return sql<string>`to_char(${sql.ref(column)} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

export function pageSize(limit: number | undefined): number {
  return limit ?? DEFAULT_LIMIT;
}

/**
 * Builds the `{ items, nextCursor }` envelope. Fetch `limit + 1` rows: when the extra one is there,
 * there is a next page and the cursor is the key of the last item shown.
 */
export function pageOf<Row, Item>(rows: Row[], limit: number, map: (row: Row) => Item, key: (row: Row) => CursorValue[]): { items: Item[]; nextCursor: string | null } {
  const more = rows.length > limit;
  const shown = more ? rows.slice(0, limit) : rows;
  const last = shown[shown.length - 1];
  return { items: shown.map(map), nextCursor: more && last !== undefined ? encodeCursor(key(last)) : null };
}

/**
 * `(col1, col2) > (v1, v2)` for a kysely `.where(...)`: rows after the cursor in ascending order of
 * the columns (use '<' with descending order). Column names may be qualified (`m.created_at`);
 * pass a time cursor through `timeParam`.
 */
export function keysetAfter(columns: string[], values: unknown[], op: '>' | '<' = '>'): RawBuilder<boolean> {
  const cols = sql.join(columns.map((c) => sql.ref(c)));
  const vals = sql.join(values.map((v) => sql`${v}`));
  return sql<boolean>`(${cols}) ${sql.raw(op)} (${vals})`;
}

/** A cursor's microsecond time text as a timestamptz parameter. */
export function timeParam(text: string): RawBuilder<Date> {
  return sql<Date>`${text}::timestamptz`;
}
