/**
 * Keyset pagination. A cursor is the sort key of the last item of a page, base64url(JSON), opaque
 * to clients. Lists order by (created_at, id) or another unique key, so a page never repeats or
 * skips a row when rows are inserted meanwhile.
 */
import { HttpProblem } from './errors';
import { DEFAULT_LIMIT } from './schemas/common';

export type CursorValue = string | number | null;

export function encodeCursor(values: CursorValue[]): string {
  return Buffer.from(JSON.stringify(values), 'utf8').toString('base64url');
}

const badCursor = () =>
  new HttpProblem(400, 'Bad Request', { detail: '/querystring/cursor: is not a cursor returned by this list', field: '/querystring/cursor' });

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
 * produced, because a JS Date would drop the microseconds and skip rows.
 */
export function decodeTimeCursor(cursor: string | undefined): { at: string; id: string } | undefined {
  const values = decodeCursor(cursor, 2);
  if (!values) return undefined;
  const [at, id] = values;
  if (typeof at !== 'string' || typeof id !== 'string' || !isCursorTime(at)) throw badCursor();
  return { at, id };
}

const CURSOR_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,6})?Z$/;

/**
 * Whether PostgreSQL reads `at` as the timestamptz this module wrote. Date.parse is not the test: it
 * takes "2024-02-30", year 0 and "1 2", which PostgreSQL refuses (a 500 before).
 */
function isCursorTime(at: string): boolean {
  const m = CURSOR_TIME.exec(at);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(2000, month, 0)).getUTCDate() - (month === 2 && !isLeap(year) ? 1 : 0);
  return year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && hour <= 23 && minute <= 59 && second <= 59;
}

const isLeap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

export function pageSize(limit: number | undefined): number {
  return limit ?? DEFAULT_LIMIT;
}

/**
 * Builds the `{ items, nextCursor }` envelope. Fetch `limit + 1` rows: when the extra one is there,
 * there is a next page and the cursor is the key of the last item shown.
 */
export function pageOf<Row, Item>(
  rows: Row[],
  limit: number,
  map: (row: Row) => Item,
  key: (row: Row) => CursorValue[],
): { items: Item[]; nextCursor: string | null } {
  const more = rows.length > limit;
  const shown = more ? rows.slice(0, limit) : rows;
  const last = shown[shown.length - 1];
  return { items: shown.map(map), nextCursor: more && last !== undefined ? encodeCursor(key(last)) : null };
}
