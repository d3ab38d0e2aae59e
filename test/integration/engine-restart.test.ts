/**
 * Crash safety on the real dev server: a worker stopped while sequences wait, and a worker process
 * killed (SIGKILL) in the middle of a router batch. After a new worker starts: nothing sent twice,
 * nothing skipped, nothing enrolled twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import pg from 'pg';
import { createAutomation, putRecord, startEngineTest, waitFor, type EngineTest } from './engine-support';

let e: EngineTest;

beforeAll(async () => {
  e = await startEngineTest({ worker: false });
});
afterAll(async () => {
  await e?.close();
});

async function messageCounts(automationId: string): Promise<Map<string, number>> {
  const rows = await e.t.db
    .selectFrom('messages')
    .select(['record_id', 'step_id', sql<number>`count(*)::int`.as('n')])
    .where('workspace_id', '=', e.t.workspaceId)
    .where('automation_id', '=', automationId)
    .groupBy(['record_id', 'step_id'])
    .execute();
  return new Map(rows.map((r) => [`${r.record_id}/${r.step_id}`, r.n]));
}

/** Long enough for all 20 first emails to go out on a loaded machine before any second one is due. */
const PAUSE_S = 20;

describe('worker restarts', () => {
  it('a worker stopped while sequences wait: the next worker sends each remaining step once', async () => {
    await e.startWorker();
    const a = await createAutomation(
      e,
      {
        name: 'Two touches',
        trigger: { type: 'event', event: 'signup' },
        steps: [
          { id: 's1', type: 'email', to: 'record', template: 'tpl_restart_1' },
          { id: 'pause', type: 'wait', duration: `PT${PAUSE_S}S` },
          { id: 's2', type: 'email', to: 'record', template: 'tpl_restart_2' },
        ],
      },
      { templates: [{ id: 'tpl_restart_1' }, { id: 'tpl_restart_2' }] },
    );
    const N = 20;
    const records = Array.from({ length: N }, (_, i) => `restart-wait-${i}`);
    for (const r of records) await putRecord(e, r);
    const batch = await e.api('POST', '/v1/events/batch', { events: records.map((r) => ({ id: `evt-${r}`, type: 'signup', recordId: r })) });
    expect(batch.status, JSON.stringify(batch.body)).toBe(202);

    await waitFor('every first email', async () => {
      const counts = await messageCounts(a.id);
      return records.every((r) => counts.get(`${r}/s1`) === 1);
    });
    await e.stopWorker();
    // Let every second step fall due while no worker runs: the pause after the last first email.
    const last = await e.t.db
      .selectFrom('messages')
      .select((b) => b.fn.max('created_at').as('at'))
      .where('automation_id', '=', a.id)
      .where('step_id', '=', 's1')
      .executeTakeFirstOrThrow();
    await new Promise((r) => setTimeout(r, new Date(last.at).getTime() + PAUSE_S * 1000 + 1000 - Date.now()));
    expect([...(await messageCounts(a.id)).keys()].filter((k) => k.endsWith('/s2'))).toEqual([]);

    await e.startWorker();
    await waitFor(
      'every second email',
      async () => {
        const counts = await messageCounts(a.id);
        return records.every((r) => counts.get(`${r}/s2`) === 1);
      },
      60_000,
    );
    const counts = await messageCounts(a.id);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(counts.size).toBe(2 * N);
    await waitFor(
      'every enrollment completed',
      async () =>
        (await e.t.db.selectFrom('enrollments').select('id').where('automation_id', '=', a.id).where('status', '=', 'completed').execute()).length === N,
    );
    await e.stopWorker();
  }, 120_000);

  it('a worker process killed mid-batch: the rows are redelivered, every record enrolled and mailed exactly once', async () => {
    const a = await createAutomation(
      e,
      {
        name: 'Crash',
        trigger: { type: 'event', event: 'crash.signup' },
        steps: [{ id: 'hello', type: 'email', to: 'record', template: 'tpl_crash' }],
      },
      { templates: [{ id: 'tpl_crash' }] },
    );
    const N = 300;
    const records = Array.from({ length: N }, (_, i) => `crash-${String(i).padStart(3, '0')}`);
    // Records are created by the events themselves (bare records); one batch of 300 outbox rows.
    const batch = await e.api('POST', '/v1/events/batch', { events: records.map((r) => ({ id: `evt-${r}`, type: 'crash.signup', recordId: r })) });
    expect(batch.status).toBe(202);

    // Hold the batch open: the router can lock and process its rows (starting every workflow), but its
    // DELETE at commit waits for this SHARE lock; the worker is killed right there, mid-batch.
    const blocker = new pg.Client({ connectionString: e.config.DATABASE_URL });
    await blocker.connect();
    await blocker.query('begin');
    await blocker.query('lock table outbox in share mode');
    const child = await e.spawnWorker({ ROUTER_BATCH_SIZE: '1000' });
    await waitFor(
      'every enrollment of the batch started',
      async () => {
        const [row] = await e.t.db
          .selectFrom('enrollments')
          .select(sql<number>`count(*)::int`.as('n'))
          .where('automation_id', '=', a.id)
          .execute();
        return row!.n === N;
      },
      240_000,
      100,
    );
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    await blocker.query('rollback');
    await blocker.end();
    const [pending] = await e.t.db
      .selectFrom('outbox')
      .select(sql<number>`count(*)::int`.as('n'))
      .where('workspace_id', '=', e.t.workspaceId)
      .execute();
    // The batch never committed: its rows are all still there, to be redelivered.
    expect(pending!.n).toBe(N);

    await e.startWorker();
    await waitFor(
      'every message',
      async () => {
        const counts = await messageCounts(a.id);
        return counts.size === N;
      },
      240_000,
    );
    await waitFor(
      'the outbox to drain',
      async () => (await e.t.db.selectFrom('outbox').select('id').where('workspace_id', '=', e.t.workspaceId).execute()).length === 0,
    );
    const counts = await messageCounts(a.id);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    const enrollments = await e.t.db.selectFrom('enrollments').select(['record_id', 'seq']).where('automation_id', '=', a.id).execute();
    expect(enrollments).toHaveLength(N);
    expect(new Set(enrollments.map((x) => x.record_id)).size).toBe(N);
    expect(enrollments.every((x) => x.seq === 1)).toBe(true);
  }, 400_000);
});
