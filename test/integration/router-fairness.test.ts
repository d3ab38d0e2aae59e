/**
 * Fair sharing between workspaces in the router: 50,000 queued rows of one workspace (a bulk
 * import) do not stand in front of another workspace's reply. The bound: every workspace with due
 * rows gets an equal share of each batch (ROUTER_BATCH_SIZE / workspaces), so a row is routed by
 * the first batch that starts after it is queued. Counted in batches, not in time: the test drives
 * the router's batches itself (drainOnce) on the real PostgreSQL.
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
  await e?.close();
});

const BULK = 50_000;
const BATCH = 500;

describe('fair sharing between workspaces', () => {
  it("one workspace's 50,000 queued rows delay another's reply by at most one batch", async () => {
    const bulk = e.t.workspaceId;
    const other = await e.t.otherWorkspace();
    // The import: 50,000 events of workspace A, queued first.
    await sql`
      insert into outbox (workspace_id, kind, record_id, payload)
      select ${bulk}, 'event', 'bulk-' || g, jsonb_build_object('kind', 'event', 'event', jsonb_build_object(
        'id', 'bulk-' || g, 'type', 'contact.imported', 'recordId', 'bulk-' || g, 'occurredAt', now()::text, 'properties', '{}'::jsonb))
      from generate_series(1, ${BULK}) g`.execute(e.t.db);
    // Fresh statistics for the 50,000 new rows, as autovacuum gives them within a minute. In a CI-like
    // run the claim query took minutes per batch right after this insert, while the outbox's
    // statistics still described it nearly empty; after autovacuum analyzed it, the same query took
    // 0.4 s. This file counts batches, not plans: that planner hazard belongs to the claim query.
    await sql`analyze outbox`.execute(e.t.db);
    // Then one reply of workspace B.
    await sql`
      insert into outbox (workspace_id, kind, record_id, payload)
      values (${other.workspaceId}, 'event', 'lead-b', ${JSON.stringify({ kind: 'event', event: { id: 'evt-fair-reply', type: 'message.replied', recordId: 'lead-b', occurredAt: new Date().toISOString(), properties: {} } })}::jsonb)`.execute(
      e.t.db,
    );

    const router = new OutboxRouter({
      db: e.t.db,
      temporal: e.temporal,
      enroller: new Enroller({ db: e.t.db, temporal: e.temporal, taskQueue: e.config.TEMPORAL_TASK_QUEUE }),
      databaseUrl: e.config.DATABASE_URL,
      batchSize: BATCH,
      pollMs: 1_000,
      maxAttempts: 10,
      logger: pino({ level: 'silent' }),
    });
    const queued = async (ws: string) =>
      Number((await sql<{ n: number }>`select count(*)::int as n from outbox where workspace_id = ${ws}`.execute(e.t.db)).rows[0]!.n);

    // Rows other test files left due in this shared database make more workspaces share the batch.
    const dueWorkspaces = Number(
      (await sql<{ n: number }>`select count(distinct workspace_id)::int as n from outbox where available_at <= now()`.execute(e.t.db)).rows[0]!.n,
    );
    let batches = 0;
    while ((await queued(other.workspaceId)) > 0) {
      const { handled } = await router.drainOnce();
      expect(handled).toBeGreaterThan(0);
      batches++;
      if (batches > BULK / BATCH + 1) break;
    }
    // Without fair sharing the reply sat at position 50,001: batch 101.
    expect(batches).toBe(1);
    // The batch that took it shared itself between the workspaces with due rows (two, when this file
    // runs alone): A lost its equal share of a batch, not more.
    expect(dueWorkspaces).toBeGreaterThanOrEqual(2);
    expect(await queued(bulk)).toBe(BULK - Math.floor(BATCH / dueWorkspaces));

    // And the import itself still drains, its whole share of each batch (a full batch when it is alone).
    const before = await queued(bulk);
    const dueNow = Number(
      (await sql<{ n: number }>`select count(distinct workspace_id)::int as n from outbox where available_at <= now()`.execute(e.t.db)).rows[0]!.n,
    );
    await router.drainOnce();
    expect(before - (await queued(bulk))).toBe(Math.floor(BATCH / dueNow));
    await sql`delete from outbox where workspace_id = ${bulk}`.execute(e.t.db);
  });
});
