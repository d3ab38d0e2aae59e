/**
 * The router drains a bulk import while PostgreSQL's statistics still describe a near-empty outbox
 * (autovacuum has not analyzed it since the import): the statistics an outbox has between bursts,
 * and the ones a CI run met right after router-fairness queued its 50,000 rows. With them the
 * planner counts every scan as one row, and the claim query's head-of-key check (and heldBack's
 * lookup of a key's first row) ran as a scan of every id below the row, for each row: the first
 * batch had not been taken after 10 minutes. Counted in rows and batches, not in time: the test's
 * timeout is the failure mode.
 */
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Enroller } from '#engine/enroller';
import { OutboxRouter } from '#engine/router';
import { startEngineTest, type EngineTest } from './engine-support';

let e: EngineTest;
vi.setConfig({ testTimeout: 300_000 });

beforeAll(async () => {
  e = await startEngineTest({ worker: false });
});
afterAll(async () => {
  if (e) {
    await sql`alter table outbox reset (autovacuum_enabled)`.execute(e.t.db);
    await sql`delete from outbox where workspace_id = ${e.t.workspaceId}`.execute(e.t.db);
    await sql`analyze outbox`.execute(e.t.db);
  }
  await e?.close();
});

const BULK = 50_000;
const BATCH = 500;

const event = (id: string, recordId: string) =>
  JSON.stringify({ kind: 'event', event: { id, type: 'contact.imported', recordId, occurredAt: new Date().toISOString(), properties: {} } });

describe('bulk import with stale planner statistics', () => {
  it('the router drains 50,000 queued rows and still holds back a key whose first row waits', async () => {
    const ws = e.t.workspaceId;
    const db = e.t.db;
    // Autovacuum would analyze the outbox within a minute of the import and hide the hazard.
    await sql`alter table outbox set (autovacuum_enabled = off)`.execute(db);
    // The column statistics of a small outbox: 300 rows of 50 records, analyzed, then routed away.
    await sql`
      insert into outbox (workspace_id, kind, record_id, payload)
      select ${ws}, 'event', 'small-' || (g % 50), jsonb_build_object('kind', 'event')
      from generate_series(1, 300) g`.execute(db);
    await sql`analyze outbox`.execute(db);
    await sql`delete from outbox where workspace_id = ${ws}`.execute(db);

    // The import: 50,000 events of 50,000 records, and three rows of one record whose first row
    // failed once and waits for its retry (the router's rescheduleRow).
    await sql`
      insert into outbox (workspace_id, kind, record_id, payload)
      select ${ws}, 'event', 'bulk-' || g, jsonb_build_object('kind', 'event', 'event', jsonb_build_object(
        'id', 'bulk-' || g, 'type', 'contact.imported', 'recordId', 'bulk-' || g, 'occurredAt', now()::text, 'properties', '{}'::jsonb))
      from generate_series(1, ${BULK}) g`.execute(db);
    await sql`
      insert into outbox (workspace_id, kind, record_id, payload, attempts, available_at)
      values (${ws}, 'event', 'held', ${event('held-1', 'held')}::jsonb, 1, now() + interval '1 hour'),
             (${ws}, 'event', 'held', ${event('held-2', 'held')}::jsonb, 0, now()),
             (${ws}, 'event', 'held', ${event('held-3', 'held')}::jsonb, 0, now())`.execute(db);

    // The statistics autovacuum leaves after the outbox drained between bursts: no live rows on
    // the table's pages. ANALYZE inside a transaction that deleted every row counts none; it
    // writes the table's row and page counts in place, so they outlive the rollback (which keeps
    // every row, other files' leftovers included).
    await db.connection().execute(async (c) => {
      await sql`begin`.execute(c);
      await sql`delete from outbox`.execute(c);
      await sql`analyze outbox`.execute(c);
      await sql`rollback`.execute(c);
    });
    const stats = (await sql<{ reltuples: number; relpages: number }>`select reltuples, relpages from pg_class where oid = 'outbox'::regclass`.execute(db))
      .rows[0]!;
    expect(stats.reltuples).toBe(0);
    expect(stats.relpages).toBeGreaterThan(0);

    const router = new OutboxRouter({
      db,
      temporal: e.temporal,
      enroller: new Enroller({ db, temporal: e.temporal, taskQueue: e.config.TEMPORAL_TASK_QUEUE }),
      databaseUrl: e.config.DATABASE_URL,
      batchSize: BATCH,
      pollMs: 1_000,
      maxAttempts: 10,
      logger: pino({ level: 'silent' }),
    });
    const queued = async (pattern: string) =>
      Number((await sql<{ n: number }>`select count(*)::int as n from outbox where workspace_id = ${ws} and record_id like ${pattern}`.execute(db)).rows[0]!.n);
    let batches = 0;
    while ((await queued('bulk-%')) > 0 && batches <= 2 * (BULK / BATCH)) {
      const { handled } = await router.drainOnce();
      expect(handled).toBeGreaterThan(0);
      batches++;
    }
    // All routed: 100 batches when this workspace is the only one with due rows.
    expect(await queued('bulk-%')).toBe(0);
    // The waiting row's later rows were never routed ahead of it.
    expect(
      (await sql<{ payload: { event: { id: string } } }>`select payload from outbox where workspace_id = ${ws} order by id`.execute(db)).rows.map(
        (r) => r.payload.event.id,
      ),
    ).toEqual(['held-1', 'held-2', 'held-3']);
    // The statistics were still stale at the end.
    expect((await sql<{ reltuples: number }>`select reltuples from pg_class where oid = 'outbox'::regclass`.execute(db)).rows[0]!.reltuples).toBe(0);
  });
});
