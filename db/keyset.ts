/**
 * Keyset pagination for the list endpoints: a page is the rows after a cursor (the (time, id) of
 * the previous page's last row) in (time, id) order, so a page never skips or repeats a row while
 * rows are being written, and a deep page costs what the first does.
 */
import { sql, type Expression, type SelectQueryBuilder } from 'kysely';

/** A list's cursor: the time as microsecond ISO text (or a Date for millisecond columns) and the id. */
export interface Cursor {
  at: string | Date;
  id: string;
}

/**
 * A list's keyset cursor time as text with microseconds (`2026-11-23T10:00:00.123456Z`): a JS Date
 * keeps only milliseconds, so rows created within one millisecond would be skipped or repeated.
 */
export function cursorAt(column: string) {
  return sql<string>`to_char(${sql.ref(column)} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

/**
 * `q` ordered by (`keys.at`, `keys.id`) in `keys.order`, after `cursor` in that order, at most `rows`
 * rows. `keys.id` is a column or an expression (a composite key).
 */
export function keysetPage<DB, TB extends keyof DB, O>(
  q: SelectQueryBuilder<DB, TB, O>,
  keys: { at: string; id: string | Expression<string>; order: 'asc' | 'desc' },
  cursor: Cursor | undefined,
  rows: number,
): SelectQueryBuilder<DB, TB, O> {
  const at = sql.ref(keys.at);
  const id = typeof keys.id === 'string' ? sql.ref(keys.id) : keys.id;
  const after = keys.order === 'desc' ? sql`<` : sql`>`;
  const page = cursor ? q.where(sql<boolean>`(${at}, ${id}) ${after} (${cursor.at}::timestamptz, ${cursor.id})`) : q;
  return page.orderBy(at, keys.order).orderBy(id, keys.order).limit(rows);
}
