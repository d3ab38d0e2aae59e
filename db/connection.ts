import { Kysely, PostgresDialect, sql, type Transaction } from 'kysely';
import pg from 'pg';
import type { Database } from './schema';

// bigserial ids and count(*) come back as strings by default; ours stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, Number);

export type Db = Kysely<Database>;

/** Runs `fn` in the caller's transaction when `db` is one (so a write can join a larger unit), else in a new one. */
export function inTransaction<T>(db: Db, fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db as Transaction<Database>) : db.transaction().execute(fn);
}

export function createDb(connectionString: string, opts: { max?: number } = {}): Db {
  // A request waits at most 5 s for a connection (PostgreSQL down or the pool exhausted) and then
  // fails, so the API answers 503 instead of hanging.
  const pool = new pg.Pool({ connectionString, max: opts.max ?? 10, connectionTimeoutMillis: 5_000 });
  // A connection that PostgreSQL closes (a restart) emits 'error', which crashes the process when
  // nobody listens: while idle in the pool (the pool drops it), and while checked out between two
  // queries (a transaction waiting on Temporal; its next query then fails and the work is retried).
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/** Throws when PostgreSQL cannot answer (start-up checks). */
export async function ping(db: Db): Promise<void> {
  await sql`select 1`.execute(db);
}
