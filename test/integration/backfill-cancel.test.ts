/**
 * Cancelling a bulk activation (`onlyNew: false`) midway: POST /v1/automations/{id}/backfill/cancel
 * while the router works through 3,000 records already in the stage. No further record is
 * enrolled, the read shows the backfill cancelled with the count so far, and that count is what
 * the enrollments table and the Temporal server hold (each started enrollment keeps running). The
 * worker is then killed and a new one started: the backfill does not resume, while the automation,
 * still active, enrolls a record that enters the stage from then on.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createAutomation, putRecord, startEngineTest, waitFor, type EngineTest } from './engine-support';

let e: EngineTest;
beforeAll(async () => {
  e = await startEngineTest({ worker: false });
});
afterAll(async () => {
  await e?.close();
});

const N = 3_000;

async function enrollments(automationId: string): Promise<{ rows: number; records: number; backfill: number }> {
  return e.t.db
    .selectFrom('enrollments')
    .select([
      sql<number>`count(*)::int`.as('rows'),
      sql<number>`count(distinct record_id)::int`.as('records'),
      sql<number>`(count(*) filter (where trigger_event_id like 'backfill:%'))::int`.as('backfill'),
    ])
    .where('workspace_id', '=', e.t.workspaceId)
    .where('automation_id', '=', automationId)
    .executeTakeFirstOrThrow();
}

async function stopped(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => child.once('exit', () => resolve()));
}

describe('cancelling a backfill', () => {
  it(`cancelled midway through ${N} records: no further enrollment, the count so far in the read, the table and Temporal; a new worker does not resume it`, async () => {
    for (let i = 0; i < N; i += 1000) {
      await e.t.db
        .insertInto('records')
        .values(
          Array.from({ length: Math.min(1000, N - i) }, (_, j) => {
            const id = `dormant-${String(i + j).padStart(5, '0')}`;
            return {
              workspace_id: e.t.workspaceId,
              external_id: id,
              email: `${id}@example.com`,
              phone: null,
              name: id,
              timezone: 'UTC',
              stage: 'dormant',
              owner_id: null,
              attributes: JSON.stringify({}),
              unsubscribed: JSON.stringify({}),
            };
          }),
        )
        .execute();
    }
    const first = await e.spawnWorker();
    const { id } = await createAutomation(
      e,
      {
        name: 'Wake the dormant',
        trigger: { type: 'stage_entered', stage: 'dormant' },
        steps: [
          { id: 'rest', type: 'wait', duration: 'P30D' },
          { id: 'hello', type: 'email', to: 'record', template: 'tpl_wake' },
        ],
      },
      { templates: [{ id: 'tpl_wake' }], onlyNew: false },
    );
    await waitFor('the backfill under way', async () => (await enrollments(id)).rows >= 100, 180_000, 50);

    const cancel = await e.api('POST', `/v1/automations/${id}/backfill/cancel`);
    expect(cancel.status, JSON.stringify(cancel.body)).toBe(200);
    expect(cancel.body.status).toBe('active');
    expect(['cancelling', 'cancelled']).toContain(cancel.body.backfill.status);
    expect(cancel.body.backfill.cancelledAt).toBeTypeOf('string');

    // `cancelled` once the router let go of the page it had in hand: the count is final from then on.
    const read = await waitFor(
      'the backfill cancelled',
      async () => {
        const r = (await e.api('GET', `/v1/automations/${id}`)).body;
        return r.backfill.status === 'cancelled' && r;
      },
      120_000,
      100,
    );
    const enrolled = read.backfill.enrolled as number;
    expect(enrolled).toBeGreaterThanOrEqual(100);
    expect(enrolled).toBeLessThan(N); // cancelled in the middle, not after the end
    expect(read.backfill).toEqual({ status: 'cancelled', enrolled, cancelledAt: cancel.body.backfill.cancelledAt });
    expect(await enrollments(id)).toEqual({ rows: enrolled, records: enrolled, backfill: enrolled });
    // Every enrollment it started has its workflow on the server, still running (waiting 30 days).
    await waitFor('the workflows listed', async () => (await e.temporal.workflow.count(`AutomationId = "${id}"`)).count === enrolled, 60_000, 500);
    expect((await e.temporal.workflow.count(`AutomationId = "${id}" AND ExecutionStatus = "Running"`)).count).toBe(enrolled);
    // Nothing left for a router to pick up.
    const rows = await e.t.db
      .selectFrom('outbox')
      .select('id')
      .where('workspace_id', '=', e.t.workspaceId)
      .where(sql<string>`payload->>'automationId'`, '=', id)
      .execute();
    expect(rows).toEqual([]);
    // Cancelling again answers the same.
    const again = await e.api('POST', `/v1/automations/${id}/backfill/cancel`);
    expect(again.status).toBe(200);
    expect(again.body.backfill).toEqual(read.backfill);

    // The worker killed, a new one started: the backfill stays where it was cancelled, while the
    // automation (still active) enrolls a record that enters the stage from now on.
    first.kill('SIGKILL');
    await stopped(first);
    const second = await e.spawnWorker();
    await putRecord(e, 'dormant-new', { stage: 'dormant' });
    await waitFor('the new entry', async () => (await enrollments(id)).rows === enrolled + 1, 60_000, 200);
    await new Promise((r) => setTimeout(r, 2_000)); // a few more router polls (ROUTER_POLL_MS 250)
    expect(await enrollments(id)).toEqual({ rows: enrolled + 1, records: enrolled + 1, backfill: enrolled });
    expect((await e.api('GET', `/v1/automations/${id}`)).body.backfill).toEqual(read.backfill);
    await waitFor('the workflows listed', async () => (await e.temporal.workflow.count(`AutomationId = "${id}"`)).count === enrolled + 1, 60_000, 500);
    second.kill('SIGTERM');
    await stopped(second);
  }, 600_000);
});
