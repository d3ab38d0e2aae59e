/** Cluster-wide mutual exclusion for periodic jobs that every worker process runs. */
import { sql } from 'kysely';
import type { Db } from './connection';

/**
 * Takes a transaction-scoped advisory lock named `name` if no other session holds it. Call inside
 * a transaction: the lock is released at its end. False: another process is doing the job now.
 */
export async function tryJobLock(trx: Db, name: string): Promise<boolean> {
  const { rows } = await sql<{ ok: boolean }>`select pg_try_advisory_xact_lock(hashtext(${name})) as ok`.execute(trx);
  return rows[0]?.ok === true;
}
