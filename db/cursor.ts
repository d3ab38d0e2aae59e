import { sql } from 'kysely';

/**
 * A list's keyset cursor time as text with microseconds (`2026-11-23T10:00:00.123456Z`): a JS Date
 * keeps only milliseconds, so rows created within one millisecond would be skipped or repeated.
 */
export function cursorAt(column: string) {
  return sql<string>`to_char(${sql.ref(column)} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}
